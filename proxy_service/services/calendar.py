"""Working days, half-day slots and their capacity."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from proxy_service import models as m
from proxy_service.services.errors import InvalidRequest, NotFound
from proxy_service.settings import Settings, get_settings

HALF_DAY_LABELS = {"am": "上午", "pm": "下午"}


@dataclass(frozen=True)
class HalfDay:
    """When a booking is: what its confirmation says, without loading its slot's row."""
    day: date
    half_day: str


@dataclass(frozen=True)
class FreeSlot:
    place_code: str
    day: date
    half_day: str
    remaining: int


def is_working_day(day: date, settings: Settings | None = None) -> bool:
    return day.isoweekday() in (settings or get_settings()).working_days


def in_business_hours(moment: datetime, settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    start, end = settings.business_hours
    return is_working_day(moment.date(), settings) and start <= moment.time() < end


def next_opening(moment: datetime, settings: Settings | None = None) -> datetime:
    """The next time the service opens after `moment` (or `moment` if open now)."""
    settings = settings or get_settings()
    start, end = settings.business_hours
    if in_business_hours(moment, settings):
        return moment
    day = moment.date() if moment.time() < start else moment.date() + timedelta(days=1)
    while not is_working_day(day, settings):
        day += timedelta(days=1)
    return datetime.combine(day, start)


def bookable_days(today: date, settings: Settings | None = None) -> list[date]:
    """Working days from tomorrow on, as many as the booking horizon allows."""
    settings = settings or get_settings()
    days, day = [], today
    while len(days) < settings.booking_horizon_days:
        day += timedelta(days=1)
        if is_working_day(day, settings):
            days.append(day)
    return days


def check_bookable(day: date, half_day: str, today: date, settings: Settings | None = None) -> None:
    if half_day not in HALF_DAY_LABELS:
        raise InvalidRequest("时间段只能是上午或下午。", "half_day must be 'am' or 'pm'.")
    if day not in bookable_days(today, settings):
        raise InvalidRequest("这一天不能预约，请选工作日，最早明天。",
                             "day is not a bookable working day within the booking horizon.",
                             field="day")


def ensure_slot(uow, place_id: int, day: date, half_day: str) -> None:
    """Create the slot row on first use, in a transaction of its own.

    Two requests may create the same slot at once: the loser's unique-constraint error is
    caught here, so the booking transaction that follows always finds the row.
    """
    from sqlalchemy.exc import IntegrityError

    with uow:
        if uow.slots.find(place_id, day, half_day) is not None:
            return
        try:
            uow.slots.add(m.TimeSlot(place_id=place_id, day=day, half_day=half_day,
                                     capacity=get_settings().slot_capacity, booked=0))
            uow.commit()
        except IntegrityError:
            uow.rollback()


def free_slots(uow, place_code: str, today: date, limit: int = 6) -> list[FreeSlot]:
    place = uow.places.by_code(place_code)
    if place is None:
        raise NotFound("没有这个办事地点。", f"unknown service place {place_code!r}.")
    days = bookable_days(today)
    existing = {(s.day, s.half_day): s for s in uow.slots.between(place.id, days[0], days[-1])}
    capacity = get_settings().slot_capacity
    result = []
    for day in days:
        for half_day in HALF_DAY_LABELS:
            slot = existing.get((day, half_day))
            remaining = (slot.capacity - slot.booked) if slot else capacity
            if remaining > 0:
                result.append(FreeSlot(place_code, day, half_day, remaining))
            if len(result) >= limit:
                return result
    return result
