"""Deliver the outbox: SMS through Twilio's official client when configured.

Without credentials a notification is marked `not_sent` with the reason: it stays on
record for staff, never silently dropped. A failed send is retried a few times, then
marked `failed`.
"""
from __future__ import annotations

import logging
from typing import Callable, Protocol

from proxy_service.crypto import decrypt
from proxy_service.services.common import now
from proxy_service.settings import Settings, get_settings

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


class SmsClient(Protocol):
    def send(self, to: str, body: str) -> str: ...


class TwilioSms:
    """SMS through twilio.rest.Client (the official library)."""

    def __init__(self, settings: Settings, http_client=None):
        from twilio.rest import Client

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


def deliver_pending(uow, client_factory: Callable[[], SmsClient | None] = default_client, limit: int = 50) -> dict:
    """Send what is pending; returns counts by outcome. Logs ids, never numbers or text."""
    client = client_factory()
    counts = {"sent": 0, "not_sent": 0, "failed": 0, "retry": 0}
    with uow:
        for note in uow.outbox.pending(limit):
            if client is None:
                note.status, note.last_error = "not_sent", "SMS not configured (TWILIO_* settings empty)"
                counts["not_sent"] += 1
                continue
            note.attempts += 1
            try:
                client.send(decrypt(note.recipient_enc), note.body)
            except Exception as error:  # noqa: BLE001 - any client failure is recorded, not raised
                note.last_error = f"{type(error).__name__}: {str(error)[:200]}"
                if note.attempts >= MAX_ATTEMPTS:
                    note.status = "failed"
                    counts["failed"] += 1
                else:
                    counts["retry"] += 1
                log.warning("notification %s send failed (attempt %s)", note.id, note.attempts)
                continue
            note.status, note.sent_at, note.last_error = "sent", now(), None
            counts["sent"] += 1
        uow.commit()
    return counts
