"""What the gateway's /health reports: its speech models, and whether Rasa, the action
server (Rasa's own dependency), the proxy service and (in a cluster) Redis answer, each with
how long it took."""
from __future__ import annotations

import asyncio
import time

import httpx

from voice import asr, settings
from voice.dialogue import RASA_URL

TIMEOUT_S = 1.0


async def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        ok = await check
    except Exception as error:  # noqa: BLE001 - a failed check is reported by its kind
        return {"ok": False, "error": type(error).__name__}
    result = {"ok": bool(ok), "ms": round((time.perf_counter() - started) * 1000, 1)}
    return result if ok else {**result, "error": "unexpected answer"}


async def _answers(url: str) -> bool:
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        return (await client.get(url)).status_code == 200


async def dependency_checks(shared) -> dict:
    async def speech_models() -> bool:
        return asr.loaded()

    actions = settings.ACTION_SERVER_URL.rstrip("/").removesuffix("/webhook")
    checks = {"speech_models": speech_models(), "rasa": _answers(f"{RASA_URL.rstrip('/')}/"),
              "actions": _answers(f"{actions}/health"),
              "proxy_service": _answers(f"{settings.PROXY_SERVICE_URL}/health")}
    if hasattr(shared, "ping"):
        checks["redis"] = shared.ping()
    results = await asyncio.gather(*(_timed(check) for check in checks.values()))
    return dict(zip(checks, results))
