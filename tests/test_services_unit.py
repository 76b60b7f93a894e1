"""Service-layer logic on in-memory fakes: quick, no database (tests/proxy/ has the real ones)."""
from __future__ import annotations

from datetime import datetime

import pytest

from proxy_service.crypto import decrypt
from proxy_service.services import bookings, calendar, tickets
from proxy_service.services.errors import InvalidRequest, SlotFull
from proxy_service.settings import Settings, get_settings
from tests.fakes import FakeUnitOfWork
from tests.proxy.builders import booking_request, ticket_request


def test_slot_capacity_is_never_exceeded():
    uow = FakeUnitOfWork().seed()
    for _ in range(get_settings().slot_capacity):
        bookings.create_booking(uow, booking_request(), actor="t")
    with pytest.raises(SlotFull):
        bookings.create_booking(uow, booking_request(), actor="t")
    [slot] = uow.slots.rows.values()
    assert slot.booked == slot.capacity


def test_booking_writes_audit_event_and_sms_with_the_reference():
    uow = FakeUnitOfWork().seed()
    view = bookings.create_booking(uow, booking_request(), actor="assistant")
    [event] = uow.audit.rows.values()
    [sms] = uow.outbox.rows.values()
    assert (event.action, event.to_state, event.actor) == ("create", "confirmed", "assistant")
    assert view["reference"] in decrypt(sms.body_enc) and "高龄津贴代办" in decrypt(sms.body_enc)


def test_home_visit_needs_an_address_and_the_errand_must_offer_it():
    uow = FakeUnitOfWork().seed()
    with pytest.raises(InvalidRequest, match="address"):
        bookings.create_booking(uow, booking_request(mode="home_visit"), actor="t")
    with pytest.raises(InvalidRequest, match="home_visit"):
        bookings.create_booking(uow, booking_request(mode="home_visit", service_code="senior_card", address="x"),
                                actor="t")
    assert not uow.bookings.rows


@pytest.mark.parametrize("moment,expected", [
    (datetime(2026, 11, 23, 10, 0), True),     # Monday morning
    (datetime(2026, 11, 23, 17, 0), False),    # closing time
    (datetime(2026, 11, 21, 10, 0), False),    # Saturday
])
def test_business_hours(moment, expected):
    assert calendar.in_business_hours(moment, Settings()) is expected


def test_next_opening_skips_the_weekend():
    assert calendar.next_opening(datetime(2026, 11, 20, 18, 0), Settings()) == datetime(2026, 11, 23, 9, 0)
    assert calendar.next_opening(datetime(2026, 11, 23, 7, 30), Settings()) == datetime(2026, 11, 23, 9, 0)


def test_bookable_days_are_working_days_from_tomorrow():
    days = calendar.bookable_days(datetime(2026, 11, 20).date(), Settings())
    assert days[0] == datetime(2026, 11, 23).date()
    assert all(day.isoweekday() <= 5 for day in days) and len(days) == Settings().booking_horizon_days


def test_ticket_sla_and_routing():
    uow = FakeUnitOfWork().seed()
    view = tickets.create_ticket(uow, ticket_request(caller_age=85), actor="a")
    assert view["priority"] == tickets.RAISED and view["queue"] == "social_security"
    created = datetime.fromisoformat(view["created_at"])
    due = datetime.fromisoformat(view["sla_due_at"])
    start = created if view["in_business_hours"] else datetime.fromisoformat(view["callback_from"])
    assert (due - start).total_seconds() == get_settings().sla_minutes[tickets.RAISED] * 60
