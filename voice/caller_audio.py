"""The caller's audio in a call: turns as the listener hears them, and whether a new turn
is really the last one going on.

A caller who goes on talking soon after a turn ended (within VOICE_RESUME_WINDOW_SECONDS,
before they have heard the reply) was only pausing: the new utterance *joins* that turn.
Pauses are timed on the call's own audio clock (the line sends silence too), so a line
running faster than real time behaves the same.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from voice.audio import ASR_RATE, SAMPLE_WIDTH
from voice.listening import Listener
from voice.recognition import Utterance
from voice.settings import RESUME_WINDOW_S

log = logging.getLogger(__name__)


@dataclass
class SpokenTurn:
    """A caller's spoken turn that answered no particular question, while its reply has
    not been heard in full: if the caller goes on talking, the next turn joins it."""

    ended_at_ms: float           # on the call's audio clock
    text: str | None = None      # once recognised
    in_rasa: bool = False        # Rasa took it: a rewind undoes it before the joined turn
    went_on: bool = False        # the caller started talking again: its reply is not spoken
    final: bool = False          # its reply hands the call over: nothing joins it any more

    def goes_on_at(self, now_ms: float) -> bool:
        """Is speech starting at `now_ms` the same turn going on?"""
        return not self.final and now_ms - self.ended_at_ms <= RESUME_WINDOW_S * 1000


@dataclass(frozen=True)
class Heard:
    kind: str                           # speech_start | turn | no_input
    utterance: Utterance | None = None  # turn: `await utterance.finish()` for its words
    spoken: SpokenTurn | None = None    # turn: a free turn that a next one may join
    joins: SpokenTurn | None = None     # turn: the earlier turn this one goes on from


class CallerAudio:
    def __init__(self, listener: Listener):
        self.listener = listener
        self.clock_ms = 0.0
        self._open: SpokenTurn | None = None    # the latest free turn whose reply is not yet heard
        self._joins: SpokenTurn | None = None   # the turn the utterance now being spoken goes on from

    def feed(self, pcm: bytes) -> list[Heard]:
        """Caller audio (PCM16 at the recogniser's rate) → what was heard in it."""
        self.clock_ms += len(pcm) * 1000 / (ASR_RATE * SAMPLE_WIDTH)
        heard = []
        for kind, utterance in self.listener.feed(pcm):
            if kind == "speech_start":
                joins = self._open if self._open and self._open.goes_on_at(self.clock_ms) else None
                if joins is not None:
                    log.info("the caller went on after a pause: one turn, not two")
                    joins.went_on = True
                self._joins = joins
                heard.append(Heard("speech_start"))
            elif kind == "turn":
                spoken = SpokenTurn(self.clock_ms) if self.listener.expect is None else None
                heard.append(Heard("turn", utterance, spoken, self._joins))
                self._open, self._joins = spoken, None
            elif kind == "no_input":
                heard.append(Heard("no_input"))
        return heard

    @property
    def in_utterance(self) -> bool:
        return self.listener.utterance is not None

    def reply_heard(self) -> None:
        """The caller has heard the whole reply: what they say next is a new turn."""
        self._open = None
        self.listener.reset()

    def expect(self, kind: str | None, digits: int | None) -> None:
        """What the bot just asked for: the recogniser's vocabulary, how long to wait."""
        self.listener.expect, self.listener.digits_wanted = kind, digits

    def abandon(self) -> None:
        self.listener.abandon()
