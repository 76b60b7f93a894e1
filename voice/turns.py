"""Turn-taking on the caller's audio: when speech starts (barge-in), when a turn ends.

Older callers pause mid-sentence and start slowly, so the end of a turn needs a longer
silence than the usual ~0.5 s (VOICE_END_SILENCE_MS, 1.2 s by default). A turn is also cut
at VOICE_MAX_UTTERANCE_MS, and a caller who says nothing for VOICE_NO_INPUT_MS after a
question produces a `no_input` event (the gateway reprompts gently, never hangs up).
Works on 20 ms frames of 16 kHz PCM16, the recogniser's format.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import webrtcvad

FRAME_MS = 20
FRAME_BYTES = 16000 * 2 * FRAME_MS // 1000        # 640 bytes of 16 kHz PCM16
END_SILENCE_MS = int(os.environ.get("VOICE_END_SILENCE_MS", "1200"))
START_SPEECH_MS = int(os.environ.get("VOICE_START_SPEECH_MS", "160"))   # ignore clicks and coughs
MAX_UTTERANCE_MS = int(os.environ.get("VOICE_MAX_UTTERANCE_MS", "20000"))
NO_INPUT_MS = int(os.environ.get("VOICE_NO_INPUT_MS", "7000"))
PRE_ROLL_MS = 300
VAD_MODE = int(os.environ.get("VOICE_VAD_MODE", "2"))   # 0 lenient … 3 strict about what is speech


@dataclass
class TurnDetector:
    end_silence_ms: int = END_SILENCE_MS
    start_speech_ms: int = START_SPEECH_MS
    max_utterance_ms: int = MAX_UTTERANCE_MS
    no_input_ms: int = NO_INPUT_MS
    vad_mode: int = VAD_MODE
    _vad: webrtcvad.Vad = field(init=False, repr=False)
    _speech_run: int = field(default=0, init=False)
    _silence_run: int = field(default=0, init=False)
    _waiting: int = field(default=0, init=False)
    _audio: bytearray = field(default_factory=bytearray, init=False)
    _pending: bytearray = field(default_factory=bytearray, init=False)
    in_speech: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._vad = webrtcvad.Vad(self.vad_mode)

    def reset(self) -> None:
        """Start listening for a new turn (after the bot asked something)."""
        self._speech_run = self._silence_run = self._waiting = 0
        self._audio.clear()
        self.in_speech = False

    @property
    def silence_ms(self) -> int:
        """How long the caller has been quiet inside the current turn."""
        return self._silence_run

    def utterance_so_far(self) -> bytes:
        """The current turn's audio from its lead-in up to now (for streaming recognition)."""
        return bytes(self._audio)

    def feed(self, pcm16k: bytes) -> list[tuple[str, bytes]]:
        """Events from this audio: ("speech_start", b""), ("end_of_turn", utterance),
        ("no_input", b""). Audio may arrive in any chunk size."""
        self._pending.extend(pcm16k)
        events = []
        while len(self._pending) >= FRAME_BYTES:
            frame = bytes(self._pending[:FRAME_BYTES])
            del self._pending[:FRAME_BYTES]
            event = self._frame(frame)
            if event:
                events.append(event)
        return events

    def _frame(self, frame: bytes) -> tuple[str, bytes] | None:
        speech = self._vad.is_speech(frame, 16000)
        if not self.in_speech:
            self._audio.extend(frame)
            self._speech_run = self._speech_run + FRAME_MS if speech else 0
            if self._speech_run >= self.start_speech_ms:
                self.in_speech, self._silence_run = True, 0
                return ("speech_start", b"")
            # keep a short lead-in: the speech run so far plus a pre-roll, because the
            # detector notices a soft first syllable (我…) only after it has begun
            del self._audio[:-FRAME_BYTES * ((self.start_speech_ms + PRE_ROLL_MS) // FRAME_MS)]
            self._waiting += FRAME_MS
            if self._waiting >= self.no_input_ms:
                self._waiting = 0
                return ("no_input", b"")
            return None
        self._audio.extend(frame)
        self._silence_run = 0 if speech else self._silence_run + FRAME_MS
        length_ms = len(self._audio) // FRAME_BYTES * FRAME_MS
        if self._silence_run >= self.end_silence_ms or length_ms >= self.max_utterance_ms:
            utterance = bytes(self._audio)
            self.reset()
            return ("end_of_turn", utterance)
        return None
