"""Handoff tickets: a caller put in a staff queue with everything already said."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from catalogue import load_catalogue
from proxy_service import models as m
from proxy_service.crypto import decrypt, encrypt, mask_phone, normalize_digits
from proxy_service.services import calendar
from proxy_service.services.common import audit, finish, new_reference, now
from proxy_service.services.errors import Conflict, InvalidRequest, NotFound
from proxy_service.services.reference import COMPLAINTS_QUEUE, queue_for_topic
from proxy_service.settings import get_settings

REASONS = ("request_human", "fallback", "complaint", "distress", "booking", "status", "timeout", "silence")
CHANNELS = ("phone", "kiosk", "web", "chat")
URGENT, RAISED, NORMAL = 0, 1, 2
CALLBACK_WINDOW = timedelta(hours=2)
MAX_TRANSCRIPT_TURNS = 500


@dataclass(frozen=True)
class TicketRequest:
    conversation_id: str
    reason: str
    channel: str = "phone"
    topic: str | None = None               # catalogue intent or service code
    caller_phone: str | None = None
    caller_age: int | None = None
    caller_disabled: bool | None = None
    failed_turns: int = 0
    transcript: list[dict] = field(default_factory=list)
    filled_slots: dict = field(default_factory=dict)


def priority_for(request: TicketRequest) -> int:
    """Distress is urgent; callers aged 80+, disabled callers and repeated failures go up."""
    if request.reason == "distress":
        return URGENT
    if (request.caller_age or 0) >= 80 or request.caller_disabled or request.failed_turns >= 2:
        return RAISED
    return NORMAL


def route(request: TicketRequest) -> str:
    if request.reason == "complaint":
        return COMPLAINTS_QUEUE
    item = load_catalogue().get(request.topic or "")
    return queue_for_topic(item.intent if item else request.topic)


def _check(request: TicketRequest) -> None:
    if not (request.conversation_id or "").strip() or len(request.conversation_id) > 128:
        raise InvalidRequest("缺少对话编号。", "conversation_id is required (at most 128 characters).",
                             field="conversation_id")
    if request.reason not in REASONS:
        raise InvalidRequest("转人工原因不对。", f"reason must be one of {', '.join(REASONS)}.", field="reason")
    if request.channel not in CHANNELS:
        raise InvalidRequest("渠道不对。", f"channel must be one of {', '.join(CHANNELS)}.", field="channel")
    if len(request.transcript) > MAX_TRANSCRIPT_TURNS:
        raise InvalidRequest("对话记录太长。", f"transcript has more than {MAX_TRANSCRIPT_TURNS} turns.",
                             field="transcript")


def ticket_view(ticket: m.HandoffTicket, *, reveal: bool = False) -> dict:
    phone = decrypt(ticket.caller_phone_enc)
    return {
        "id": ticket.id, "reference": ticket.reference, "queue": ticket.queue.code, "queue_name": ticket.queue.name,
        "priority": ticket.priority, "reason": ticket.reason, "channel": ticket.channel,
        "conversation_id": ticket.conversation_id,
        "caller_phone": phone if reveal else mask_phone(phone) if phone else None,
        "transcript": ticket.transcript, "filled_slots": ticket.filled_slots, "status": ticket.status,
        "assignee": ticket.assignee, "sla_due_at": ticket.sla_due_at.isoformat(),
        "callback_from": ticket.callback_from.isoformat() if ticket.callback_from else None,
        "callback_until": ticket.callback_until.isoformat() if ticket.callback_until else None,
        "created_at": ticket.created_at.isoformat(),
    }


def create_ticket(uow, request: TicketRequest, *, actor: str) -> dict:
    """Write the ticket durably; the reply tells whether staff take over now or call back."""
    _check(request)
    stamp = now()
    priority = priority_for(request)
    open_now = calendar.in_business_hours(stamp)
    callback_from = None if open_now else calendar.next_opening(stamp)
    phone = normalize_digits(request.caller_phone) if request.caller_phone else None
    with uow:
        queue = uow.queues.by_code(route(request))
        if queue is None:
            raise NotFound("转接队列还没有配置。", "staff queues are not loaded.")
        ticket = uow.tickets.add(m.HandoffTicket(
            reference=new_reference(lambda ref: uow.tickets.by_reference(ref) is not None),
            queue_id=queue.id, priority=priority, reason=request.reason, channel=request.channel,
            conversation_id=request.conversation_id.strip(), caller_phone_enc=encrypt(phone),
            caller_last4=phone[-4:] if phone else None, transcript=list(request.transcript),
            filled_slots=dict(request.filled_slots), status="open",
            sla_due_at=(callback_from or stamp) + timedelta(minutes=get_settings().sla_minutes[priority]),
            callback_from=callback_from, callback_until=callback_from + CALLBACK_WINDOW if callback_from else None,
            created_at=stamp, updated_at=stamp,
        ))
        ticket.queue = queue
        audit(uow, actor=actor, entity=ticket, action="create", to_state="open",
              details={"queue": queue.code, "priority": priority, "reason": request.reason})
        return finish(uow, {**ticket_view(ticket), "in_business_hours": open_now}, 201)


TRANSITIONS = {
    "claim": ({"open", "callback_scheduled"}, "claimed"),
    "release": ({"claimed"}, "open"),
    "resolve": ({"claimed", "callback_scheduled", "open"}, "resolved"),
    "schedule_callback": ({"open", "claimed"}, "callback_scheduled"),
}


def change_ticket(uow, ticket_id: int, action: str, *, actor: str, callback_from: datetime | None = None,
                  note: str | None = None) -> dict:
    if action not in TRANSITIONS:
        raise InvalidRequest("不支持这个操作。", f"action must be one of {', '.join(TRANSITIONS)}.", field="action")
    allowed_from, to_state = TRANSITIONS[action]
    with uow:
        ticket = uow.tickets.get(ticket_id)
        if ticket is None:
            raise NotFound("没有这张工单。", f"no ticket {ticket_id}.")
        if ticket.status not in allowed_from:
            raise Conflict(f"工单现在是“{ticket.status}”状态，不能这样操作。",
                           f"cannot {action} a ticket in status {ticket.status}.")
        if action == "claim" and ticket.assignee and ticket.status == "claimed":
            raise Conflict("工单已经有人接了。", "ticket already claimed.")
        if action == "schedule_callback":
            if callback_from is None:
                raise InvalidRequest("请给出回电时间。", "callback_from is required.", field="callback_from")
            ticket.callback_from, ticket.callback_until = callback_from, callback_from + CALLBACK_WINDOW
        stamp, from_state = now(), ticket.status
        ticket.status, ticket.updated_at = to_state, stamp
        if action == "claim":
            ticket.assignee, ticket.claimed_at = actor, ticket.claimed_at or stamp
        elif action == "release":
            ticket.assignee = None
        elif action == "resolve":
            ticket.closed_at = stamp
        audit(uow, actor=actor, entity=ticket, action=action, from_state=from_state, to_state=to_state,
              details={"note": note} if note else None)
        return finish(uow, ticket_view(ticket))


def get_ticket(uow, ticket_id: int) -> dict:
    with uow:
        ticket = uow.tickets.get(ticket_id)
        if ticket is None:
            raise NotFound("没有这张工单。", f"no ticket {ticket_id}.")
        return ticket_view(ticket)


def list_queue(uow, queue_code: str, *, limit: int = 50, offset: int = 0) -> list[dict]:
    with uow:
        queue = uow.queues.by_code(queue_code)
        if queue is None:
            raise NotFound("没有这个队列。", f"no queue {queue_code!r}.")
        tickets = uow.tickets.in_queue(queue.id, ("open", "claimed", "callback_scheduled"), limit, offset)
        return [{**ticket_view(t), "transcript": None} for t in tickets]


def list_queues(uow) -> list[dict]:
    with uow:
        return [{"code": q.code, "name": q.name, "open_tickets": n} for q, n in uow.queues.list_with_open_counts()]
