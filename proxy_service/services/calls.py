"""Calls: phone calls and kiosk sessions, as the voice gateway and Twilio report them.

A call is keyed by its call_sid and written by upsert: the gateway's own report and Twilio's
status callbacks arrive in any order, and Twilio retries them. Each report fills or
overwrites only the fields it carries (None means "not said", never "erase"), so the same
report twice leaves the row as it was. A status never moves back: a late "ringing" after
"completed" is ignored. Audit events: `create`; `transfer` when a report changes the
transfer; `end` when the call is first known to have ended, or its final status changes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from proxy_service import models as m
from proxy_service.crypto import decrypt, encrypt, lookup_hash, mask_phone
from proxy_service.services.common import audit, finish, now
from proxy_service.services.errors import InvalidRequest, NotFound
from proxy_service.services.tickets import TicketRequest, file_ticket
from proxy_service.settings import get_settings

CHANNELS = m.CALL_CHANNELS
STATUSES = m.CALL_STATUSES
TRANSFER_OUTCOMES = m.TRANSFER_OUTCOMES
ENDED_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
# queued → ringing → in-progress → one of the final statuses (which may still replace each other).
_STATUS_RANK = {"initiated": 0, "queued": 0, "ringing": 1, "in-progress": 2, **{status: 3 for status in ENDED_STATUSES}}
CALL_SID = re.compile(r"[A-Za-z0-9_-]{1,64}")
TICKET_REFERENCE = re.compile(r"\d{8}")
PHONE_CHARACTERS = re.compile(r"\+?[0-9][0-9 ()-]*")
MAX_DURATION_SECONDS = 24 * 3600
MAX_TARGET_LENGTH = 128
MAX_DETAIL_LENGTH = 500
MAX_LEASE_SECONDS = 600
MAX_LEASES_PER_REQUEST = 1000
TRANSFER_COLUMNS = ("transfer_ticket", "transfer_target", "transfer_outcome", "transfer_detail")


@dataclass(frozen=True)
class CallReport:
    """What one report says about a call; None means the report does not say it."""

    channel: str | None = None
    caller_phone: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    status: str | None = None
    duration_seconds: int | None = None
    transfer_ticket: str | None = None
    transfer_target: str | None = None
    transfer_outcome: str | None = None
    transfer_detail: str | None = None
    lease_seconds: int | None = None      # the gateway vouches for the call this long (0: ends the lease)


def check_call_sid(call_sid: str) -> str:
    if not isinstance(call_sid, str) or not CALL_SID.fullmatch(call_sid):
        raise InvalidRequest("通话编号不对：只能用字母、数字、下划线和连字符，最多64个字符。",
                             "call_sid must be 1-64 characters of A-Z, a-z, 0-9, _ and -.", field="call_sid")
    return call_sid


def withheld(phone: str) -> bool:
    """Twilio's From for a caller who hides the number: "anonymous", "Restricted", … (no digits).
    Such a report says nothing about the number; it is not an error."""
    return isinstance(phone, str) and not re.search(r"\d", phone)


def caller_number(phone: str) -> str:
    """The caller's number as stored: mainland numbers in domestic form (+86 139… → 139…,
    +86 571… → 0571…), so the lookup hash matches residents'; other countries keep '+'."""
    text = (phone or "").strip()
    digits = re.sub(r"\D", "", text)
    if not PHONE_CHARACTERS.fullmatch(text) or not 5 <= len(digits) <= 20:
        raise InvalidRequest("来电号码不对。", "caller_phone must be a phone number of 5-20 digits.",
                             field="caller_phone")
    international = digits if text.startswith("+") else digits[2:] if digits.startswith("00") else None
    if international is None:
        return digits
    if international.startswith("86"):
        national = international[2:]
        return national if national.startswith("1") else "0" + national.lstrip("0")
    return "+" + international


