"""Bookings of assisted (帮办), proxy (代办) or home-visit (上门) handling of an errand."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from catalogue import OFFER_LABELS, load_catalogue
from proxy_service import models as m
from proxy_service.crypto import decrypt, encrypt, mask_name, mask_phone, normalize_digits
from proxy_service.services import calendar, lookups
from proxy_service.services.common import audit, finish, new_reference, notify, now
from proxy_service.services.errors import Conflict, InvalidRequest, NotFound, SlotFull
from proxy_service.services.residents import (
    ResidentInput,
    find_or_add_resident,
    record_consent,
)
from proxy_service.settings import get_settings

MODE_LABELS = OFFER_LABELS  # booking modes are the catalogue's offers: 帮办 / 代办 / 上门
STATUS_LABELS = {"confirmed": "已确认", "cancelled": "已取消", "completed": "已办完"}


@dataclass(frozen=True)
class BookingRequest:
    service_code: str
    mode: str
    place_code: str
    day: date
    half_day: str
    resident: ResidentInput
    consent_wording_version: str
    consent_given: bool
    address: str | None = None
    sensitive_consent_given: bool = False
    channel: str = "phone"


def _check(request: BookingRequest):
    item = load_catalogue().get(request.service_code)
    if item is None:
        raise InvalidRequest("没有这项业务。", f"unknown service {request.service_code!r}.", field="service_code")
    if request.mode not in MODE_LABELS:
        raise InvalidRequest("办理方式只能是帮办、代办或上门。", "mode must be assisted, proxy or home_visit.",
                             field="mode")
    if not item.offers.get(request.mode):
        raise InvalidRequest(f"{item.name}不能{MODE_LABELS[request.mode]}。",
                             f"{request.service_code} does not offer {request.mode}.", field="mode")
    if request.mode == "home_visit" and not (request.address or "").strip():
        raise InvalidRequest("上门服务要留地址。", "home visits need an address.", field="address")
    if not request.consent_given:
        raise InvalidRequest("没有您的同意，我们不能保存信息。", "consent is required to store the booking.",
                             field="consent")
    return item


def booking_view(booking: m.Booking, when: calendar.HalfDay | None = None,
                 place: m.ServicePlace | None = None) -> dict:
    """What the API and the assistant see of a booking: no personal data beyond a masked phone.
    `when` and `place` when the caller has them at hand (a new booking), else its slot's."""
    slot = when or booking.slot
    place = place or booking.slot.place
    item = load_catalogue().get(booking.service_code)
    return {
        "reference": booking.reference, "status": booking.status,
        "service_code": booking.service_code, "service_name": item.name if item else booking.service_code,
        "mode": booking.mode, "mode_label": MODE_LABELS[booking.mode],
        "place_code": place.code, "place_name": place.name, "place_address": place.address,
        "day": slot.day.isoformat(), "half_day": slot.half_day,
        "half_day_label": calendar.HALF_DAY_LABELS[slot.half_day],
        "materials": list(item.materials) if item else [],
        "phone_masked": mask_phone(decrypt(booking.resident.phone_enc)),
        "created_at": booking.created_at.isoformat(), "updated_at": booking.updated_at.isoformat(),
    }


def create_booking(uow, request: BookingRequest, *, actor: str) -> dict:
    """One transaction: the idempotency key's earlier answer, the resident and consent, a
    place in the slot (its row made on first use), the booking, audit and SMS outbox row.

    The slot's row is locked from its reservation to the commit, so racing bookings of one
    slot queue there: that comes as late as it can. The caller hears the reference only
    after this returns: by then it is committed.
    """
    with uow:   # entered first: a retried request gets its first answer even if the day has passed since
        item = _check(request)
        calendar.check_bookable(request.day, request.half_day, now().date())
        place = uow.places.by_code(request.place_code)
        if place is None:
            raise NotFound("没有这个办事地点。", f"unknown service place {request.place_code!r}.", field="place_code")
        resident = find_or_add_resident(uow, request.resident, sensitive_consent=request.sensitive_consent_given)
        consent = record_consent(uow, resident, purpose="booking", wording_version=request.consent_wording_version,
                                 channel=request.channel)
        if request.sensitive_consent_given:
            record_consent(uow, resident, purpose="sensitive", wording_version=request.consent_wording_version,
                           channel=request.channel)
        reference = new_reference(uow.bookings.reference_taken)
        slot_id = uow.slots.reserve_in(place.id, request.day, request.half_day, get_settings().slot_capacity)
        if slot_id is None:
            raise SlotFull("这个时间已经约满了，请换一个时间。", "that slot is fully booked.")
        when = calendar.HalfDay(request.day, request.half_day)
        stamp = now()
        booking = uow.bookings.add(m.Booking(
            reference=reference, resident_id=resident.id, service_code=item.code, mode=request.mode, slot_id=slot_id,
            address_enc=encrypt(request.address.strip()) if request.address else None,
            consent_id=consent.id, channel=request.channel, status="confirmed", created_at=stamp, updated_at=stamp,
        ))
        audit(uow, actor=actor, entity=booking, action="create", to_state="confirmed",
              details={"service": item.code, "mode": request.mode, "slot": slot_id})
        notify(uow, kind="booking_confirmed", phone=request.resident.phone and normalize_digits(request.resident.phone),
               body=confirmation_sms(booking, item.name, when, place), entity=booking)
        return finish(uow, booking_view(booking, when, place), 201)


