"""Staff page of bookings: one day, per service place and half-day."""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request

from proxy_service.services import bookings
from proxy_service.services.errors import ServiceError
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
