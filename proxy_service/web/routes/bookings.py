"""Staff page of bookings: one day, per service place and half-day."""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from proxy_service.services import bookings
from proxy_service.services.consent_withdrawal import withdraw_consent
from proxy_service.services.errors import InvalidRequest, ServiceError
from proxy_service.web import pages
from proxy_service.web.security import STAFF, allow

router = APIRouter(include_in_schema=False)


@router.get("/bookings")
def day_sheet(request: Request, _account=Depends(allow(*STAFF)), day: str = "", place: str = ""):
    make_uow = request.app.state.make_uow
    sheet, error, neighbours = None, None, None
    try:
        picked = bookings.parse_day(day)
        sheet = bookings.day_sheet(make_uow(read_only=True), picked, place or None)
        neighbours = (picked - timedelta(days=1), picked + timedelta(days=1))
    except ServiceError as refused:
        error = refused
    return pages.render(request, "bookings.html", status_code=error.status if error else 200,
                        sheet=sheet, error=error, day_text=sheet["day"].isoformat() if sheet else day,
                        place=place, places=bookings.place_choices(make_uow(read_only=True)), neighbours=neighbours)


@router.post("/bookings/{reference}/withdraw-consent")
def withdraw(request: Request, reference: str, account=Depends(allow(*STAFF)), confirmed: str = Form(""),
             day: str = Form("")):
    """The resident behind this booking withdraws consent (staff checked it is their wish)."""
    make_uow = request.app.state.make_uow
    try:
        picked = bookings.parse_day(day)
        if confirmed != "yes":
            raise InvalidRequest("请先勾选“已核实是居民本人要求”。", "confirmation missing.", field="confirmed")
        withdraw_consent(make_uow(), actor=account.username, booking_reference=reference)
    except ServiceError as refused:
        return pages.render(request, "bookings.html", status_code=refused.status, sheet=None, error=refused,
                            day_text=day, place="", places=bookings.place_choices(make_uow(read_only=True)),
                            neighbours=None)
    return RedirectResponse(f"/bookings?day={picked.isoformat()}&done=consent_withdrawn", status_code=303)
