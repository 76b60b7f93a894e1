"""A resident withdraws consent (the consent text promises it): processing stops, and what we
hold about them goes.

Staff record it (the resident asked in person, by phone or in writing); it is audited. In
one transaction: every consent of the resident is marked withdrawn; bookings still to come
are cancelled (their places freed); applications in progress stop (rejected, saying why);
messages not yet sent are not sent; the resident's name, phone, ID number and disability
status, their bookings' addresses and their applications' agent details are removed; the
signed authorisations are deleted once that is committed. References, errands, dates and
statuses stay, so the counts and the audit trail still add up.
"""
from __future__ import annotations

from sqlalchemy import select

from proxy_service import models as m
from proxy_service.services import uploads
from proxy_service.services.applications import OPEN_STATUSES, erase_agent_details
from proxy_service.services.common import audit, finish, now
from proxy_service.services.errors import Conflict, NotFound
from proxy_service.services.residents import erase_contact_details
from proxy_service.settings import get_settings

STOPPED_NOTE = "居民撤回了同意，已停止办理。"
NOT_SENT = "居民撤回了同意，短信没有发送。"


def _resident_of(uow, booking_reference: str | None, application_id: int | None) -> m.Resident:
    if booking_reference:
        booking = uow.bookings.by_reference(booking_reference.strip().upper())
        if booking is None:
            raise NotFound("没有这个预约。", f"no booking {booking_reference}.")
        return booking.resident
    application = uow.applications.get(application_id) if application_id else None
    if application is None:
        raise NotFound("没有这个申请。", f"no application {application_id}.")
    return application.resident


def withdraw_consent(uow, *, actor: str, booking_reference: str | None = None,
                     application_id: int | None = None) -> dict:
    """Withdraw every consent of the resident behind a booking or an application."""
    stamp, files = now(), []
    with uow:
        resident = _resident_of(uow, booking_reference, application_id)
        session = uow.session
        consents = session.execute(select(m.Consent).filter_by(resident_id=resident.id)).scalars().all()
        if consents and all(c.withdrawn_at for c in consents):
            raise Conflict("这位居民已经撤回过同意了。", "consent already withdrawn.")
        for consent in consents:
            consent.withdrawn_at = consent.withdrawn_at or stamp
        stopped = []
        for booking in session.execute(select(m.Booking).filter_by(resident_id=resident.id)).scalars():
            if booking.status == "confirmed":
                uow.slots.release(booking.slot_id)
                booking.status, booking.updated_at = "cancelled", stamp
                audit(uow, actor=actor, entity=booking, action="cancel_consent_withdrawn",
                      from_state="confirmed", to_state="cancelled")
            booking.address_enc = None
            stopped.append(("bookings", booking.id))
        for application in session.execute(select(m.ProxyApplication).filter_by(resident_id=resident.id)).scalars():
            files.append(erase_agent_details(application))
            if application.status in OPEN_STATUSES:
                before = application.status
                application.status, application.status_note, application.updated_at = "rejected", STOPPED_NOTE, stamp
                audit(uow, actor=actor, entity=application, action="stop_consent_withdrawn",
                      from_state=before, to_state="rejected")
            stopped.append(("proxy_applications", application.id))
        unsent = 0
        for entity_type, entity_id in stopped:
            for note in uow.outbox.for_entity(entity_type, entity_id):
                if note.status == "pending":
                    note.status, note.last_error = "not_sent", NOT_SENT
                    unsent += 1
        erase_contact_details(resident, name_too=True)
        audit(uow, actor=actor, entity=resident, action="withdraw_consent",
              details={"consents": len(consents), "bookings": sum(t == "bookings" for t, _ in stopped),
                       "applications": sum(t == "proxy_applications" for t, _ in stopped)})
        view = finish(uow, {"resident_id": resident.id, "consents_withdrawn": len(consents),
                            "messages_not_sent": unsent})
    for name in files:
        uploads.delete(get_settings().upload_dir, name)
    return view
