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


def percentile(session, value, where: list, count: int, fraction: float) -> float | None:
    """Percentile of `value` over the rows matching `where`, by linear interpolation between
    closest ranks (numpy's default, Excel's PERCENTILE.INC): sorted values x[0..n-1],
    position p = fraction * (n - 1), result x[floor(p)] + (p - floor(p)) * (x[ceil(p)] - x[floor(p)]).
    The database sorts and returns the two neighbours only; None for no rows."""
    if count == 0:
        return None
    position = fraction * (count - 1)
    low = math.floor(position)
    neighbours = session.execute(select(value).where(*where).order_by(value).offset(low).limit(2)).scalars().all()
    high = neighbours[1] if len(neighbours) > 1 else neighbours[0]
    return neighbours[0] + (position - low) * (high - neighbours[0])


def _minutes(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _sorted(rows: list[dict]) -> list[dict]:
    """Most first; ties by label, so the order is stable."""
    return sorted(rows, key=lambda row: (-row["count"], row["label"]))


def _wait_minutes(session, ticket):
    """Minutes from creation to claim, computed by the database: fetching tens of thousands of
    timestamp pairs into Python costs far more than the arithmetic."""
    if session.bind.dialect.name == "sqlite":
        return (func.julianday(ticket.claimed_at) - func.julianday(ticket.created_at)) * 1440.0
    return func.extract("epoch", ticket.claimed_at - ticket.created_at) / 60.0


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
        wait, claimed_since = _wait_minutes(session, ticket), [ticket.created_at >= since, ticket.claimed_at.is_not(None)]
        claimed = session.execute(select(func.count()).select_from(ticket).where(*claimed_since)).scalar_one()
        median = percentile(session, wait, claimed_since, claimed, 0.5)
        p90 = percentile(session, wait, claimed_since, claimed, 0.9)
        cancelled = func.sum(case((booking.status == "cancelled", 1), else_=0))
        errands = session.execute(select(booking.service_code, func.count(), cancelled)
                                  .where(booking.created_at >= since).group_by(booking.service_code)).all()
        statuses = session.execute(select(application.status, func.count()).where(application.created_at >= since)
                                   .group_by(application.status)).all()
    catalogue = load_catalogue()
    handoffs = sum(int(n) for _, n in reasons)
    return {
        "days": days,
        "since": since.isoformat(),
        "calls": calls,
        "handoffs": handoffs,
        "handoffs_by_reason": _sorted([{"reason": code, "label": REASON_LABELS.get(code, code), "count": int(n)}
                                       for code, n in reasons]),
        "bookings_by_errand": _sorted([{"service_code": code, "label": getattr(catalogue.get(code), "name", code),
                                        "count": int(n), "cancelled": int(c or 0)} for code, n, c in errands]),
        "claim_wait": {"claimed": claimed, "unclaimed": handoffs - claimed,
                       "median_minutes": _minutes(median), "p90_minutes": _minutes(p90)},
        "applications_by_status": _sorted([{"status": code, "label": STATUS_LABELS.get(code, code), "count": int(n)}
                                           for code, n in statuses]),
    }
