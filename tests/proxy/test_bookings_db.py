"""Bookings on real SQLite and PostgreSQL: capacity under a race, audit, outbox, changes."""
from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from proxy_service.crypto import decrypt
from proxy_service import models as m
from proxy_service.services import bookings
from proxy_service.services.errors import InvalidRequest, NotFound, SlotFull
from proxy_service.services.residents import ResidentInput
from proxy_service.settings import get_settings
from tests.proxy.builders import bookable_day, booking_request, random_phone


def test_booking_is_stored_with_audit_event_and_confirmation_in_outbox(uow_factory):
    phone = random_phone()
    view = bookings.create_booking(uow_factory(), booking_request(
        resident=ResidentInput(name="李桂兰", phone=phone), day=bookable_day(1)), actor="test")
    assert len(view["reference"]) == 8 and view["status"] == "confirmed"
    assert view["phone_masked"] == phone[:3] + "****" + phone[-4:]
    with uow_factory() as uow:
        booking = uow.bookings.by_reference(view["reference"])
        assert booking.slot.booked == 1
        assert [(e.action, e.to_state) for e in uow.audit.for_entity("bookings", booking.id)] == [("create", "confirmed")]
        [sms] = uow.outbox.for_entity("bookings", booking.id)
        assert sms.status == "pending" and view["reference"] in decrypt(sms.body_enc)
        assert phone not in (booking.resident.phone_enc or "")  # stored encrypted
        consent = uow.session.get(m.Consent, booking.consent_id)
        assert consent.wording_version == "2026-11" and consent.purpose == "booking"


def test_fifty_requests_racing_for_the_last_place_book_it_once(uow_factory):
    capacity = get_settings().slot_capacity
    day, half = bookable_day(2), "pm"
    for _ in range(capacity - 1):
        bookings.create_booking(uow_factory(), booking_request(day=day, half_day=half), actor="test")

    def attempt(_):
        try:
            return bookings.create_booking(uow_factory(), booking_request(day=day, half_day=half), actor="race")
        except SlotFull:
            return None

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(attempt, range(50)))
    assert sum(result is not None for result in results) == 1
    with uow_factory() as uow:
        place = uow.places.by_code("city_hall")
        slot = uow.slots.find(place.id, day, half)
        assert slot.booked == slot.capacity == capacity
        count = uow.session.execute(text("SELECT count(*) FROM bookings WHERE slot_id = :s"), {"s": slot.id}).scalar()
        assert count == capacity


def test_cancel_frees_the_place_and_reschedule_moves_it(uow_factory):
    phone = random_phone()
    view = bookings.create_booking(uow_factory(), booking_request(
        day=bookable_day(3), resident=ResidentInput(name="张建国", phone=phone)), actor="test")
    moved = bookings.reschedule_booking(uow_factory(), view["reference"], phone[-4:], bookable_day(4), "pm",
                                        actor="caller")
    assert (moved["day"], moved["half_day"]) == (bookable_day(4).isoformat(), "pm")
    cancelled = bookings.cancel_booking(uow_factory(), view["reference"], phone[-4:], actor="caller")
    assert cancelled["status"] == "cancelled"
    assert bookings.cancel_booking(uow_factory(), view["reference"], phone[-4:], actor="caller")["status"] == "cancelled"
    with uow_factory() as uow:
        place = uow.places.by_code("city_hall")
        assert uow.slots.find(place.id, bookable_day(3), "am").booked == 0
        assert uow.slots.find(place.id, bookable_day(4), "pm").booked == 0
        booking = uow.bookings.by_reference(view["reference"])
        actions = [e.action for e in uow.audit.for_entity("bookings", booking.id)]
        assert actions == ["create", "reschedule", "cancel"]


def test_wrong_phone_tail_finds_nothing(uow_factory):
    phone = random_phone()
    view = bookings.create_booking(uow_factory(), booking_request(
        day=bookable_day(5), resident=ResidentInput(name="赵大妈", phone=phone)), actor="test")
    wrong = "0000" if phone[-4:] != "0000" else "1111"
    with pytest.raises(NotFound):
        bookings.find_booking(uow_factory(), view["reference"], wrong)
    assert bookings.find_booking(uow_factory(), view["reference"], phone[-4:])["reference"] == view["reference"]


@pytest.mark.parametrize("changes,field", [
    ({"service_code": "no_such_errand"}, "service_code"),
    ({"service_code": "service_hall"}, "mode"),                  # offers no help at all
    ({"mode": "home_visit", "service_code": "elderly_allowance", "address": None}, "address"),
    ({"consent_given": False}, "consent"),
    ({"half_day": "night"}, None),
])
def test_invalid_booking_changes_nothing(uow_factory, changes, field):
    with uow_factory() as uow:
        before = uow.session.execute(text("SELECT count(*) FROM bookings")).scalar()
    with pytest.raises(InvalidRequest) as caught:
        bookings.create_booking(uow_factory(), booking_request(**changes), actor="test")
    if field:
        assert caught.value.details.get("field") == field
    with uow_factory() as uow:
        assert uow.session.execute(text("SELECT count(*) FROM bookings")).scalar() == before


def test_sensitive_data_needs_its_own_consent(uow_factory):
    request = booking_request(day=bookable_day(6), resident=ResidentInput(
        name="钱老师", phone=random_phone(), id_number="11010519491231002X"))
    with pytest.raises(InvalidRequest):
        bookings.create_booking(uow_factory(), request, actor="test")
    view = bookings.create_booking(uow_factory(), dataclasses.replace(request, sensitive_consent_given=True),
                                   actor="test")
    with uow_factory() as uow:
        resident = uow.bookings.by_reference(view["reference"]).resident
        assert resident.id_number_enc and "11010519491231002X" not in resident.id_number_enc
        purposes = {c.purpose for c in uow.session.query(m.Consent).filter_by(resident_id=resident.id)}
        assert purposes == {"booking", "sensitive"}


def test_audit_trail_is_append_only_in_the_database(uow_factory):
    bookings.create_booking(uow_factory(), booking_request(day=bookable_day(7)), actor="test")
    for statement in ("UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"):
        with uow_factory() as uow, pytest.raises(Exception, match="append-only"):
            uow.session.execute(text(statement))
            uow.session.flush()
