"""Handoff tickets: a caller put in a staff queue with everything already said, and what staff do with them."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from catalogue import OFFER_LABELS, load_catalogue
from proxy_service import models as m
from contract import TICKET_SLOTS
from proxy_service.crypto import decrypt, encrypt, lookup_hash, mask_phone, normalize_digits
from proxy_service.services import calendar
from proxy_service.services.common import audit, finish, new_reference, notify, now
from proxy_service.services.errors import Conflict, InvalidRequest, NotFound, ServiceError
from proxy_service.services.reference import COMPLAINTS_QUEUE, desk_for_queue, queue_for_topic
from proxy_service.settings import get_settings

REASONS = ("request_human", "fallback", "complaint", "distress", "booking", "status", "timeout", "silence",
           "dropped", "busy")
# Callbacks the system files by itself (the assistant did not answer, the call was lost with
# its gateway, the line was full): one per caller number and day, however often they try.
SYSTEM_CALLBACK_REASONS = ("timeout", "dropped", "busy")
CHANNELS = ("phone", "kiosk", "web", "chat")
URGENT, RAISED, NORMAL = 0, 1, 2
CALLBACK_WINDOW = timedelta(hours=2)
MAX_TRANSCRIPT_TURNS = 500
OPEN_STATES = ("open", "claimed", "callback_scheduled")

# How staff read a ticket (the console shows words, never bare codes).
PRIORITY_LABELS = {URGENT: "紧急", RAISED: "较急", NORMAL: "普通"}
REASON_LABELS = {
    "request_human": "来电人要求转人工", "fallback": "多次没听懂来电人", "complaint": "投诉",
    "distress": "来电人可能有危险", "booking": "预约需要人工帮忙", "status": "查询进度需要人工帮忙",
    "timeout": "系统没有及时回答", "silence": "长时间没有声音",
    "dropped": "通话意外中断", "busy": "来电太多，没能接通",
}
CHANNEL_LABELS = {"phone": "电话", "kiosk": "自助终端", "web": "网页", "chat": "在线文字"}
STATUS_LABELS = {"open": "等待接单", "claimed": "处理中", "callback_scheduled": "已约回电", "resolved": "已办结"}
ACTION_LABELS = {
    "create": "转入人工", "claim": "接单", "release": "放回队列", "resolve": "办结", "schedule_callback": "约回电",
    "add_note": "写备注", "reveal_phone": "查看完整号码", "view_transcript": "查看对话记录",
    "purge_personal_data": "到期删除个人信息",
}


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


def ticket_view(ticket: m.HandoffTicket, *, reveal: bool = False, transcript: bool = True) -> dict:
    """transcript=False: for lists, which show none (the column is then never loaded or decrypted)."""
    phone = decrypt(ticket.caller_phone_enc)
    return {
        "id": ticket.id, "reference": ticket.reference, "queue": ticket.queue.code, "queue_name": ticket.queue.name,
        "desk": desk_for_queue(ticket.queue.code),
        "priority": ticket.priority, "reason": ticket.reason, "channel": ticket.channel,
        "conversation_id": ticket.conversation_id,
        "caller_phone": phone if reveal else mask_phone(phone) if phone else None,
        "transcript": ticket.transcript if transcript else None, "filled_slots": ticket.filled_slots,
        "status": ticket.status,
        "assignee": ticket.assignee, "sla_due_at": ticket.sla_due_at.isoformat(),
        "callback_from": ticket.callback_from.isoformat() if ticket.callback_from else None,
        "callback_until": ticket.callback_until.isoformat() if ticket.callback_until else None,
        "created_at": ticket.created_at.isoformat(),
    }


def create_ticket(uow, request: TicketRequest, *, actor: str) -> dict:
    """Write the ticket durably; the reply tells whether staff take over now or call back."""
    _check(request)
    with uow:
        view, status = file_ticket(uow, request, actor=actor)
        return finish(uow, view, status)


def file_ticket(uow, request: TicketRequest, *, actor: str) -> tuple[dict, int]:
    """The ticket written in the caller's open transaction (not committed here): its view and
    201, or the conversation's (or, for a system callback, the caller's today) earlier
    unresolved ticket, brought up to date, and 200."""
    _check(request)
    stamp = now()
    priority = priority_for(request)
    open_now = calendar.in_business_hours(stamp)
    callback_from = None if open_now else calendar.next_opening(stamp)
    phone = normalize_digits(request.caller_phone) if request.caller_phone else None
    phone_hash = lookup_hash(phone) if phone else None
    system_callback = bool(phone_hash) and request.reason in SYSTEM_CALLBACK_REASONS
    uow.tickets.serialise(request.conversation_id.strip(), *([phone_hash] if system_callback else []))
    earlier = uow.tickets.unresolved_for_conversation(request.conversation_id.strip())
    if earlier is None and system_callback:
        midnight = stamp.replace(hour=0, minute=0, second=0)
        earlier = uow.tickets.unresolved_for_caller_since(phone_hash, midnight, SYSTEM_CALLBACK_REASONS)
    if earlier is not None:
        return _repeat_request(uow, earlier, request, priority, actor=actor, open_now=open_now), 200
    queue = uow.queues.by_code(route(request))
    if queue is None:
        raise NotFound("转接队列还没有配置。", "staff queues are not loaded.")
    ticket = uow.tickets.add(m.HandoffTicket(
        reference=new_reference(lambda ref: uow.tickets.by_reference(ref) is not None),
        queue_id=queue.id, priority=priority, reason=request.reason, channel=request.channel,
        conversation_id=request.conversation_id.strip(), caller_phone_enc=encrypt(phone),
        caller_phone_hash=phone_hash, caller_last4=phone[-4:] if phone else None,
        transcript=list(request.transcript), filled_slots=dict(request.filled_slots), status="open",
        sla_due_at=(callback_from or stamp) + timedelta(minutes=get_settings().sla_minutes[priority]),
        callback_from=callback_from, callback_until=callback_from + CALLBACK_WINDOW if callback_from else None,
        created_at=stamp, updated_at=stamp,
    ))
    ticket.queue = queue
    audit(uow, actor=actor, entity=ticket, action="create", to_state="open",
          details={"queue": queue.code, "priority": priority, "reason": request.reason})
    return {**ticket_view(ticket), "in_business_hours": open_now}, 201


def _repeat_request(uow, ticket: m.HandoffTicket, request: TicketRequest, priority: int, *, actor: str,
                    open_now: bool) -> dict:
    """A conversation asks for a person again (0 pressed twice, "转人工" after the transfer
    failed), or a caller the system already owes a callback today calls again: one ticket,
    brought up to date, never a second one in the queue. What is already known is kept
    when the new request knows nothing (a callback filed without a transcript)."""
    if request.transcript:
        ticket.transcript = list(request.transcript)
    if request.filled_slots:
        ticket.filled_slots = dict(request.filled_slots)
    if priority < ticket.priority:
        ticket.priority = priority
        ticket.sla_due_at = min(ticket.sla_due_at, now() + timedelta(minutes=get_settings().sla_minutes[priority]))
    ticket.updated_at = now()
    audit(uow, actor=actor, entity=ticket, action="asked_again", from_state=ticket.status, to_state=ticket.status,
          details={"reason": request.reason, "priority": ticket.priority})
    return {**ticket_view(ticket), "in_business_hours": open_now}


TRANSITIONS = {
    "claim": ({"open", "callback_scheduled"}, "claimed"),
    "release": ({"claimed"}, "open"),
    "resolve": ({"claimed", "callback_scheduled", "open"}, "resolved"),
    "schedule_callback": ({"open", "claimed"}, "callback_scheduled"),
}


def _check_action(action: str) -> None:
    if action not in TRANSITIONS:
        raise InvalidRequest("不支持这个操作。", f"action must be one of {', '.join(TRANSITIONS)}.", field="action")


def _ticket(uow, ticket_id: int, *, for_update: bool = False) -> m.HandoffTicket:
    ticket = uow.tickets.get_for_update(ticket_id) if for_update else uow.tickets.get(ticket_id)
    if ticket is None:
        raise NotFound("没有这张工单。", f"no ticket {ticket_id}.")
    return ticket


def _apply(uow, ticket: m.HandoffTicket, action: str, *, actor: str, callback_from: datetime | None = None) -> None:
    """Move the ticket along TRANSITIONS and audit it (the caller commits)."""
    allowed_from, to_state = TRANSITIONS[action]
    if action == "claim" and ticket.status == "claimed":
        who = "您" if ticket.assignee == actor else (ticket.assignee or "别人")
        raise Conflict(f"这张工单已经由{who}接了，不能再接。", "ticket already claimed.")
    if ticket.status not in allowed_from:
        raise Conflict(f"工单现在是“{STATUS_LABELS.get(ticket.status, ticket.status)}”，"
                       f"不能{ACTION_LABELS.get(action, action)}。",
                       f"cannot {action} a ticket in status {ticket.status}.")
    if action == "schedule_callback":
        if callback_from is None:
            raise InvalidRequest("请给出回电时间。", "callback_from is required.", field="callback_from")
        ticket.callback_from, ticket.callback_until = callback_from, callback_from + CALLBACK_WINDOW
        # The caller hears when to expect us, and knows the number that will ring is ours.
        notify(uow, kind="callback_scheduled", phone=decrypt(ticket.caller_phone_enc), entity=ticket,
               body=f"【示例市政务帮办】我们会在{callback_from.month}月{callback_from.day}日"
                    f"{callback_from:%H:%M}到{ticket.callback_until:%H:%M}之间给您回电，请留意接听。"
                    f"工单编号{ticket.reference}。")
    stamp, from_state = now(), ticket.status
    ticket.status, ticket.updated_at = to_state, stamp
    if action == "claim":
        ticket.assignee, ticket.claimed_at = actor, ticket.claimed_at or stamp
    elif action == "release":
        ticket.assignee = None
    elif action == "resolve":
        ticket.closed_at = stamp
    audit(uow, actor=actor, entity=ticket, action=action, from_state=from_state, to_state=to_state)


def change_ticket(uow, ticket_id: int, action: str, *, actor: str, callback_from: datetime | None = None,
                  note: str | None = None) -> dict:
    _check_action(action)
    text = _note_text(note, required=False, field="note")
    with uow:
        ticket = _ticket(uow, ticket_id, for_update=True)
        _check_release(ticket, action, actor, is_admin=False)
        _apply(uow, ticket, action, actor=actor, callback_from=callback_from)
        if text:   # free text goes with the ticket's notes (purged with it), not into the audit trail
            _add_note(uow, ticket, text, actor)
        return finish(uow, ticket_view(ticket))


def get_ticket(uow, ticket_id: int) -> dict:
    with uow:
        return ticket_view(_ticket(uow, ticket_id))


def list_queue(uow, queue_code: str, *, limit: int = 50, offset: int = 0) -> list[dict]:
    with uow:
        queue = uow.queues.by_code(queue_code)
        if queue is None:
            raise NotFound("没有这个队列。", f"no queue {queue_code!r}.")
        tickets = uow.tickets.in_queue(queue.id, ("open", "claimed", "callback_scheduled"), limit, offset)
        return [ticket_view(t, transcript=False) for t in tickets]


def list_queues(uow) -> list[dict]:
    with uow:
        return [{"code": q.code, "name": q.name, "open_tickets": n} for q, n in uow.queues.list_with_open_counts()]


# ---- the staff console ---------------------------------------------------------------------
MAX_NOTE_LENGTH = 1000
CALLBACK_HORIZON = timedelta(days=14)
SPEAKER_LABELS = {"caller": "来电人", "bot": "机器人"}
CALLBACK_INPUT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?")


class NotAllowed(ServiceError):
    status, code = 403, "not_allowed"


def labelled(view: dict) -> dict:
    """A ticket view with the words staff read next to each code."""
    return {**view, "priority_label": PRIORITY_LABELS.get(view["priority"], str(view["priority"])),
            "reason_label": REASON_LABELS.get(view["reason"], view["reason"]),
            "channel_label": CHANNEL_LABELS.get(view["channel"], view["channel"]),
            "status_label": STATUS_LABELS.get(view["status"], view["status"])}


def queue_page(uow, queue_code: str, *, limit: int = 100) -> dict:
    """One queue's waiting tickets in the order staff should take them, and how many there are."""
    with uow:
        queue = uow.queues.by_code(queue_code)
        if queue is None:
            raise NotFound("没有这个队列。", f"no queue {queue_code!r}.")
        rows = [labelled(ticket_view(t, transcript=False))
                for t in uow.tickets.in_queue(queue.id, OPEN_STATES, limit, 0)]
        total = dict((q.code, n) for q, n in uow.queues.list_with_open_counts()).get(queue.code, 0)
        return {"code": queue.code, "name": queue.name, "tickets": rows, "total": total}


