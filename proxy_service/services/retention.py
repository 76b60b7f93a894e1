"""Retention: personal data and transcripts are removed once a case is closed long enough.

Run daily by the worker. What goes, and when:
- bookings whose day has passed are completed (nobody is left waiting on them);
- after RETENTION_DAYS: tickets lose transcript, slots, number, phone tail and notes;
  bookings their address; applications the agent's name, phone, ID number, the status note
  and the signed authorisation; calls the caller's number; residents with nothing active
  their phone, phone tail, ID number and disability status; sent or settled SMS are deleted;
- stored API responses (idempotency records) after IDEMPOTENCY_KEEP_HOURS: a retry comes
  within minutes, and they repeat names, numbers and transcripts;
- uploads no application points at (a crash between storing and committing) after an hour;
- console sessions past their idle limit, old sign-in and look-up failure counts.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from proxy_service import models as m
from proxy_service.services import uploads
from proxy_service.services.applications import OPEN_STATUSES, erase_agent_details
from proxy_service.services.common import audit, now
from proxy_service.services.residents import erase_contact_details
from proxy_service.settings import get_settings

ORPHAN_UPLOAD_AGE_SECONDS = 3600
SETTLED_NOTIFICATIONS = ("sent", "not_sent", "failed", "uncertain")


def purge_expired(uow, *, actor: str = "retention-job") -> dict:
    """Strip transcripts, numbers and addresses from cases closed before the retention period.

    Bookings and applications keep their reference, errand and status (statistics and
    the audit trail stay meaningful); tickets keep queue, reason and times.
    """
    settings = get_settings()
    cutoff = now() - timedelta(days=settings.retention_days)
    counts = {"tickets": 0, "bookings": 0, "applications": 0, "calls": 0, "residents": 0, "sessions": 0,
              "bookings_completed": 0, "notifications": 0, "idempotency_records": 0, "orphan_uploads": 0}
    with uow:
        session = uow.session
        counts["bookings_completed"] = _complete_past_bookings(uow, actor)
        tickets = session.execute(select(m.HandoffTicket).where(
            m.HandoffTicket.status == "resolved", m.HandoffTicket.closed_at < cutoff,
            m.HandoffTicket.purged_at.is_(None))).scalars()
        for ticket in tickets:
            ticket.transcript, ticket.filled_slots, ticket.caller_phone_enc = [], {}, None
            ticket.caller_last4 = ticket.caller_phone_hash = None
            uow.notes.delete_for_ticket(ticket.id)      # staff notes are free text: may name people
            ticket.purged_at = now()
            audit(uow, actor=actor, entity=ticket, action="purge_personal_data")
            counts["tickets"] += 1
        bookings = session.execute(select(m.Booking).where(
            m.Booking.status.in_(("cancelled", "completed")), m.Booking.updated_at < cutoff,
            m.Booking.address_enc.is_not(None))).scalars()
        for booking in bookings:
            booking.address_enc = None
            audit(uow, actor=actor, entity=booking, action="purge_personal_data")
            counts["bookings"] += 1
        applications = session.execute(select(m.ProxyApplication).where(
            m.ProxyApplication.status.in_(("completed", "rejected")), m.ProxyApplication.updated_at < cutoff,
            m.ProxyApplication.agent_name_enc.is_not(None) | m.ProxyApplication.agent_phone_enc.is_not(None)
            | m.ProxyApplication.agent_id_number_enc.is_not(None) | m.ProxyApplication.authorisation_file.is_not(None)
        )).scalars()
        files = []
        for application in applications:
            files.append(erase_agent_details(application))
            audit(uow, actor=actor, entity=application, action="purge_personal_data")
            counts["applications"] += 1
        calls = session.execute(select(m.Call).where(
            m.Call.created_at < cutoff, m.Call.caller_phone_enc.is_not(None))).scalars()
        for call in calls:
            call.caller_phone_enc = call.caller_phone_hash = None
            audit(uow, actor=actor, entity=call, action="purge_personal_data")
            counts["calls"] += 1
        counts["residents"] = _purge_inactive_residents(uow, cutoff, actor)
        counts["sessions"] = _purge_dead_sessions(uow)
        counts["notifications"] = session.execute(delete(m.Notification).where(
            m.Notification.status.in_(SETTLED_NOTIFICATIONS), m.Notification.created_at < cutoff)).rowcount
        counts["idempotency_records"] = session.execute(delete(m.IdempotencyRecord).where(
            m.IdempotencyRecord.created_at < now() - timedelta(hours=settings.idempotency_keep_hours))).rowcount
        uow.commit()
        referenced = set(session.execute(select(m.ProxyApplication.authorisation_file).where(
            m.ProxyApplication.authorisation_file.is_not(None))).scalars())
    # The signed authorisations go once the database no longer points at them.
    for name in files:
        uploads.delete(settings.upload_dir, name)
    counts["orphan_uploads"] = uploads.delete_unreferenced(settings.upload_dir, referenced, ORPHAN_UPLOAD_AGE_SECONDS)
    return counts


def _complete_past_bookings(uow, actor: str) -> int:
    """Confirmed bookings whose day is over are completed: from then on the retention
    period runs for them and for their resident."""
    past = uow.session.execute(select(m.Booking).join(m.TimeSlot, m.Booking.slot_id == m.TimeSlot.id).where(
        m.Booking.status == "confirmed", m.TimeSlot.day < now().date())).scalars().all()
    for booking in past:
        booking.status, booking.updated_at = "completed", now()
        audit(uow, actor=actor, entity=booking, action="complete_after_day", from_state="confirmed",
              to_state="completed")
    return len(past)


def _purge_dead_sessions(uow) -> int:
    """Console sessions past their idle limit (they can no longer sign anyone in) and old
    sign-in failure counts: rows that only say who used the console when."""
    settings, stamp = get_settings(), now()
    idle = stamp - timedelta(minutes=settings.session_idle_minutes)
    dead = uow.session.execute(delete(m.WebSession).where(m.WebSession.last_seen_at < idle)).rowcount
    uow.session.execute(delete(m.LoginThrottle).where(
        m.LoginThrottle.window_started_at < stamp - timedelta(days=1),
        (m.LoginThrottle.locked_until.is_(None)) | (m.LoginThrottle.locked_until < stamp)))
    return dead


def _purge_inactive_residents(uow, cutoff, actor: str) -> int:
    """Residents whose every booking and application closed before the cutoff lose their
    phone, ID number and disability status (the name stays, encrypted, for the records)."""
    session = uow.session
    active_booking = select(m.Booking.resident_id).where(
        (m.Booking.status == "confirmed") | (m.Booking.updated_at >= cutoff))
    active_application = select(m.ProxyApplication.resident_id).where(
        m.ProxyApplication.status.in_(OPEN_STATUSES)
        | (m.ProxyApplication.updated_at >= cutoff))
    residents = session.execute(select(m.Resident).where(
        m.Resident.created_at < cutoff, m.Resident.id.not_in(active_booking),
        m.Resident.id.not_in(active_application),
        m.Resident.phone_enc.is_not(None) | m.Resident.id_number_enc.is_not(None)
        | m.Resident.disabled.is_not(None))).scalars()
    count = 0
    for resident in residents:
        erase_contact_details(resident)
        audit(uow, actor=actor, entity=resident, action="purge_personal_data")
        count += 1
    return count
