"""Nothing personal left behind, on SQLite and PostgreSQL: sensitive fields are ciphertext in
the database, and the retention job clears every table of personal data on its schedule."""
from __future__ import annotations

import dataclasses
import io
import os
import random
import time
from datetime import timedelta

from sqlalchemy import text

from proxy_service import models as m
from proxy_service.crypto import decrypt
from proxy_service.services import applications, bookings, retention, tickets, uploads
from proxy_service.services.common import now
from proxy_service.services.residents import ResidentInput
from proxy_service.settings import get_settings
from tests.proxy.builders import application_request, booking_request, random_phone, ticket_request

LONG_AGO = timedelta(days=get_settings().retention_days + 30)
PDF = b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\ntrailer\n<< >>\n%%EOF\n"


def _sql(uow_factory, statement: str, **params):
    with uow_factory() as uow:
        result = uow.session.execute(text(statement), params)
        rows = result.all() if result.returns_rows else None
        uow.commit()
    return rows


def _disabled_resident_booking(uow_factory) -> dict:
    request = booking_request(resident=ResidentInput(name="孙大爷", phone=random_phone(), disabled=True),
                              sensitive_consent_given=True)
    return bookings.create_booking(uow_factory(), request, actor="test")


def test_sensitive_fields_are_ciphertext_in_the_database(uow_factory):
    ticket = tickets.create_ticket(uow_factory(), ticket_request(), actor="assistant")
    tickets.add_note(uow_factory(), ticket["id"], "王阿姨女儿的电话13900001111", actor="staff")
    booking = _disabled_resident_booking(uow_factory)
    [(transcript, slots)] = _sql(uow_factory, "SELECT transcript_enc, filled_slots_enc FROM handoff_tickets "
                                              "WHERE id = :id", id=ticket["id"])
    [(note,)] = _sql(uow_factory, "SELECT body_enc FROM ticket_notes WHERE ticket_id = :id", id=ticket["id"])
    [(disabled,)] = _sql(uow_factory, "SELECT r.disabled_enc FROM residents r JOIN bookings b ON b.resident_id = r.id "
                                      "WHERE b.reference = :r", r=booking["reference"])
    assert "社保卡" not in transcript and "社保卡" in decrypt(transcript)
    assert "social_security_card" not in slots and "13900001111" not in note and decrypt(disabled) == "true"
    with uow_factory() as uow:                   # the services still read them as before
        assert uow.tickets.get(ticket["id"]).transcript == ticket_request().transcript
        assert uow.bookings.by_reference(booking["reference"]).resident.disabled is True


def test_a_note_given_with_a_ticket_change_is_a_note_not_an_audit_detail(uow_factory):
    ticket = tickets.create_ticket(uow_factory(), ticket_request(), actor="assistant")
    tickets.change_ticket(uow_factory(), ticket["id"], "resolve", actor="staff", note="已电话告知王阿姨")
    assert [n["body"] for n in tickets.list_notes(uow_factory(), ticket["id"])] == ["已电话告知王阿姨"]
    with uow_factory() as uow:
        details = [e.details for e in uow.audit.for_entity("handoff_tickets", ticket["id"])]
    assert "王阿姨" not in repr(details)


def test_bookings_whose_day_has_passed_are_completed_and_later_purged_with_their_resident(uow_factory):
    booking = _disabled_resident_booking(uow_factory)
    past = (now() - LONG_AGO).date() - timedelta(days=random.randrange(1, 300))
    _sql(uow_factory, "UPDATE time_slots SET day = :d WHERE id = (SELECT slot_id FROM bookings WHERE reference = :r)",
         d=past, r=booking["reference"])
    assert retention.purge_expired(uow_factory())["bookings_completed"] >= 1
    with uow_factory() as uow:
        done = uow.bookings.by_reference(booking["reference"])
        assert done.status == "completed" and done.resident.phone_enc      # the clock starts now
        actions = [e.action for e in uow.audit.for_entity("bookings", done.id)]
        resident_id = done.resident_id
    assert "complete_after_day" in actions
    _sql(uow_factory, "UPDATE bookings SET updated_at = :t WHERE reference = :r", t=now() - LONG_AGO,
         r=booking["reference"])
    _sql(uow_factory, "UPDATE residents SET created_at = :t WHERE id = :id", t=now() - LONG_AGO, id=resident_id)
    assert retention.purge_expired(uow_factory())["residents"] >= 1
    with uow_factory() as uow:
        resident = uow.session.get(m.Resident, resident_id)
        assert (resident.phone_enc, resident.phone_hash, resident.phone_last4, resident.disabled) == (None,) * 4