def available_actions(status: str, assignee: str | None, *, viewer: str, is_admin: bool) -> list[str]:
    """What this member of staff may do now; only the assignee or an administrator releases."""
    actions = [action for action, (sources, _) in TRANSITIONS.items() if status in sources]
    if "release" in actions and not (is_admin or assignee == viewer):
        actions.remove("release")
    return actions


def _moment(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _transcript(turns) -> list[dict]:
    """The conversation in order; its text is the caller's own words, shown escaped only."""
    return [{"speaker": turn.get("speaker"), "css": "caller" if turn.get("speaker") == "caller" else "bot",
             "label": SPEAKER_LABELS.get(turn.get("speaker"), str(turn.get("speaker") or "未知")),
             "text": str(turn.get("text") or ""), "at": _moment(turn.get("at"))}
            for turn in turns or [] if isinstance(turn, dict)]


def _slot_value(name: str, value) -> str:
    if name == "service" and (item := load_catalogue().get(str(value))):
        return item.name
    if name == "booking_mode" and value in OFFER_LABELS:
        return OFFER_LABELS[value]
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value)
    return str(value)


def _slots(filled: dict | None) -> list[dict]:
    return [{"name": name, "label": TICKET_SLOTS.get(name, name), "value": _slot_value(name, value)}
            for name, value in (filled or {}).items() if value not in (None, "")]


