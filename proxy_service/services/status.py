"""Where a caller's booking or application stands, found by its reference and phone tail."""
from __future__ import annotations

from proxy_service import models as m
from proxy_service.services import lookups
from proxy_service.services.applications import application_view
from proxy_service.services.bookings import booking_view


def find_status(uow, reference: str, phone_last4: str, *, requester: str) -> dict:
    """One counted look-up across both kinds (a reference is a booking's or an application's)."""
    with uow:
        record = lookups.owned(uow, reference, phone_last4, requester)
        if isinstance(record, m.Booking):
            return {"kind": "booking", **booking_view(record)}
        return {"kind": "application", **application_view(record)}