def _local(moment: datetime) -> datetime:
    """Naive local time of the service, like every other time stored (see common.now)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(ZoneInfo(get_settings().timezone)).replace(tzinfo=None)


def _text(value: str, limit: int, column: str, zh: str) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if not value or len(value) > limit:
        raise InvalidRequest(zh, f"{column} must be 1-{limit} characters.", field=column)
    return value


def _values(report: CallReport) -> dict:
    """The columns the report sets, checked and normalised."""
    values = {}
    if report.channel is not None:
        if report.channel not in CHANNELS:
            raise InvalidRequest("渠道只能是电话（phone）或自助机（kiosk）。",
                                 f"channel must be one of {', '.join(CHANNELS)}.", field="channel")
        values["channel"] = report.channel
    if report.caller_phone is not None and not withheld(report.caller_phone):
        values["caller_phone"] = caller_number(report.caller_phone)
    for column in ("started_at", "ended_at"):
        moment = getattr(report, column)
        if moment is not None:
            if not isinstance(moment, datetime):
                raise InvalidRequest("时间格式不对。", f"{column} must be a date and time.", field=column)
            values[column] = _local(moment)
    if report.status is not None:
        if report.status not in STATUSES:
            raise InvalidRequest("通话状态不对。", f"status must be one of {', '.join(STATUSES)}.", field="status")
        values["status"] = report.status
    if report.duration_seconds is not None:
        duration = report.duration_seconds
        if isinstance(duration, bool) or not isinstance(duration, int) or not 0 <= duration <= MAX_DURATION_SECONDS:
            raise InvalidRequest("通话时长不对。", f"duration_seconds must be 0-{MAX_DURATION_SECONDS}.",
                                 field="duration_seconds")
        values["duration_seconds"] = duration
    if report.transfer_ticket is not None:
        if not isinstance(report.transfer_ticket, str) or not TICKET_REFERENCE.fullmatch(report.transfer_ticket):
            raise InvalidRequest("工单编号要是8位数字。", "transfer.ticket must be an 8-digit ticket reference.",
                                 field="transfer.ticket")
        values["transfer_ticket"] = report.transfer_ticket
    if report.transfer_target is not None:
        values["transfer_target"] = _text(report.transfer_target, MAX_TARGET_LENGTH, "transfer.target",
                                          "转接号码不对。")
    if report.transfer_outcome is not None:
        if report.transfer_outcome not in TRANSFER_OUTCOMES:
            raise InvalidRequest("转接结果不对。", f"transfer.outcome must be one of {', '.join(TRANSFER_OUTCOMES)}.",
                                 field="transfer.outcome")
        values["transfer_outcome"] = report.transfer_outcome
    if report.transfer_detail is not None:
        values["transfer_detail"] = _text(report.transfer_detail, MAX_DETAIL_LENGTH, "transfer.detail",
                                          f"转接说明要在{MAX_DETAIL_LENGTH}个字以内。")
    if report.lease_seconds is not None:
        values["lease_until"] = _lease_until(report.lease_seconds)
    return values


def _lease_until(seconds) -> datetime | None:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= MAX_LEASE_SECONDS:
        raise InvalidRequest("租约时长不对。", f"lease_seconds must be 0-{MAX_LEASE_SECONDS}.", field="lease_seconds")
    return now() + timedelta(seconds=seconds) if seconds else None


def _check_period(call: m.Call, values: dict) -> None:
    started, ended = values.get("started_at", call.started_at), values.get("ended_at", call.ended_at)
    if started is not None and ended is not None and ended < started:
        raise InvalidRequest("结束时间早于开始时间。", "ended_at is before started_at.", field="ended_at")


def _apply(call: m.Call, values: dict) -> set[str]:
    """Set what the report carries; the names of the columns that really changed."""
    changed = set()
    for column, value in values.items():
        if column == "caller_phone":
            if decrypt(call.caller_phone_enc) != value:
                call.caller_phone_enc, call.caller_phone_hash = encrypt(value), lookup_hash(value)
                changed.add(column)
        elif column == "status" and call.status and _STATUS_RANK[value] < _STATUS_RANK[call.status]:
            continue  # a callback that arrived late: the call is already further on
        elif getattr(call, column) != value:
            setattr(call, column, value)
            changed.add(column)
    return changed


def _ended(status: str | None, ended_at: datetime | None) -> bool:
    return status in ENDED_STATUSES or ended_at is not None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def call_view(call: m.Call) -> dict:
    """A call as the API shows it: the caller's number masked."""
    phone = decrypt(call.caller_phone_enc)
    return {
        "id": call.id, "call_sid": call.call_sid, "channel": call.channel,
        "caller_phone": mask_phone(phone) if phone else None,
        "started_at": _iso(call.started_at), "ended_at": _iso(call.ended_at), "status": call.status,
        "duration_seconds": call.duration_seconds,
        "transfer": {"ticket": call.transfer_ticket, "target": call.transfer_target,
                     "outcome": call.transfer_outcome, "detail": call.transfer_detail},
        "created_at": call.created_at.isoformat(), "updated_at": call.updated_at.isoformat(),
    }


