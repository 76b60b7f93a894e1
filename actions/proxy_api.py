"""Client of the proxy_service API for the actions.

Every write carries an idempotency key made from the conversation and the user turn it
answers: when Rasa retries an action, or this client retries a write that timed out, the
retry gets the first response back instead of making a second booking or ticket. A write
that never got an answer, even on its retries, may have happened: `OutcomeUnknown` says so,
and the caller is told the truth ("not sure"), never "it failed".
"""
from __future__ import annotations

import logging
import time
from typing import Any

import requests
from rasa_sdk import Tracker
from urllib3.exceptions import NewConnectionError

from actions import settings
from actions.metrics import API_REQUESTS

log = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    """The API could not be reached or failed: the caller must not be told it worked."""


class OutcomeUnknown(ServiceUnavailable):
    """A write reached the API but no answer came back: it may have been done."""


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


RETRY_PAUSES_SECONDS = (0.5, 1.5, 3.0)


def _never_reached(error: requests.RequestException) -> bool:
    """Refused or timed out while connecting: the API never saw the request."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def _send(method: str, path: str, headers: dict, json: dict | None, params: dict | None) -> requests.Response:
    """One request; ServiceUnavailable if it surely did nothing, OutcomeUnknown if it may have."""
    try:
        response = requests.request(method, f"{settings.PROXY_SERVICE_URL}{path}", json=json, params=params,
                                    headers=headers, timeout=settings.API_TIMEOUT_SECONDS)
    except requests.RequestException as error:
        if _never_reached(error):
            log.error("proxy_service unreachable: %s", type(error).__name__)
            API_REQUESTS.labels("unreachable").inc()
            raise ServiceUnavailable(type(error).__name__) from error
        log.error("proxy_service gave no answer: %s", type(error).__name__)  # read timeout, dropped connection
        API_REQUESTS.labels("no_answer").inc()
        raise OutcomeUnknown(type(error).__name__) from error
    if response.status_code == 503:                   # busy: the transaction was rolled back
        log.error("proxy_service busy on %s %s", method, path.split("/")[2])
        API_REQUESTS.labels("busy").inc()
        raise ServiceUnavailable("HTTP 503")
    if response.status_code >= 500:
        log.error("proxy_service error %s on %s %s", response.status_code, method, path.split("/")[2])
        API_REQUESTS.labels("no_answer").inc()
        raise OutcomeUnknown(f"HTTP {response.status_code}")
    API_REQUESTS.labels("answered").inc()
    return response


def call(method: str, path: str, *, json: dict | None = None, params: dict | None = None,
         idempotency_key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {settings.SERVICE_TOKEN}"}
    attempts = 1
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
        attempts = max(1, settings.API_WRITE_ATTEMPTS)
    maybe_done = False
    for attempt in range(attempts):
        if attempt:
            time.sleep(RETRY_PAUSES_SECONDS[min(attempt, len(RETRY_PAUSES_SECONDS)) - 1])
        try:
            response = _send(method, path, headers, json, params)
            break
        except OutcomeUnknown:
            maybe_done = True
        except ServiceUnavailable:
            pass
    else:
        raise (OutcomeUnknown if maybe_done else ServiceUnavailable)(f"no answer after {attempts} attempt(s)")
    payload = response.json() if response.content else {}
    if response.status_code >= 400:
        raise Rejected(response.status_code, payload if isinstance(payload, dict) else {})
    return payload
