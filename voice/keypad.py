"""Keys the caller presses: 0 → a person, * → repeat, at any time; digits are collected
when the bot asked for a number (# ends them, or a pause of VOICE_DIGIT_TIMEOUT_SECONDS)."""
from __future__ import annotations

import asyncio
import os
from typing import Callable

from contract import HUMAN, READABLE, REPEAT

DIGIT_TIMEOUT_S = float(os.environ.get("VOICE_DIGIT_TIMEOUT_SECONDS", "5"))

# submit(text, said): a caller turn for the dialogue; `said` is how the transcript shows it
Submit = Callable[[str, str | None], None]


class Keypad:
    def __init__(self, submit: Submit, timeout_s: float = DIGIT_TIMEOUT_S):
        self._submit, self.timeout_s = submit, timeout_s
        self._collect: dict | None = None
        self.digits = ""
        self._timer: asyncio.TimerHandle | None = None

    def expect(self, collect: dict | None) -> None:
        """The bot's latest question: collect up to `collect["max"]` digits, or none."""
        self._collect, self.digits = collect, ""
        self._stop_timer()

    def press(self, digit: str) -> None:
        if self._collect is not None and digit.isdigit():
            self.digits += digit
            self._stop_timer()
            self._timer = asyncio.get_running_loop().call_later(self.timeout_s, self.submit_digits)
            if len(self.digits) >= int(self._collect.get("max") or 32):
                self.submit_digits()
        elif digit == "#" and self.digits:
            self.submit_digits()
        elif digit == "0":
            self.ask_for_person()
        elif digit == "*":
            self.digits = ""
            self._submit(REPEAT, READABLE[REPEAT])

    def ask_for_person(self) -> None:
        self._submit(HUMAN, READABLE[HUMAN])

    def submit_digits(self) -> None:
        """Keyed digits are a caller turn; a lone 0 is still the way to a person."""
        self._stop_timer()
        digits, self.digits = self.digits, ""
        if digits == "0":
            self.ask_for_person()
        elif digits:
            self._submit(digits, None)

    def cancel(self) -> None:
        self._stop_timer()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
