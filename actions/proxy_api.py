"""Client of the proxy_service API for the actions.

Every write carries an idempotency key made from the conversation and the user turn it
answers: when Rasa retries an action, the retry gets the first response back instead of
making a second booking or ticket.
"""
from __future__ import annotations

import logging
from typing import Any

import requests
from rasa_sdk import Tracker

from actions import settings

log = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    """The API could not be reached or failed: the caller must not be told it worked."""


class Rejected(Exception):
    """The API refused the request (4xx); `message_zh` says why, in words for the caller."""

    def __init__(self, status: int, payload: dict):
        super().__init__(payload.get("message_en", "rejected"))
        self.status, self.payload = status, payload
        self.message_zh = payload.get("message_zh", "")
        self.code = payload.get("error", "")


def turn_key(tracker: Tracker, purpose: str) -> str:
    """Same conversation + same user turn + same purpose → same key."""
    users = [e for e in tracker.events if e.get("event") == "user"]
    stamp = users[-1].get("timestamp") if users else "start"
    return f"{tracker.sender_id}:{stamp}:{purpose}"[:128]


def call(method: str, path: str, *, json: dict | None = None, params: dict | None = None,
         idempotency_key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {settings.SERVICE_TOKEN}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    try:
        response = requests.request(method, f"{settings.PROXY_SERVICE_URL}{path}", json=json, params=params,
                                    headers=headers, timeout=settings.API_TIMEOUT_SECONDS)
    except requests.RequestException as error:
        log.error("proxy_service unreachable: %s", type(error).__name__)
        raise ServiceUnavailable(str(type(error).__name__)) from error
    if response.status_code >= 500:
        log.error("proxy_service error %s on %s %s", response.status_code, method, path.split("/")[2])
        raise ServiceUnavailable(f"HTTP {response.status_code}")
    payload = response.json() if response.content else {}
    if response.status_code >= 400:
        raise Rejected(response.status_code, payload if isinstance(payload, dict) else {})
    return payload
