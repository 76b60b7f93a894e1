"""Rotating the data key: new key first, re-encrypt, drop the old; look-ups keep working."""
from __future__ import annotations

import io

from contract import secrets
from proxy_service import models as m
from proxy_service.crypto import decrypt, lookup_hash
from proxy_service.rotate_key import encrypted_columns, rotate
from proxy_service.services import bookings, tickets, uploads
from proxy_service.services.residents import ResidentInput
from tests.proxy.builders import booking_request, random_phone, ticket_request


def test_rotation_re_encrypts_every_personal_column_under_the_new_key(database_url, uow_factory, monkeypatch):
    old, new = secrets.SECRETS["DATA_ENCRYPTION_KEY"].generate(), secrets.SECRETS["DATA_ENCRYPTION_KEY"].generate()
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", old)
    phone = random_phone()
    view = bookings.create_booking(uow_factory(), booking_request(resident=ResidentInput(name="赵桂芝", phone=phone)),
                                   actor="test")
    ticket = tickets.create_ticket(uow_factory(), ticket_request(), actor="test")
    tickets.add_note(uow_factory(), ticket["id"], "已回电，王阿姨说明天再来", actor="staff")
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", f"{new},{old}")
    assert rotate(database_url) >= 1
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", new)     # the old key is gone
    with uow_factory() as uow:
        resident = uow.bookings.by_reference(view["reference"]).resident
        assert decrypt(resident.phone_enc) == phone and decrypt(resident.name_enc) == "赵桂芝"
        assert resident.phone_hash == lookup_hash(phone), "hashes use their own key and survive a rotation"
        for row in uow.session.query(m.Resident).all():
            decrypt(row.name_enc)                          # every row, not only this test's, is readable
        assert uow.tickets.get(ticket["id"]).transcript == ticket_request().transcript
        assert [n.body for n in uow.notes.for_ticket(ticket["id"])] == ["已回电，王阿姨说明天再来"]


def test_every_encrypted_column_is_rotated():
    columns = encrypted_columns()
    assert columns["residents"] == ["name_enc", "phone_enc", "id_number_enc", "disabled_enc"]
    assert columns["handoff_tickets"] == ["caller_phone_enc", "transcript_enc", "filled_slots_enc"]
    assert {"bookings", "proxy_applications", "notifications", "ticket_notes", "idempotency_keys"} <= set(columns)


def test_stored_files_are_rotated_too(tmp_path, monkeypatch):
    old, new = secrets.SECRETS["DATA_ENCRYPTION_KEY"].generate(), secrets.SECRETS["DATA_ENCRYPTION_KEY"].generate()
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", old)
    pdf = b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\ntrailer\n<< >>\n%%EOF\n"
    name = uploads.store(io.BytesIO(pdf), tmp_path, 1024 * 1024)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", f"{new},{old}")
    assert uploads.reencrypt_stored(tmp_path) == 1
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", new)
    assert uploads.read_stored(tmp_path, name) == pdf
