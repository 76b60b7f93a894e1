"""What is happening right now, from the database every API process shares: calls in progress
(those a gateway holds a lease on), tickets waiting per queue and the oldest one's age, the
callbacks the system owes, the SMS outbox backlog.

One source for both readers: the Prometheus gauges of /metrics (api/metrics.py) and the
"now" panel of the supervisor dashboard. Figures are the same whichever API process answers.
"""
from __future__ import annotations

from sqlalchemy import func, select

from proxy_service import models as m
from proxy_service.services.common import now
from proxy_service.services.tickets import OPEN_STATES, SYSTEM_CALLBACK_REASONS

WAITING_STATES = ("open", "callback_scheduled")      # nobody has the ticket in hand yet
OUTBOX_BACKLOG_STATES = ("pending", "sending", "uncertain")


def live_figures(uow) -> dict:
    stamp = now()
    ticket = m.HandoffTicket
    with uow:
        session = uow.session
        calls = session.execute(select(m.Call.channel, func.count()).where(m.Call.lease_until >= stamp)
                                .group_by(m.Call.channel)).all()
        queues = session.execute(
            select(m.StaffQueue.code, m.StaffQueue.name, func.count(ticket.id), func.min(ticket.created_at))
            .outerjoin(ticket, (ticket.queue_id == m.StaffQueue.id) & ticket.status.in_(WAITING_STATES))
            .group_by(m.StaffQueue.id, m.StaffQueue.code, m.StaffQueue.name).order_by(m.StaffQueue.id)).all()
        callbacks = session.execute(select(ticket.reason, func.count())
                                    .where(ticket.status.in_(OPEN_STATES), ticket.reason.in_(SYSTEM_CALLBACK_REASONS))
                                    .group_by(ticket.reason)).all()
        outbox = session.execute(select(m.Notification.status, func.count())
                                 .where(m.Notification.status.in_(OUTBOX_BACKLOG_STATES))
                                 .group_by(m.Notification.status)).all()
    by_reason = {reason: int(n) for reason, n in callbacks}
    return {
        "at": stamp.isoformat(),
        "calls_in_progress": {channel: int(n) for channel, n in calls},
        "queues": [{"queue": code, "name": name, "waiting": int(n),
                    "oldest_seconds": max(0, int((stamp - oldest).total_seconds())) if oldest else None}
                   for code, name, n, oldest in queues],
        "callbacks_owed": {"total": sum(by_reason.values()),
                           **{reason: by_reason.get(reason, 0) for reason in SYSTEM_CALLBACK_REASONS}},
        "outbox_backlog": {status: 0 for status in OUTBOX_BACKLOG_STATES} | {status: int(n) for status, n in outbox},
    }
