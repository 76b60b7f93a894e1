"""What the gateway writes to the proxy service: call records, the leases on its calls and,
when Rasa is down, the callback ticket the caller asked for. Failures are logged and never end a call."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import httpx

from voice import settings

log = logging.getLogger(__name__)


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=settings.PROXY_SERVICE_URL, timeout=settings.PROXY_SERVICE_TIMEOUT,
                             headers={"Authorization": f"Bearer {settings.SERVICE_TOKEN}"})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


async def report(call_id: str, *, channel: str, caller_phone: str | None = None, started: bool = False,
                 ended: bool = False, status: str | None = None, duration_seconds: int | None = None,
                 transfer: dict | None = None, lease_seconds: int | None = None) -> bool:
    """Record what is known of a call (PUT is an upsert: reports may come in any order)."""
    body: dict = {"channel": channel}
    if caller_phone:
        body["caller_phone"] = caller_phone
    if started:
        body["started_at"] = _now()
    if ended:
        body["ended_at"] = _now()
    if status:
        body["status"] = status
    if duration_seconds is not None:
        body["duration_seconds"] = duration_seconds
    if transfer:
        body["transfer"] = transfer
    if lease_seconds is not None:
        body["lease_seconds"] = lease_seconds
    return await _write("PUT", f"/api/calls/{call_id}", "call record", json=body) is not None


async def _write(method: str, path: str, what: str, **request) -> dict | None:
    """The proxy service's JSON answer, or None (logged) when it refused or could not be reached."""
    try:
        async with _client() as client:
            response = await client.request(method, path, **request)
        if response.status_code >= 400:
            log.error("%s refused: HTTP %s %s", what, response.status_code, response.text[:200])
            return None
        return response.json()
    except (httpx.HTTPError, ValueError) as error:
        log.error("%s not written: %s", what, type(error).__name__)
        return None


async def keep_leases(held: list[str], ended: list[str], seconds: int) -> bool:
    """Renew the leases on the calls this gateway holds; release those that ended."""
    body = {"renew": held, "release": ended, "seconds": seconds}
    return await _write("POST", "/api/calls/leases", "call leases", json=body) is not None


async def file_callback(call_id: str, *, caller_phone: str | None, channel: str, transcript: list[dict],
                        reason: str = "timeout") -> str | None:
    """A callback ticket written by the gateway itself: the assistant did not answer
    ("timeout"), or the line was full ("busy")."""
    body = {"conversation_id": call_id[:128], "reason": reason, "channel": channel, "caller_phone": caller_phone,
            "transcript": transcript, "filled_slots": {}, "failed_turns": 0}
    ticket = await _write("POST", "/api/tickets", "callback ticket", json=body,
                          headers={"Idempotency-Key": f"{call_id}:callback"})
    return ticket.get("reference") if isinstance(ticket, dict) else None
