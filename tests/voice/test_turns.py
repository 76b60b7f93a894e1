"""End-of-turn detection on real Mandarin speech through the phone path."""
from __future__ import annotations

import wave
from pathlib import Path

import pytest

from voice import audio
from voice.turns import FRAME_BYTES, FRAME_MS, TurnDetector

RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "audio"


def phone_speech(name: str) -> bytes:
    """A real recording as the recogniser gets it from a call: 8 kHz μ-law and back."""
    with wave.open(str(RECORDINGS / name)) as wav:
        pcm = wav.readframes(wav.getnframes())
    return audio.phone_to_asr(b"".join(audio.speech_to_phone(pcm, 16000)))


def silence(ms: int) -> bytes:
    return b"\x00\x00" * (16 * ms)


def feed_in_chunks(detector: TurnDetector, pcm: bytes, chunk: int = 333) -> list[tuple[str, bytes]]:
    events = []
    for start in range(0, len(pcm), chunk):
        events += detector.feed(pcm[start:start + chunk])
    return events


@pytest.mark.parametrize("name", ["paddlespeech_zh.wav", "wenet_aishell_BAC009S0724W0121.wav"])
def test_a_spoken_turn_ends_after_the_long_silence(name):
    speech = phone_speech(name)
    detector = TurnDetector(end_silence_ms=1200)
    events = feed_in_chunks(detector, silence(500) + speech + silence(1500))
    kinds = [kind for kind, _ in events]
    assert kinds == ["speech_start", "end_of_turn"]
    utterance = events[1][1]
    # The utterance holds the speech (and the closing silence), not the leading silence.
    assert len(speech) * 0.8 <= len(utterance) <= len(speech) + len(silence(1500))


def test_a_short_pause_does_not_end_the_turn():
    speech = phone_speech("paddlespeech_zh.wav")
    detector = TurnDetector(end_silence_ms=1200)
    # The recording ends in 0.5 s of silence: with 0.4 s more, the caller pauses 0.9 s.
    events = feed_in_chunks(detector, speech + silence(400) + speech + silence(1400))
    assert [kind for kind, _ in events] == ["speech_start", "end_of_turn"]


def test_silence_after_a_question_is_reported_not_ignored():
    detector = TurnDetector(no_input_ms=2000)
    events = feed_in_chunks(detector, silence(4100))
    assert [kind for kind, _ in events] == ["no_input", "no_input"]


def test_a_turn_is_cut_at_the_maximum_length():
    speech = phone_speech("funasr_asr_example.wav")
    detector = TurnDetector(max_utterance_ms=2000, end_silence_ms=5000)
    events = feed_in_chunks(detector, speech)
    ends = [payload for kind, payload in events if kind == "end_of_turn"]
    assert ends and len(ends[0]) <= 2000 // FRAME_MS * FRAME_BYTES
