"""A resident withdraws consent: processing stops and their data goes, in one audited step
(SQLite and PostgreSQL)."""
from __future__ import annotations

import dataclasses
import io

import pytest

from proxy_service import models as m
from proxy_service.services import applications, bookings, uploads
from proxy_service.services.consent_withdrawal import NOT_SENT, STOPPED_NOTE, withdraw_consent
from proxy_service.services.errors import Conflict
from proxy_service.services.residents import ResidentInput
from tests.proxy.builders import application_request, bookable_day, booking_request, random_phone

PDF = b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\ntrailer\n<< >>\n%%EOF\n"


def test_withdrawal_stops_every_case_and_removes_the_resident_s_data(uow_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("UPLOAD_DIR", str(tmp_path))
    phone = random_phone()
    resident = ResidentInput(name="周奶奶", phone=phone, id_number="11010519491231002X", disabled=True)
    booking = bookings.create_booking(uow_factory(), booking_request(day=bookable_day(3), resident=resident,
                                                                     sensitive_consent_given=True), actor="test")
    stored = uploads.store(io.BytesIO(PDF), tmp_path, 1024 * 1024)
    application = applications.file_application(uow_factory(), dataclasses.replace(
        application_request(resident=ResidentInput(name="周奶奶", phone=phone)), authorisation_file=stored),
        actor="worker")
    with uow_factory() as uow:
        same = uow.applications.get(application["id"]).resident_id == uow.bookings.by_reference(
            booking["reference"]).resident_id
        slot_id = uow.bookings.by_reference(booking["reference"]).slot_id
        taken = uow.session.get(m.TimeSlot, slot_id).booked
    assert same, "one resident behind both cases (found by phone and name)"

    outcome = withdraw_consent(uow_factory(), actor="staff-1", booking_reference=booking["reference"])
    assert outcome["consents_withdrawn"] >= 2 and outcome["messages_not_sent"] >= 1   # the booking's confirmation SMS

    with uow_factory() as uow:
        done = uow.bookings.by_reference(booking["reference"])
        person = done.resident
        assert done.status == "cancelled" and uow.session.get(m.TimeSlot, slot_id).booked == taken - 1
        assert (person.name_enc, person.phone_enc, person.phone_hash, person.phone_last4, person.id_number_enc,
                person.disabled) == (None,) * 6
        assert all(c.withdrawn_at for c in uow.session.query(m.Consent).filter_by(resident_id=person.id))
        stopped = uow.applications.get(application["id"])
        assert stopped.status == "rejected" and stopped.status_note == STOPPED_NOTE
        assert (stopped.agent_name_enc, stopped.authorisation_file) == (None, None)
        notes = uow.outbox.for_entity("bookings", done.id)
        assert notes and all(n.status != "pending" for n in notes) and NOT_SENT in {n.last_error for n in notes}
        trail = [e.action for e in uow.audit.for_entity("residents", person.id)]
        assert trail[-1] == "withdraw_consent"
        assert "cancel_consent_withdrawn" in [e.action for e in uow.audit.for_entity("bookings", done.id)]
    assert not (tmp_path / stored).exists()
    with pytest.raises(Conflict):
        withdraw_consent(uow_factory(), actor="staff-1", application_id=application["id"])