def _notes(uow, ticket_id: int) -> list[dict]:
    return [{"author": n.author, "body": n.body, "created_at": n.created_at} for n in uow.notes.for_ticket(ticket_id)]


def _trail(uow, ticket_id: int) -> list[dict]:
    def state(code: str | None) -> str | None:
        return STATUS_LABELS.get(code, code) if code else None

    return [{"at": e.at, "actor": e.actor, "action": e.action, "action_label": ACTION_LABELS.get(e.action, e.action),
             "from_label": state(e.from_state), "to_label": state(e.to_state)}
            for e in uow.audit.for_entity(m.HandoffTicket.__tablename__, ticket_id)]


def _page(uow, ticket: m.HandoffTicket, *, viewer: str, is_admin: bool, reveal: bool = False) -> dict:
    has_phone = ticket.caller_phone_enc is not None
    return {**labelled(ticket_view(ticket, reveal=reveal)), "has_phone": has_phone, "revealed": reveal and has_phone,
            "purged": ticket.purged_at is not None, "mine": ticket.assignee == viewer,
            "transcript": _transcript(ticket.transcript), "slots": _slots(ticket.filled_slots),
            "notes": _notes(uow, ticket.id), "trail": _trail(uow, ticket.id),
            "actions": available_actions(ticket.status, ticket.assignee, viewer=viewer, is_admin=is_admin)}


