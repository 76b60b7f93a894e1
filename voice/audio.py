"""Audio plumbing for telephone speech: G.711 μ-law ↔ 16-bit PCM, 8 kHz ↔ 16 kHz, levels.

Telephone audio is 8 kHz μ-law; the Chinese recognition models expect 16 kHz PCM. Quiet
callers (a handset held far away) are brought up to a speaking level before recognition.
"""
from __future__ import annotations

import audioop  # stdlib up to Python 3.12; the project is pinned to 3.11
import wave
from pathlib import Path

import numpy as np
import soxr

PHONE_RATE, ASR_RATE = 8000, 16000
SAMPLE_WIDTH = 2
FRAME_MS = 20
MULAW_FRAME_BYTES = PHONE_RATE * FRAME_MS // 1000      # 160 bytes = 20 ms of μ-law
TARGET_RMS = 3000                                      # a normal speaking level in PCM16
MAX_GAIN = 8.0


def mulaw_to_pcm16(mulaw: bytes) -> bytes:
    return audioop.ulaw2lin(mulaw, SAMPLE_WIDTH)


def pcm16_to_mulaw(pcm: bytes) -> bytes:
    return audioop.lin2ulaw(pcm, SAMPLE_WIDTH)


def resample(pcm: bytes, source_rate: int, target_rate: int) -> bytes:
    if source_rate == target_rate or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype=np.int16)
    return soxr.resample(samples, source_rate, target_rate).astype(np.int16).tobytes()


class PhoneUpsampler:
    """8 kHz PCM16 → 16 kHz PCM16 for one call's stream of frames: the filter carries over
    from frame to frame, and gives out ~100 ms at a time (the first frames give nothing).
    float32 inside: soxr's int16 stream is not repeatable from run to run."""

    def __init__(self) -> None:
        self._stream = soxr.ResampleStream(PHONE_RATE, ASR_RATE, 1, dtype="float32")

    def __call__(self, pcm: bytes) -> bytes:
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768
        upsampled = self._stream.resample_chunk(samples)
        return (np.clip(upsampled, -1, 32767 / 32768) * 32768).astype(np.int16).tobytes()


def normalize_level(pcm: bytes, target_rms: int = TARGET_RMS, max_gain: float = MAX_GAIN) -> bytes:
    """Raise quiet speech towards `target_rms` (never above `max_gain`, never clipping)."""
    if not pcm:
        return pcm
    rms = audioop.rms(pcm, SAMPLE_WIDTH)
    if rms == 0 or rms >= target_rms:
        return pcm
    peak = audioop.max(pcm, SAMPLE_WIDTH) or 1
    gain = min(target_rms / rms, max_gain, 32767 / peak)
    return audioop.mul(pcm, SAMPLE_WIDTH, gain)


def phone_to_asr(mulaw: bytes) -> bytes:
    """Caller audio as the recognizer wants it: 16 kHz PCM16, at a speaking level."""
    return normalize_level(resample(mulaw_to_pcm16(mulaw), PHONE_RATE, ASR_RATE))


def speech_to_phone(pcm: bytes, rate: int) -> list[bytes]:
    """Synthesised speech (PCM16 at `rate`) as 20 ms μ-law frames for the phone line."""
    mulaw = pcm16_to_mulaw(resample(pcm, rate, PHONE_RATE))
    frames = [mulaw[i:i + MULAW_FRAME_BYTES] for i in range(0, len(mulaw), MULAW_FRAME_BYTES)]
    if frames and len(frames[-1]) < MULAW_FRAME_BYTES:
        frames[-1] = frames[-1] + b"\xff" * (MULAW_FRAME_BYTES - len(frames[-1]))  # μ-law silence
    return frames


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """A PCM WAV file as mono 16-bit samples and its rate (stereo is mixed down, 8/24/32-bit
    converted). Raises ValueError with a plain reason for anything else."""
    try:
        with wave.open(str(path)) as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            pcm = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(f"not a PCM WAV file ({error})") from None
    if width == 1:
        pcm, width = audioop.lin2lin(audioop.bias(pcm, 1, -128), 1, 2), 2
    elif width != 2:
        pcm, width = audioop.lin2lin(pcm, width, 2), 2
    if channels == 2:
        pcm = audioop.tomono(pcm, 2, 0.5, 0.5)
    elif channels != 1:
        raise ValueError(f"{channels} channels: give a mono or stereo file")
    return pcm, rate
