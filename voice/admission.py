"""Whether the gateway takes one more call: load shed kindly, before the calls in progress slow down.

A new call is taken while both hold:
- fewer than VOICE_MAX_CALLS calls are in conversation here, counting the calls a Twilio
  webhook has just been told to connect whose stream has not started yet ("promised");
- the calls in conversation are answered in time: the 90th percentile of the turn latencies
  of the last VOICE_LATENCY_WINDOW_SECONDS is within VOICE_TURN_BUDGET_MS. Below
  VOICE_MIN_CALLS calls this is not asked (one slow answer on a quiet line is not a surge).
Otherwise the caller hears a short message and gets a callback ticket (one per caller number
and day, voice/shedding.py). Calls already in conversation are never cut.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Callable

from voice import settings

FULL, SLOW = "full", "slow"
MIN_SAMPLES = 5          # fewer recent turns than this say nothing about the latency


class RecentTurns:
    """The turn latencies of the last `window` seconds, as every call of this gateway answers."""

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic, limit: int = 10_000):
        self.window, self._clock = window, clock
        self._samples: deque[tuple[float, float]] = deque(maxlen=limit)

    def add(self, seconds: float) -> None:
        self._samples.append((self._clock(), seconds))

    def __len__(self) -> int:
        return len(self._samples)

    def quantile(self, q: float) -> float | None:
        oldest = self._clock() - self.window
        while self._samples and self._samples[0][0] < oldest:
            self._samples.popleft()
        if len(self._samples) < MIN_SAMPLES:
            return None
        ordered = sorted(seconds for _, seconds in self._samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# Every Speaker of this process reports here (voice/speaker.py); the admission reads it.
TURNS = RecentTurns(settings.LATENCY_WINDOW_SECONDS)


class Admission:
    def __init__(self, in_conversation: Callable[[], int], *, max_calls: int = settings.MAX_CALLS,
                 min_calls: int = settings.MIN_CALLS, budget_seconds: float = settings.TURN_BUDGET_MS / 1000,
                 promise_seconds: float = settings.STREAM_START_TIMEOUT + 5, turns: RecentTurns | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._in_conversation, self._clock = in_conversation, clock
        self._turns = turns if turns is not None else TURNS
        self.max_calls, self.min_calls, self.budget = max_calls, min_calls, budget_seconds
        self._promise_seconds = promise_seconds
        self._promised: dict[str, float] = {}      # call id → until when its stream is expected

    def _promised_now(self) -> int:
        now = self._clock()
        for call_id in [c for c, until in self._promised.items() if until < now]:
            del self._promised[call_id]
        return len(self._promised)

    def refusal(self) -> str | None:
        """None: take the call; else why not (FULL or SLOW)."""
        calls = self._in_conversation() + self._promised_now()
        if calls >= self.max_calls:
            return FULL
        if calls >= self.min_calls:
            p90 = self._turns.quantile(0.9)
            if p90 is not None and p90 > self.budget:
                return SLOW
        return None

    def promise(self, call_id: str) -> None:
        """A webhook took this call: count it until its stream starts (or fails to come)."""
        self._promised[call_id] = self._clock() + self._promise_seconds

    def admit(self, call_id: str | None) -> str | None:
        """A call's stream starts: a promised call is taken; any other is asked afresh."""
        if call_id is not None and self._promised.pop(call_id, None) is not None:
            return None
        return self.refusal()