def ticket_page(uow, ticket_id: int, *, viewer: str, is_admin: bool, record_view: bool = False) -> dict:
    """Everything the ticket page shows: facts, conversation, slots, notes, the audit trail.

    With record_view, opening a ticket that still holds the caller's words (names, what they
    need) is itself an audit event: who read them, and when."""
    with uow:
        ticket = _ticket(uow, ticket_id)
        if record_view and ticket.purged_at is None and (ticket.transcript or ticket.filled_slots):
            audit(uow, actor=viewer, entity=ticket, action="view_transcript")
            uow.commit()
        return _page(uow, ticket, viewer=viewer, is_admin=is_admin)


def list_notes(uow, ticket_id: int) -> list[dict]:
    with uow:
        return _notes(uow, _ticket(uow, ticket_id).id)


def reveal_phone(uow, ticket_id: int, *, actor: str, is_admin: bool) -> dict:
    """The ticket page with the caller's full number; every look is audited (without the number)."""
    with uow:
        ticket = _ticket(uow, ticket_id)
        if ticket.caller_phone_enc is None:
            return _page(uow, ticket, viewer=actor, is_admin=is_admin)
        audit(uow, actor=actor, entity=ticket, action="reveal_phone")
        page = _page(uow, ticket, viewer=actor, is_admin=is_admin, reveal=True)
        uow.commit()
        return page


