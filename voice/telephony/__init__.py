"""The boundary between a call's carrier and the call itself.

A *line* is one live connection to a caller — a Twilio Media Stream, an Asterisk
AudioSocket, a kiosk's WebSocket. Its adapter owns everything about that carrier: the wire
format and codec, the call id and caller number, status callbacks and how a call moves to
staff. The call (voice/call.py) sees only `CallEvent`s, with the caller's audio as PCM16 at
the recogniser's rate, and answers through the `Line` commands: play PCM, mark, clear,
show, transfer, hang up. Recognition, dialogue and speech never learn which carrier it is.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)
MAX_MALFORMED = 200     # a door sending only garbage is closed, cleanly
MAX_FAILURES = 20       # events the call failed on before the door gives up


class MalformedMessage(ValueError):
    """A wire message that cannot be understood: logged and skipped, the call goes on."""


@dataclass(frozen=True)
class CallEvent:
    kind: str                      # start | audio | key | person | played | stop
    call_id: str | None = None     # start: the carrier's id of the call
    caller: str | None = None      # start: the calling number, when the carrier vouches for it
    pcm: bytes = b""               # audio: PCM16 LE mono at voice.audio.ASR_RATE (16 kHz)
    digit: str | None = None       # key: 0-9 * #
    mark: str | None = None        # played: everything sent before this mark has been heard


# person: the caller asked for staff without words or keys (a kiosk's 找工作人员 button)
START, AUDIO, KEY, PERSON, PLAYED, STOP = "start", "audio", "key", "person", "played", "stop"


class Line(Protocol):
    """What a call can do to the caller's side, whatever carries it."""

    channel: str       # phone | kiosk: the call record's and the assistant's channel
    narrowband: bool   # the caller's audio came through a telephone band (below 4 kHz)
    prompts_on_silence: bool   # silence after a question means something (a phone: yes; a kiosk: no)

    async def play(self, pcm: bytes, rate: int) -> None:
        """Queue speech (PCM16 LE mono at `rate`) to be heard after what is queued already."""

    async def mark(self, name: str) -> None:
        """A `played` event named `name` comes back once everything queued before it is heard."""

    async def clear(self) -> None:
        """Drop everything not yet heard (barge-in); its marks never come back."""

    async def show(self, kind: str, content: dict) -> None:
        """Something for a screen (captions, a checklist, where to go); a phone ignores it."""

    async def transfer(self, call_id: str, handoff: dict) -> dict:
        """Move the caller to staff for `handoff` (its ticket exists); the record of what
        happened: `outcome` transferred | failed | not_configured, and why."""

    async def hang_up(self) -> None:
        """End the call on the carrier's side; nothing is sent after it."""


class Intake:
    """A door's messages into its call: a malformed one is skipped (the first logged as a
    warning), an event the call fails on is logged — one bad message never takes the call
    down; past MAX_MALFORMED of the one or MAX_FAILURES of the other the door gives up."""

    def __init__(self, session: Any, parse: Callable[[Any], CallEvent | None], door: str, unit: str = "messages"):
        self.session, self._parse, self.door, self.unit = session, parse, door, unit
        self.malformed = self.failures = 0

    @property
    def hopeless(self) -> bool:
        return self.malformed > MAX_MALFORMED or self.failures > MAX_FAILURES

    @property
    def why_hopeless(self) -> str:
        if self.malformed > MAX_MALFORMED:
            return f"more than {MAX_MALFORMED} malformed {self.unit}"
        return "the call keeps failing"

    def reject(self, error: MalformedMessage) -> None:
        self.malformed += 1
        log.log(logging.WARNING if self.malformed == 1 else logging.DEBUG, "%s %s skipped: %s",
                self.door, self.unit, error)

    def parse(self, message: Any) -> CallEvent | None:
        try:
            return self._parse(message)
        except MalformedMessage as error:
            self.reject(error)
            return None

    async def deliver(self, event: CallEvent) -> None:
        try:
            await self.session.handle(event)
        except Exception:   # noqa: BLE001 - one bad event never takes the call down
            self.failures += 1
            log.exception("%s event %s failed", self.door, event.kind)
