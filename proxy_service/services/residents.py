"""Residents and their consents."""
from __future__ import annotations

from dataclasses import dataclass

from proxy_service import models as m
from proxy_service.crypto import decrypt, encrypt, lookup_hash, normalize_digits
from proxy_service.services.common import now
from proxy_service.services.errors import InvalidRequest

CONSENT_PURPOSES = ("booking", "proxy", "sensitive")


@dataclass(frozen=True)
class ResidentInput:
    name: str
    phone: str | None = None
    id_number: str | None = None
    birth_year: int | None = None
    disabled: bool | None = None


def valid_phone(phone: str | None) -> str | None:
    if phone is None:
        return None
    digits = normalize_digits(phone)
    if len(digits) != 11 or not digits.startswith("1"):
        raise InvalidRequest("手机号要是11位数字。", "phone must be an 11-digit mainland mobile number.",
                             field="phone")
    return digits


def valid_id_number(number: str | None) -> str | None:
    if number is None:
        return None
    value = normalize_digits(number)
    if len(value) != 18 or not value[:17].isdigit():
        raise InvalidRequest("身份证号要是18位。", "id_number must have 18 characters.", field="id_number")
    return value


def find_or_add_resident(uow, data: ResidentInput, *, sensitive_consent: bool) -> m.Resident:
    """The resident with this name and phone, or a new one.

    ID numbers and disability status are sensitive personal information: they are kept
    only when a separate consent for them was given.
    """
    name = (data.name or "").strip()
    if not name or len(name) > 32:
        raise InvalidRequest("请提供姓名（不超过32个字）。", "name is required (at most 32 characters).",
                             field="name")
    phone = valid_phone(data.phone)
    id_number = valid_id_number(data.id_number)
    if (id_number or data.disabled is not None) and not sensitive_consent:
        raise InvalidRequest("保存身份证号或残疾情况，需要本人单独同意。",
                             "id_number and disability status need a separate sensitive-data consent.",
                             field="consent")
    if phone:
        for resident in uow.residents.find_by_phone_hash(lookup_hash(phone)):
            if decrypt(resident.name_enc) == name:
                resident.id_number_enc = encrypt(id_number) if id_number else resident.id_number_enc
                resident.birth_year = data.birth_year or resident.birth_year
                resident.disabled = data.disabled if data.disabled is not None else resident.disabled
                return resident
    return uow.residents.add(m.Resident(
        name_enc=encrypt(name), phone_enc=encrypt(phone), phone_hash=lookup_hash(phone) if phone else None,
        phone_last4=phone[-4:] if phone else None, id_number_enc=encrypt(id_number),
        birth_year=data.birth_year, disabled=data.disabled, created_at=now(),
    ))


def record_consent(uow, resident: m.Resident, *, purpose: str, wording_version: str, channel: str) -> m.Consent:
    if purpose not in CONSENT_PURPOSES:
        raise InvalidRequest("同意事项不对。", f"unknown consent purpose {purpose!r}.")
    if not wording_version:
        raise InvalidRequest("缺少同意书版本。", "consent wording_version is required.", field="consent")
    return uow.consents.add(m.Consent(resident_id=resident.id, purpose=purpose, wording_version=wording_version,
                                      channel=channel, granted_at=now()))


def erase_contact_details(resident: m.Resident, *, name_too: bool = False) -> None:
    """Retention and consent withdrawal: phone (and its hash and tail), ID number and
    disability status go; the name too when the resident withdrew consent."""
    resident.phone_enc = resident.phone_hash = resident.phone_last4 = resident.id_number_enc = None
    resident.disabled = None
    if name_too:
        resident.name_enc = None