def _note_text(body: str | None, *, required: bool, field: str) -> str:
    text = (body or "").strip()
    if required and not text:
        raise InvalidRequest("备注是空的。请写上内容再保存。", "the note is empty.", field=field)
    if len(text) > MAX_NOTE_LENGTH:
        raise InvalidRequest(f"备注最多{MAX_NOTE_LENGTH}个字，现在有{len(text)}个字。请删短一些再保存。",
                             f"notes are at most {MAX_NOTE_LENGTH} characters.", field=field)
    return text


def _add_note(uow, ticket: m.HandoffTicket, text: str, actor: str) -> m.TicketNote:
    note = uow.notes.add(m.TicketNote(ticket_id=ticket.id, author=actor, body=text, created_at=now()))
    # The note's text stays in ticket_notes: the audit trail holds no free text.
    audit(uow, actor=actor, entity=ticket, action="add_note", details={"note_id": note.id})
    return note


def add_note(uow, ticket_id: int, body: str | None, *, actor: str) -> dict:
    text = _note_text(body, required=True, field="note")
    with uow:
        note = _add_note(uow, _ticket(uow, ticket_id), text, actor)
        view = {"id": note.id, "author": note.author, "body": note.body, "created_at": note.created_at}
        uow.commit()
        return view


def parse_callback_time(text: str | None) -> datetime:
    """A callback time typed on the ticket page: a real moment, later today at the earliest,
    at most CALLBACK_HORIZON ahead."""
    text, current = (text or "").strip(), now()
    example = f"例如 {(current + timedelta(days=1)):%Y-%m-%d} 10:00"
    if not text:
        raise InvalidRequest(f"请填写回电的日期和时间，{example}。", "callback time is required.", field="callback_from")
    try:
        if not CALLBACK_INPUT.fullmatch(text):
            raise ValueError(text)
        moment = datetime.fromisoformat(text).replace(second=0)
    except ValueError:
        raise InvalidRequest(f"回电时间看不懂。请按“年-月-日 时:分”填写，{example}。",
                             "callback time is not a date and time.", field="callback_from") from None
    if moment <= current:
        raise InvalidRequest("回电时间已经过去了。请选一个以后的时间。", "callback time is in the past.",
                             field="callback_from")
    if moment > current + CALLBACK_HORIZON:
        raise InvalidRequest(f"回电时间只能约在{CALLBACK_HORIZON.days}天以内。请选一个近一点的时间。",
                             "callback time is too far ahead.", field="callback_from")
    return moment


def staff_action(uow, ticket_id: int, action: str, *, actor: str, is_admin: bool, callback_text: str | None = None,
                 note: str | None = None) -> dict:
    """A button on the ticket page: claim, release, resolve (with an optional note) or schedule a callback."""
    _check_action(action)
    callback_from = parse_callback_time(callback_text) if action == "schedule_callback" else None
    text = _note_text(note, required=False, field="resolve_note") if action == "resolve" else ""
    with uow:
        ticket = _ticket(uow, ticket_id, for_update=True)
        _check_release(ticket, action, actor, is_admin)
        _apply(uow, ticket, action, actor=actor, callback_from=callback_from)
        if text:
            _add_note(uow, ticket, text, actor)
        return finish(uow, ticket_view(ticket))


def _check_release(ticket: m.HandoffTicket, action: str, actor: str, is_admin: bool) -> None:
    """A claimed ticket goes back to the queue only by the one who claimed it (or an admin),
    through the console and the API alike."""
    if action == "release" and ticket.status == "claimed" and not (is_admin or ticket.assignee == actor):
        raise NotAllowed("只有接单的人或管理员才能把工单放回队列。",
                         "only the assignee or an administrator may release a ticket.")


def callback_input_range() -> tuple[str, str]:
    """min and max of the page's datetime-local input (the server checks again)."""
    current = now()
    return f"{current:%Y-%m-%dT%H:%M}", f"{current + CALLBACK_HORIZON:%Y-%m-%dT%H:%M}"
