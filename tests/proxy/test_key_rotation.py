"""Rotating the data key: new key first, re-encrypt, drop the old; look-ups keep working."""
from __future__ import annotations

from contract import secrets
from proxy_service import models as m
from proxy_service.crypto import decrypt, lookup_hash
from proxy_service.rotate_key import encrypted_columns, rotate
from proxy_service.services import bookings
from proxy_service.services.residents import ResidentInput
from tests.proxy.builders import booking_request, random_phone


def test_rotation_re_encrypts_every_personal_column_under_the_new_key(database_url, uow_factory, monkeypatch):
    old, new = secrets.SECRETS["DATA_ENCRYPTION_KEY"].generate(), secrets.SECRETS["DATA_ENCRYPTION_KEY"].generate()
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", old)
    phone = random_phone()
    view = bookings.create_booking(uow_factory(), booking_request(resident=ResidentInput(name="赵桂芝", phone=phone)),
                                   actor="test")
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", f"{new},{old}")
    assert rotate(database_url) >= 1
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", new)     # the old key is gone
    with uow_factory() as uow:
        resident = uow.bookings.by_reference(view["reference"]).resident
        assert decrypt(resident.phone_enc) == phone and decrypt(resident.name_enc) == "赵桂芝"
        assert resident.phone_hash == lookup_hash(phone), "hashes use their own key and survive a rotation"
        for row in uow.session.query(m.Resident).all():
            decrypt(row.name_enc)                          # every row, not only this test's, is readable


def test_every_encrypted_column_is_rotated():
    columns = encrypted_columns()
    assert columns["residents"] == ["name_enc", "phone_enc", "id_number_enc"]
    assert {"bookings", "proxy_applications", "notifications"} <= set(columns)
