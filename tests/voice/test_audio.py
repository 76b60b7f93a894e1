"""Telephone audio conversions on a real Mandarin recording (../shared/audio)."""
from __future__ import annotations

import audioop
import wave
from pathlib import Path

import numpy as np
import pytest

from voice import audio

RECORDING = Path(__file__).resolve().parents[3] / "shared" / "audio" / "paddlespeech_zh.wav"


@pytest.fixture(scope="module")
def speech_16k() -> bytes:
    with wave.open(str(RECORDING)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (16000, 2, 1)
        return wav.readframes(wav.getnframes())


def correlation(a: bytes, b: bytes) -> float:
    x, y = np.frombuffer(a, np.int16).astype(float), np.frombuffer(b, np.int16).astype(float)
    n = min(len(x), len(y))
    return float(np.corrcoef(x[:n], y[:n])[0, 1])


def test_speech_survives_the_phone_line_round_trip(speech_16k):
    frames = audio.speech_to_phone(speech_16k, 16000)
    assert all(len(frame) == audio.MULAW_FRAME_BYTES for frame in frames)
    assert len(frames) == pytest.approx(len(speech_16k) / 2 / 16000 * 50, abs=1)   # 50 frames a second
    back = audio.phone_to_asr(b"".join(frames))
    assert len(back) == pytest.approx(len(speech_16k), rel=0.01)
    # Telephone band (8 kHz) keeps the speech: the waveform still matches closely.
    band_limited = audio.resample(audio.resample(speech_16k, 16000, 8000), 8000, 16000)
    assert correlation(audio.normalize_level(band_limited), back) > 0.95


def test_quiet_caller_is_brought_up_but_never_clipped(speech_16k):
    quiet = audioop.mul(speech_16k, 2, 0.05)
    louder = audio.normalize_level(quiet)
    assert audioop.rms(louder, 2) > 4 * audioop.rms(quiet, 2)
    assert audioop.max(louder, 2) <= 32767
    loud = audioop.mul(speech_16k, 2, 1.5 * audio.TARGET_RMS / audioop.rms(speech_16k, 2))
    assert audio.normalize_level(loud) == loud          # already at speaking level: untouched


def test_silence_and_empty_input_pass_through():
    assert audio.normalize_level(b"") == b""
    assert audio.normalize_level(b"\x00\x00" * 160) == b"\x00\x00" * 160
    assert audio.speech_to_phone(b"", 16000) == []