def test_old_tickets_lose_their_phone_tail_and_applications_their_agent(uow_factory):
    ticket = tickets.create_ticket(uow_factory(), ticket_request(), actor="assistant")
    tickets.change_ticket(uow_factory(), ticket["id"], "resolve", actor="staff")
    application = applications.file_application(uow_factory(), application_request(), actor="worker")
    applications.change_application(uow_factory(), application["id"], "reject", actor="staff",
                                    note="委托书上孙小红没有签字")
    _sql(uow_factory, "UPDATE handoff_tickets SET closed_at = :t WHERE id = :id", t=now() - LONG_AGO, id=ticket["id"])
    _sql(uow_factory, "UPDATE proxy_applications SET updated_at = :t WHERE id = :id", t=now() - LONG_AGO,
         id=application["id"])
    retention.purge_expired(uow_factory())
    with uow_factory() as uow:
        assert uow.tickets.get(ticket["id"]).caller_last4 is None
        purged = uow.applications.get(application["id"])
        assert (purged.agent_name_enc, purged.agent_phone_enc, purged.status_note) == (None, None, None)
    assert applications.get_application(uow_factory(), application["id"])["status"] == "rejected"   # still readable


def test_settled_messages_and_stored_responses_are_deleted_on_schedule(uow_factory, client):
    headers = {"Authorization": "Bearer test-token", "Idempotency-Key": f"retention-{random.random()}"}
    body = dataclasses.asdict(ticket_request())
    assert client.post("/api/tickets", json=body, headers=headers).status_code == 201
    application = applications.file_application(uow_factory(), application_request(), actor="worker")
    applications.change_application(uow_factory(), application["id"], "accept", actor="staff")   # an SMS
    with uow_factory() as uow:
        [sms] = uow.outbox.for_entity("proxy_applications", application["id"])
        sms_id = sms.id
    [(response,)] = _sql(uow_factory, "SELECT response_enc FROM idempotency_keys WHERE key = :k",
                         k=headers["Idempotency-Key"])
    assert body["transcript"][1]["text"] not in response             # ciphertext at rest, too
    _sql(uow_factory, "UPDATE notifications SET status = 'sent', created_at = :t WHERE id = :id",
         t=now() - LONG_AGO, id=sms_id)
    _sql(uow_factory, "UPDATE idempotency_keys SET created_at = :t WHERE key = :k",
         t=now() - timedelta(hours=get_settings().idempotency_keep_hours + 1), k=headers["Idempotency-Key"])
    counts = retention.purge_expired(uow_factory())
    assert counts["notifications"] >= 1 and counts["idempotency_records"] >= 1
    assert _sql(uow_factory, "SELECT count(*) FROM notifications WHERE id = :id", id=sms_id)[0][0] == 0
    assert _sql(uow_factory, "SELECT count(*) FROM idempotency_keys WHERE key = :k",
                k=headers["Idempotency-Key"])[0][0] == 0


def test_uploads_no_application_points_at_are_removed_after_an_hour(uow_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("UPLOAD_DIR", str(tmp_path))
    kept = uploads.store(io.BytesIO(PDF), tmp_path, 1024 * 1024)
    applications.file_application(
        uow_factory(), dataclasses.replace(application_request(), authorisation_file=kept), actor="worker")
    orphan = uploads.store(io.BytesIO(PDF), tmp_path, 1024 * 1024)       # its request never committed
    fresh_orphan = uploads.store(io.BytesIO(PDF), tmp_path, 1024 * 1024)  # maybe still committing
    half_written = tmp_path / f"{uploads.PARTIAL_PREFIX}x{uploads.PARTIAL_SUFFIX}"
    half_written.write_bytes(b"%PDF")
    hour_ago = time.time() - retention.ORPHAN_UPLOAD_AGE_SECONDS - 60
    for name in (kept, orphan, half_written.name):
        os.utime(tmp_path / name, (hour_ago, hour_ago))
    assert retention.purge_expired(uow_factory())["orphan_uploads"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([kept, fresh_orphan])
