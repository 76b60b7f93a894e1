"""What every gateway of a cluster must know alike: short-lived, use-once facts about calls.

A call's steps may reach different gateways behind the balancer: Twilio's voice webhook
and its media stream, the dialplan's announcement, its AudioSocket connection and its
question afterwards. So the stream tickets already used and what the dialplan said are
kept here: in this process (`MemoryStore`, one gateway) or in Redis (`RedisStore`, when
VOICE_REDIS_URL is set). Three operations, each atomic on its own:

- put(key, value, ttl): remember a value for ttl seconds;
- take(key): the value, removed (only one caller ever gets it);
- claim(key, ttl): True only for the first caller within ttl (a used-once mark).
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Callable, Protocol

log = logging.getLogger(__name__)


class SharedStore(Protocol):
    async def put(self, key: str, value: str, ttl: float) -> None: ...
    async def take(self, key: str) -> str | None: ...
    async def claim(self, key: str, ttl: float) -> bool: ...


class MemoryStore:
    """One process's store: at most `max_entries` (the oldest go first), each until its ttl."""

    def __init__(self, *, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic):
        self._max, self._clock = max_entries, clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def _expire(self) -> None:
        now = self._clock()
        for key in [key for key, (until, _) in self._entries.items() if until < now]:
            del self._entries[key]

    def _set(self, key: str, value: str, ttl: float) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + ttl, value)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def put(self, key: str, value: str, ttl: float) -> None:
        self._expire()
        self._set(key, value, ttl)

    async def take(self, key: str) -> str | None:
        self._expire()
        entry = self._entries.pop(key, None)
        return None if entry is None else entry[1]

    async def claim(self, key: str, ttl: float) -> bool:
        self._expire()
        if key in self._entries:
            return False
        self._set(key, "1", ttl)
        return True


class RedisStore:
    """The cluster's store: Redis (SET PX, GETDEL, SET NX PX), keys under `prefix`."""

    def __init__(self, url: str, *, prefix: str = "helpline:voice:", timeout: float = 1.0):
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                           decode_responses=True)
        self._prefix = prefix

    @staticmethod
    def _ms(ttl: float) -> int:
        return max(1, int(ttl * 1000))

    async def put(self, key: str, value: str, ttl: float) -> None:
        await self._redis.set(self._prefix + key, value, px=self._ms(ttl))

    async def take(self, key: str) -> str | None:
        return await self._redis.getdel(self._prefix + key)

    async def claim(self, key: str, ttl: float) -> bool:
        return bool(await self._redis.set(self._prefix + key, "1", px=self._ms(ttl), nx=True))

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            return False


def store_from_settings() -> SharedStore:
    from voice import settings

    if settings.REDIS_URL:
        log.info("gateway state shared in Redis")
        return RedisStore(settings.REDIS_URL)
    return MemoryStore()
