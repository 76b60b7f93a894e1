"""The caller's side of a call: audio in, turns out.

Takes the caller's audio as 16 kHz PCM16 (the recogniser's format) in any chunk size and
turns it into events for the call:

    ("speech_start", None)     the caller began to speak (barge-in if the bot is talking)
    ("turn", utterance)        the caller finished a turn: `await utterance.finish()`
    ("no_input", None)         the caller has said nothing for a while after a question

Each turn is streamed into a recogniser session as it is spoken (lead-in included, a
short tail of silence at most: given seconds of silence a recogniser invents words).
When the caller pauses, the words heard so far decide how long to wait before the turn
ends (turns.end_silence_for), given what the bot asked for (`expect`, `digits_wanted`).
Quiet callers are raised to a speaking level, one gain per utterance from its first words.
"""
from __future__ import annotations

import asyncio
import audioop

from voice.asr import Recognizer
from voice.audio import MAX_GAIN, SAMPLE_WIDTH, TARGET_RMS
from voice.recognition import Utterance
from voice.turns import TurnDetector, end_silence_for

# Silence inside a turn reaches the recogniser only this long: the end-of-turn wait is
# long for older callers, and a recogniser given seconds of silence invents words in it.
TRAILING_SILENCE_MS = 400


class Listener:
    def __init__(self, recognizer: Recognizer, *, narrowband: bool, detector: TurnDetector | None = None,
                 adaptive: bool = True):
        self.recognizer, self.narrowband, self.adaptive = recognizer, narrowband, adaptive
        self.detector = detector or TurnDetector()
        self.expect: str | None = None           # what the bot asked for (a recogniser vocabulary)
        self.digits_wanted: int | None = None    # how many digits, when it asked for a number
        self.utterance: Utterance | None = None
        self._gain = 1.0
        self.judging: set[asyncio.Task] = set()

    def feed(self, pcm: bytes) -> list[tuple[str, Utterance | None]]:
        events: list[tuple[str, Utterance | None]] = []
        fed = False
        for kind, _audio in self.detector.feed(pcm):
            if kind == "speech_start":
                self._start_utterance()           # feeds everything heard so far, this chunk included
                fed = True
                events.append(("speech_start", None))
            elif kind == "pause" and self.adaptive:      # not adaptive: the fixed END_SILENCE_MS
                self._judge_pause()
            elif kind == "end_of_turn":
                utterance, self.utterance = self.utterance, None
                if utterance is not None:
                    events.append(("turn", utterance))
            elif kind == "no_input":
                events.append(("no_input", None))
        if self.utterance is not None and self.detector.in_speech and not fed \
                and self.detector.silence_ms <= TRAILING_SILENCE_MS:
            self.utterance.feed(self._level(pcm))
        return events

    def reset(self) -> None:
        """The bot has finished speaking: listen for a new turn."""
        self.detector.reset()

    def abandon(self) -> None:
        """The call ended mid-utterance."""
        if self.utterance is not None:
            self.utterance.abandon()
            self.utterance = None

    def _level(self, pcm: bytes) -> bytes:
        return audioop.mul(pcm, SAMPLE_WIDTH, self._gain) if self._gain != 1.0 else pcm

    def _start_utterance(self) -> None:
        lead_in = self.detector.utterance_so_far()
        rms = audioop.rms(lead_in, SAMPLE_WIDTH) if lead_in else 0
        peak = audioop.max(lead_in, SAMPLE_WIDTH) if lead_in else 0
        self._gain = 1.0 if not rms or rms >= TARGET_RMS else min(TARGET_RMS / rms, MAX_GAIN, 32767 / max(peak, 1))
        self.utterance = Utterance(self.recognizer, self.expect, narrowband=self.narrowband)
        self.utterance.feed(self._level(lead_in))

    def _judge_pause(self) -> None:
        """The caller went quiet mid-turn: how long to wait depends on what they said so far."""
        utterance, pause = self.utterance, self.detector.pauses
        if utterance is None:
            return

        async def judge() -> None:
            words = await utterance.partial()
            self.detector.wait(end_silence_for(words, self.expect, self.digits_wanted, self.detector.speech_ms), pause)

        task = asyncio.get_running_loop().create_task(judge())
        self.judging.add(task)
        task.add_done_callback(self.judging.discard)