def confirmation_sms(booking: m.Booking, service_name: str, slot: m.TimeSlot | calendar.HalfDay,
                     place: m.ServicePlace) -> str:
    when = f"{slot.day.month}月{slot.day.day}日{calendar.HALF_DAY_LABELS[slot.half_day]}"
    where = "工作人员上门" if booking.mode == "home_visit" else f"请到{place.name}（{place.address}）"
    return (f"【示例市政务帮办】您已预约{service_name}{MODE_LABELS[booking.mode]}，时间{when}，{where}。"
            f"预约号{booking.reference}。改约或取消请拨打热线。")


# One message whether the reference exists or not: do not reveal which ones do.
NOT_FOUND = ("没有查到这个预约，请核对预约号和手机尾号。", "no booking with that reference and phone.")


def _owned(uow, reference: str, phone_last4: str, requester: str) -> m.Booking:
    return lookups.owned(uow, reference, phone_last4, requester, kinds=(m.Booking,), not_found=NOT_FOUND)


def find_booking(uow, reference: str, phone_last4: str, *, requester: str = "internal") -> dict:
    with uow:
        return booking_view(_owned(uow, reference, phone_last4, requester))


def cancel_booking(uow, reference: str, phone_last4: str, *, actor: str, requester: str | None = None) -> dict:
    with uow:
        booking = _owned(uow, reference, phone_last4, requester or actor)
        if booking.status == "cancelled":
            return booking_view(booking)
        if booking.status != "confirmed":
            raise Conflict("这个预约已经办完，不能取消。", "only confirmed bookings can be cancelled.")
        uow.slots.release(booking.slot_id)
        booking.status, booking.updated_at = "cancelled", now()
        audit(uow, actor=actor, entity=booking, action="cancel", from_state="confirmed", to_state="cancelled")
        return finish(uow, booking_view(booking))


def reschedule_booking(uow, reference: str, phone_last4: str, day: date, half_day: str, *, actor: str,
                       requester: str | None = None) -> dict:
    calendar.check_bookable(day, half_day, now().date())
    with uow:
        booking = _owned(uow, reference, phone_last4, requester or actor)
        if booking.status != "confirmed":
            raise Conflict("只有有效的预约才能改时间。", "only confirmed bookings can be rescheduled.")
        place_id = booking.slot.place_id
    calendar.ensure_slot(uow, place_id, day, half_day)
    with uow:
        booking = _owned(uow, reference, phone_last4, requester or actor)
        new_slot = uow.slots.find(place_id, day, half_day)
        if new_slot.id == booking.slot_id:
            return booking_view(booking)
        if not uow.slots.reserve(new_slot.id):
            raise SlotFull("这个时间已经约满了，请换一个时间。", "that slot is fully booked.")
        old_slot_id = booking.slot_id
        uow.slots.release(old_slot_id)
        booking.slot, booking.updated_at = new_slot, now()
        audit(uow, actor=actor, entity=booking, action="reschedule", from_state="confirmed", to_state="confirmed",
              details={"from_slot": old_slot_id, "to_slot": new_slot.id})
        return finish(uow, booking_view(booking))


# ---- the staff console: one day's bookings --------------------------------------------------
def parse_day(text: str | None) -> date:
    """The day picked on the bookings page (YYYY-MM-DD); today when none was picked."""
    text = (text or "").strip()
    if not text:
        return now().date()
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"日期看不懂。请按“年-月-日”填写，例如 {now().date():%Y-%m-%d}。",
                             "day must be YYYY-MM-DD.", field="day") from None


def _sheet_booking(booking: m.Booking) -> dict:
    item = load_catalogue().get(booking.service_code)
    return {"reference": booking.reference, "service_name": item.name if item else booking.service_code,
            "mode_label": MODE_LABELS.get(booking.mode, booking.mode),
            "name_masked": mask_name(decrypt(booking.resident.name_enc)),
            "status": booking.status, "status_label": STATUS_LABELS.get(booking.status, booking.status),
            "consent_withdrawn": booking.resident.name_enc is None}


def day_sheet(uow, day: date, place_code: str | None = None) -> dict:
    """For each place (or one) and half-day: capacity, booked, remaining and the bookings in it.
    A half-day nobody has booked yet has no row: it shows the configured capacity (none on a
    day off)."""
    with uow:
        places = uow.places.list()
        if place_code:
            places = [p for p in places if p.code == place_code]
            if not places:
                raise NotFound("没有这个办事地点。", f"unknown service place {place_code!r}.", field="place")
        slots = {(s.place_id, s.half_day): s for s in uow.slots.on_day(day, places[0].id if place_code else None)}
        bookings: dict[int, list[dict]] = {}
        for booking in uow.bookings.in_slots([s.id for s in slots.values()]):
            bookings.setdefault(booking.slot_id, []).append(_sheet_booking(booking))
        working_day = calendar.is_working_day(day)
        default_capacity = get_settings().slot_capacity if working_day else 0
        sheet = []
        for place in places:
            halves = []
            for half_day, label in calendar.HALF_DAY_LABELS.items():
                slot = slots.get((place.id, half_day))
                capacity, booked = (slot.capacity, slot.booked) if slot else (default_capacity, 0)
                halves.append({"half_day": half_day, "label": label, "capacity": capacity, "booked": booked,
                               "remaining": max(0, capacity - booked),
                               "bookings": bookings.get(slot.id, []) if slot else []})
            sheet.append({"code": place.code, "name": place.name, "address": place.address, "slots": halves})
        return {"day": day, "working_day": working_day, "places": sheet}


def place_choices(uow) -> list[dict]:
    with uow:
        return [{"code": p.code, "name": p.name} for p in uow.places.list()]
