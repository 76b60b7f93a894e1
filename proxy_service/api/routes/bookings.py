"""Bookings: free slots, create, look up, cancel, reschedule; progress by reference."""
from __future__ import annotations

from fastapi import APIRouter, Request

from proxy_service.api import schemas as s
from proxy_service.api.auth import AUTHENTICATED, requester
from proxy_service.api.idempotency import respond_once
from proxy_service.services import bookings, calendar
from proxy_service.services.common import now
from proxy_service.services.residents import ResidentInput
from proxy_service.services.status import find_status

router = APIRouter(dependencies=AUTHENTICATED, tags=["bookings"])


@router.get("/api/slots")
def free_slots(request: Request, place_code: str, limit: int = 6):
    with request.app.state.make_uow() as uow:
        slots = calendar.free_slots(uow, place_code, now().date(), max(1, min(limit, 40)))
    return [{"place_code": x.place_code, "day": x.day.isoformat(), "half_day": x.half_day,
             "half_day_label": calendar.HALF_DAY_LABELS[x.half_day], "remaining": x.remaining} for x in slots]


@router.post("/api/bookings", status_code=201)
def create_booking(body: s.BookingIn, request: Request):
    req = bookings.BookingRequest(
        service_code=body.service_code, mode=body.mode, place_code=body.place_code, day=body.day,
        half_day=body.half_day, resident=ResidentInput(**body.resident.dict()),
        consent_wording_version=body.consent.wording_version, consent_given=body.consent.given,
        sensitive_consent_given=body.consent.sensitive_given, address=body.address, channel=body.channel)
    return request.app.state.metrics.booked(respond_once(
        "booking.create", request, body.dict(), lambda uow: bookings.create_booking(uow, req, actor=f"api:{body.channel}")))


# Look-ups by phone tail are POSTs: the digits stay out of URLs and access logs.
@router.post("/api/bookings/{reference}/lookup")
def get_booking(reference: str, body: s.PhoneTailIn, request: Request):
    return bookings.find_booking(request.app.state.make_uow(), reference, body.phone_last4,
                                 requester=requester(request, body.conversation_id))


@router.post("/api/bookings/{reference}/cancel")
def cancel_booking(reference: str, body: s.PhoneTailIn, request: Request):
    who = requester(request, body.conversation_id)
    return respond_once("booking.cancel", request, {"ref": reference, **body.dict()},
                        lambda uow: bookings.cancel_booking(uow, reference, body.phone_last4, actor="api",
                                                            requester=who))


@router.post("/api/bookings/{reference}/reschedule")
def reschedule_booking(reference: str, body: s.RescheduleIn, request: Request):
    who = requester(request, body.conversation_id)
    return respond_once("booking.reschedule", request, {"ref": reference, **body.dict()},
                        lambda uow: bookings.reschedule_booking(uow, reference, body.phone_last4, body.day,
                                                                body.half_day, actor="api", requester=who))


@router.post("/api/status", tags=["applications"])
def status(body: s.StatusIn, request: Request):
    """Progress of a booking or an application, for the caller who knows its phone tail."""
    return find_status(request.app.state.make_uow(), body.reference, body.phone_last4,
                       requester=requester(request, body.conversation_id))
