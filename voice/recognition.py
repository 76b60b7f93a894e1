"""Streaming one utterance into a recogniser without blocking the event loop.

Audio arrives every 20 ms; decoding runs in a small thread pool shared by all calls
(VOICE_ASR_THREADS), one chunk batch at a time per utterance, so that when the caller
stops talking most of the decoding is already done and only the final pass is left.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

from voice.asr import Recognizer
from voice.metrics import RECOGNITION_RTF

log = logging.getLogger(__name__)
ASR_THREADS = int(os.environ.get("VOICE_ASR_THREADS", str(max(2, os.cpu_count() or 2))))
_executor = ThreadPoolExecutor(max_workers=ASR_THREADS, thread_name_prefix="asr")


class Utterance:
    def __init__(self, recognizer: Recognizer, vocabulary: str | None = None, narrowband: bool = False):
        self._session = recognizer.session(vocabulary, narrowband=narrowband)
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._audio_bytes, self._decoding_seconds = 0, 0.0
        self._task = asyncio.get_running_loop().create_task(self._decode())

    def feed(self, pcm16k: bytes) -> None:
        if pcm16k:
            self._chunks.put_nowait(pcm16k)

    async def partial(self) -> str:
        """The words heard so far (what turn-taking looks at during a pause)."""
        return await asyncio.get_running_loop().run_in_executor(_executor, self._session.partial)

    async def finish(self) -> str:
        """The final transcript once all audio fed so far is decoded."""
        self._chunks.put_nowait(None)
        return await self._task

    def abandon(self) -> None:
        """The call ended mid-utterance: finish in the background so pooled decoders return."""
        self._chunks.put_nowait(None)

    def _timed(self, step, *arguments):
        """Run a decoding step in the pool, adding its time to this utterance's."""
        started = time.perf_counter()
        try:
            return step(*arguments)
        finally:
            self._decoding_seconds += time.perf_counter() - started

    async def _decode(self) -> str:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._chunks.get()]
            while batch[-1] is not None and not self._chunks.empty():
                batch.append(self._chunks.get_nowait())
            audio = b"".join(chunk for chunk in batch if chunk)
            if audio:
                self._audio_bytes += len(audio)
                await loop.run_in_executor(_executor, self._timed, self._session.accept, audio)
            if batch[-1] is None:
                text = await loop.run_in_executor(_executor, self._timed, self._session.finish)
                if self._audio_bytes:
                    RECOGNITION_RTF.observe(self._decoding_seconds / (self._audio_bytes / 32000))   # 16 kHz PCM16
                return text
