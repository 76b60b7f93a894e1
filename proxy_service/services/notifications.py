"""Deliver the outbox: SMS through Twilio's official client when configured.

A round has three steps, so no transaction is open while the provider is slow:
1. claim: due rows become `sending` in one short transaction (`FOR UPDATE SKIP LOCKED` on
   PostgreSQL, so two workers never take the same row; SQLite's write lock serialises them);
2. send each one, outside any transaction, with a timeout;
3. record each outcome in its own short transaction.

A failed send is retried with growing pauses over about eight hours, then marked `failed`.
A row left `sending` by a worker that died may or may not have gone out: it becomes
`uncertain` for staff to check, and is never sent again. Without credentials a notification
is marked `not_sent` with the reason: it stays on record, never silently dropped.
"""
from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Callable, Protocol

from proxy_service.crypto import decrypt
from proxy_service.services.common import now
from proxy_service.settings import Settings, get_settings

log = logging.getLogger(__name__)
# Pause before each retry; after the last one the message is marked failed.
RETRY_DELAYS = tuple(timedelta(minutes=minutes) for minutes in (0.5, 2, 10, 30, 60, 120, 240))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A claim older than this means its worker died between claiming and recording.
CLAIM_LEASE = timedelta(minutes=10)
_DIGIT_RUNS = re.compile(r"\+?\d[\d\s-]{5,}\d")


class SmsClient(Protocol):
    def send(self, to: str, body: str) -> str: ...


class TwilioSms:
    """SMS through twilio.rest.Client (the official library), each request bounded in time."""

    def __init__(self, settings: Settings, http_client=None):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        http_client = http_client or TwilioHttpClient(timeout=settings.sms_timeout_seconds)
        self._client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client)
        self._from = settings.sms_from

    def send(self, to: str, body: str) -> str:
        message = self._client.messages.create(to=f"+86{to}" if len(to) == 11 else to, from_=self._from, body=body)
        return message.sid


def default_client(settings: Settings | None = None) -> SmsClient | None:
    settings = settings or get_settings()
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.sms_from:
        return TwilioSms(settings)
    return None


def error_text(error: Exception) -> str:
    """What is kept of a provider error: its kind and message with phone-like digit runs
    masked (Twilio names the number it refused), and the provider's error code if any."""
    code = getattr(error, "code", None)
    kind = f"{type(error).__name__} {code}" if isinstance(code, int) else type(error).__name__
    return f"{kind}: {_DIGIT_RUNS.sub('…', str(error))}"[:200]


def _release_abandoned(uow, stamp) -> int:
    abandoned = uow.outbox.claimed_before(stamp - CLAIM_LEASE)
    for note in abandoned:
        note.status, note.last_error = "uncertain", "发送中断，不知道是否已发出；为免重复，没有重发。"
        log.warning("notification %s left uncertain after an interrupted send", note.id)
    return len(abandoned)


def _claim(make_uow, limit: int) -> tuple[list[tuple[int, str, str]], int]:
    """Rows now ours to send (id, number, text), and how many abandoned claims were released."""
    stamp = now()
    with make_uow() as uow:
        released = _release_abandoned(uow, stamp)
        claimed = []
        for note in uow.outbox.claim_due(stamp, limit):
            note.status, note.claimed_at, note.attempts = "sending", stamp, note.attempts + 1
            claimed.append((note.id, decrypt(note.recipient_enc), decrypt(note.body_enc)))
        uow.commit()
    return claimed, released


def _record(make_uow, note_id: int, error: Exception | None) -> str:
    with make_uow() as uow:
        note = uow.outbox.get(note_id)
        stamp = now()
        note.claimed_at = None
        if error is None:
            note.status, note.sent_at, note.last_error, note.next_attempt_at = "sent", stamp, None, None
        else:
            note.last_error = error_text(error)
            if note.attempts >= MAX_ATTEMPTS:
                note.status, note.next_attempt_at = "failed", None
            else:
                note.status, note.next_attempt_at = "pending", stamp + RETRY_DELAYS[note.attempts - 1]
            log.warning("notification %s send failed (attempt %s)", note.id, note.attempts)
        outcome = "sent" if error is None else ("failed" if note.status == "failed" else "retry")
        uow.commit()
    return outcome


def _not_configured(make_uow, limit: int) -> int:
    with make_uow() as uow:
        due = uow.outbox.claim_due(now(), limit)
        for note in due:
            note.status, note.last_error = "not_sent", "SMS not configured (TWILIO_* settings empty)"
        uow.commit()
    return len(due)


def deliver_pending(make_uow: Callable, client_factory: Callable[[], SmsClient | None] = default_client,
                    limit: int = 50) -> dict:
    """One round; returns counts by outcome. Logs ids, never numbers or text."""
    counts = {"sent": 0, "not_sent": 0, "failed": 0, "retry": 0, "uncertain": 0}
    client = client_factory()
    if client is None:
        counts["not_sent"] = _not_configured(make_uow, limit)
        return counts
    claimed, counts["uncertain"] = _claim(make_uow, limit)
    for note_id, to, body in claimed:
        try:
            client.send(to, body)
        except Exception as error:  # noqa: BLE001 - any client failure is recorded, not raised
            counts[_record(make_uow, note_id, error)] += 1
        else:
            counts[_record(make_uow, note_id, None)] += 1
    return counts
