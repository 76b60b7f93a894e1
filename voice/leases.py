"""The gateway vouches for its calls: every VOICE_LEASE_INTERVAL_SECONDS it renews the lease
the proxy service keeps on each call in progress here and releases the calls that ended.

A gateway that crashes, is killed or loses its network stops renewing; when the lease runs
out (VOICE_CALL_LEASE_SECONDS) the proxy service's worker ends those calls and files a
callback ticket for each caller. On a clean shutdown the keeper stops before the calls are
cut, so callers cut off by the shutdown are called back too.
"""
from __future__ import annotations

import asyncio
import logging

from voice import records, settings
from voice.core import CallCore

log = logging.getLogger(__name__)


async def lease_round(core: CallCore, seconds: int | None = None) -> bool:
    held, ended = core.lease_round()
    if not (held or ended):
        return True
    if await records.keep_leases(held, ended, seconds or settings.CALL_LEASE_SECONDS):
        return True
    core.not_released(ended)
    return False


async def keep_leases(core: CallCore, interval: float | None = None) -> None:
    interval = settings.LEASE_INTERVAL_SECONDS if interval is None else interval
    while True:
        try:
            await lease_round(core)
        except Exception:  # noqa: BLE001 - the next round tries again
            log.exception("lease round failed")
        await asyncio.sleep(interval)