def report_call(uow, call_sid: str, report: CallReport, *, actor: str) -> dict:
    """Create the call on its first report, then fill in what later reports carry."""
    check_call_sid(call_sid)
    values = _values(report)
    with uow:
        call, created = uow.calls.by_sid(call_sid, for_update=True), False
        if call is None:
            if "channel" not in values:
                raise InvalidRequest("第一次报告这通电话时要说明渠道（电话或自助机）。",
                                     "channel is required on the first report of a call.", field="channel")
            stamp = now()
            call = uow.calls.add_if_absent(m.Call(call_sid=call_sid, channel=values["channel"],
                                                  created_at=stamp, updated_at=stamp))
            created = call is not None
            if call is None:  # a concurrent report created it a moment ago
                call = uow.calls.by_sid(call_sid, for_update=True)
        before_status, before_ended_at, before_outcome = call.status, call.ended_at, call.transfer_outcome
        _check_period(call, values)
        changed = _apply(call, values)
        if changed and not created:
            call.updated_at = now()
        if created:
            audit(uow, actor=actor, entity=call, action="create", to_state=call.status,
                  details={"channel": call.channel})
        if changed.intersection(TRANSFER_COLUMNS):
            audit(uow, actor=actor, entity=call, action="transfer", from_state=before_outcome,
                  to_state=call.transfer_outcome, details={"ticket": call.transfer_ticket})
        if _ended(call.status, call.ended_at) and (not _ended(before_status, before_ended_at) or "status" in changed):
            audit(uow, actor=actor, entity=call, action="end", from_state=before_status, to_state=call.status,
                  details={"duration_seconds": call.duration_seconds})
        return finish(uow, call_view(call))


def get_call(uow, call_sid: str) -> dict:
    check_call_sid(call_sid)
    with uow:
        call = uow.calls.by_sid(call_sid)
        if call is None:
            raise NotFound("没有这通电话的记录。", f"no call {call_sid}.")
        return call_view(call)


def call_counts(uow, since: datetime) -> dict:
    """Calls per channel and per day, and transfers by outcome, from `since` on.

    A call counts on the day it started (the day it was first reported, if no start was).
    """
    since = _local(since)
    with uow:
        rows = uow.calls.counts_by_day_and_channel(since)
        outcomes = uow.calls.transfer_outcome_counts(since)
    by_channel = dict.fromkeys(CHANNELS, 0)
    by_day: dict[str, dict] = {}
    for day, channel, n in rows:
        key = day.isoformat() if isinstance(day, date) else str(day)
        entry = by_day.setdefault(key, {"day": key, **dict.fromkeys(CHANNELS, 0), "total": 0})
        entry[channel] += n
        entry["total"] += n
        by_channel[channel] += n
    return {
        "since": since.isoformat(), "total": sum(by_channel.values()), "by_channel": by_channel,
        "by_day": [by_day[key] for key in sorted(by_day)],
        "transfers": {outcome: outcomes.get(outcome, 0) for outcome in TRANSFER_OUTCOMES},
    }


def keep_leases(uow, *, renew: list[str], release: list[str], seconds: int) -> dict:
    """A gateway's round of leases: the calls it still holds vouched for `seconds` more,
    the calls that ended well released (their lease cleared). Calls not known yet (their
    first report is still on its way) or already swept are left alone."""
    for sid in (*renew, *release):
        check_call_sid(sid)
    if len(renew) + len(release) > MAX_LEASES_PER_REQUEST:
        raise InvalidRequest("一次报告的通话太多。", f"at most {MAX_LEASES_PER_REQUEST} calls per request.",
                             field="renew")
    until = _lease_until(seconds)
    with uow:
        renewed = uow.calls.set_leases(renew, until, only_held=True)
        released = uow.calls.set_leases(release, None, only_held=False)
        uow.commit()
    return {"renewed": renewed, "released": released}


def sweep_lost_calls(uow, *, limit: int = 100) -> dict:
    """Calls whose gateway stopped vouching for them (it crashed or was cut off mid-call):
    each is ended as failed and, if the caller's number is known, a callback ticket is put
    in the queue for them (one per caller and day), in the same transaction."""
    lost = callbacks = 0
    with uow:
        for call in uow.calls.lease_expired(now(), limit=limit):
            before = call.status
            call.lease_until, call.status, call.updated_at = None, "failed", now()
            call.ended_at = max(call.ended_at or now(), call.started_at or call.created_at)
            audit(uow, actor="worker", entity=call, action="end", from_state=before, to_state="failed",
                  details={"why": "gateway_lost"})
            phone = decrypt(call.caller_phone_enc)
            lost += 1
            if phone and call.channel == "phone":
                file_ticket(uow, TicketRequest(conversation_id=call.call_sid, reason="dropped", channel="phone",
                                               caller_phone=phone), actor="worker")
                callbacks += 1
        uow.commit()
    return {"lost_calls": lost, "callbacks": callbacks}
