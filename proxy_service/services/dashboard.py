"""The supervisor dashboard: what happened on the helpline over the last 7 or 30 days.

Plain data only (the web layer draws it). Every part counts records created since
`now() - days`, in the service's naive local time like every stored time.
"""
from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import case, func, select

from catalogue import load_catalogue
from proxy_service import models as m
from proxy_service.services.applications import STATUS_LABELS
from proxy_service.services.calls import call_counts
from proxy_service.services.common import now
from proxy_service.services.errors import InvalidRequest
from proxy_service.services.tickets import REASON_LABELS

PERIODS = (7, 30)


def percentile(values: list[float], fraction: float) -> float | None:
    """Percentile by linear interpolation between closest ranks (numpy's default, Excel's
    PERCENTILE.INC): sorted values x[0..n-1], position p = fraction * (n - 1), result
    x[floor(p)] + (p - floor(p)) * (x[ceil(p)] - x[floor(p)]). The median is fraction 0.5.
    None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def _minutes(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _sorted(rows: list[dict]) -> list[dict]:
    """Most first; ties by label, so the order is stable."""
    return sorted(rows, key=lambda row: (-row["count"], row["label"]))


def supervisor_dashboard(uow, days: int) -> dict:
    if isinstance(days, bool) or days not in PERIODS:
        raise InvalidRequest("只能查看最近7天或最近30天。", "days must be 7 or 30.", field="days")
    since = now() - timedelta(days=days)
    calls = call_counts(uow, since)   # opens its own unit of work
    ticket, booking, application = m.HandoffTicket, m.Booking, m.ProxyApplication
    with uow:
        session = uow.session
        reasons = session.execute(select(ticket.reason, func.count()).where(ticket.created_at >= since)
                                  .group_by(ticket.reason)).all()
        claimed = session.execute(select(ticket.created_at, ticket.claimed_at)
                                  .where(ticket.created_at >= since, ticket.claimed_at.is_not(None))).all()
        cancelled = func.sum(case((booking.status == "cancelled", 1), else_=0))
        errands = session.execute(select(booking.service_code, func.count(), cancelled)
                                  .where(booking.created_at >= since).group_by(booking.service_code)).all()
        statuses = session.execute(select(application.status, func.count()).where(application.created_at >= since)
                                   .group_by(application.status)).all()
    catalogue = load_catalogue()
    handoffs = sum(int(n) for _, n in reasons)
    waits = [(claimed_at - created_at).total_seconds() / 60 for created_at, claimed_at in claimed]
    return {
        "days": days,
        "since": since.isoformat(),
        "calls": calls,
        "handoffs": handoffs,
        "handoffs_by_reason": _sorted([{"reason": code, "label": REASON_LABELS.get(code, code), "count": int(n)}
                                       for code, n in reasons]),
        "bookings_by_errand": _sorted([{"service_code": code, "label": getattr(catalogue.get(code), "name", code),
                                        "count": int(n), "cancelled": int(c or 0)} for code, n, c in errands]),
        "claim_wait": {"claimed": len(waits), "unclaimed": handoffs - len(waits),
                       "median_minutes": _minutes(percentile(waits, 0.5)),
                       "p90_minutes": _minutes(percentile(waits, 0.9))},
        "applications_by_status": _sorted([{"status": code, "label": STATUS_LABELS.get(code, code), "count": int(n)}
                                           for code, n in statuses]),
    }
