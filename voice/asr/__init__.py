"""Speech recognition for the voice gateway: one interface, two engines.

    recognizer = get_recognizer()                 # once per process, shared by every call
    session = recognizer.session("yes_no")        # one utterance; None = open domain
    session.accept(pcm16k)                        # 16 kHz mono PCM16, any chunk size
    so_far = session.partial()                    # what was heard so far (turn-taking)
    text = session.finish()                       # Simplified Chinese, no spaces

Engines (ASR_ENGINE): "transducer" (the streaming zipformer transducer in
../shared/models with a domain-aware pinyin → 汉字 conversion; transducer_engine.py),
"vosk" (deployments: vosk-model-small-cn-0.22 under VOSK_MODEL_PATH, fetched by `make
fetch-models`), or "auto" (the default: Vosk when VOSK_MODEL_PATH holds a Chinese model,
else the transducer).

Session methods block (they decode): call them off the event loop, e.g. through
`asyncio.to_thread`, one call at a time per session. Sessions of different calls may run
in parallel threads. Open-domain transcripts come back with near-miss service names
repaired (`normalize_service_names`: 公鸡金 → 公积金).

Restricted vocabularies ("yes_no", "digits", "mode", "day"; see vocabularies.py) are
decoded next to the open domain: the answer comes back when the caller gave one (是的,
幺三八…, 明天上午), and off-list speech comes back as the open transcript, never forced
onto a phrase. After finish(), `session.source` says which ("open-in-vocabulary",
"phrases" or "open").
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Protocol

from voice.asr.service_names import normalize_service_names
from voice.asr.vocabularies import VOCABULARIES

__all__ = ["RecognitionSession", "Recognizer", "get_recognizer", "transcribe", "transcribe_sync",
           "normalize_service_names", "VOCABULARIES", "ENGINES"]

log = logging.getLogger(__name__)
ENGINES = ("transducer", "vosk")


class RecognitionSession(Protocol):
    def accept(self, pcm16k: bytes) -> None:
        """Feed 16 kHz mono PCM16 (decoded as it arrives)."""

    def partial(self) -> str:
        """The transcript so far ("" if nothing yet)."""

    def finish(self) -> str:
        """The final transcript (Simplified Chinese, no spaces between words)."""


class Recognizer(Protocol):
    name: str

    def session(self, vocabulary: str | None = None, *, narrowband: bool = False) -> RecognitionSession:
        """A new utterance; vocabulary None = open domain, or a name in VOCABULARIES;
        narrowband: telephone audio (below 4 kHz) upsampled to 16 kHz."""


_recognizers: dict[str, Recognizer] = {}
_lock = threading.Lock()


def _resolve(name: str | None) -> str:
    from voice.asr import settings
    from voice.asr.vosk_engine import is_chinese_model

    choice = (name or settings.ENGINE).strip().lower()
    if choice == "auto":
        if is_chinese_model(settings.VOSK_MODEL_PATH):
            choice = "vosk"
            log.info("speech recognition: Vosk (%s)", settings.VOSK_MODEL_PATH)
        else:
            choice = "transducer"
            log.info("speech recognition: the streaming transducer (no Chinese Vosk model at %s)",
                     settings.VOSK_MODEL_PATH)
    if choice not in ENGINES:
        raise RuntimeError(f"ASR_ENGINE must be one of auto, {', '.join(ENGINES)}; not {choice!r}")
    return choice


def loaded() -> bool:
    """Whether this process has loaded a recogniser (the gateway does before its first call)."""
    return bool(_recognizers)


def get_recognizer(name: str | None = None) -> Recognizer:
    """The process's recognizer for `name` (default ASR_ENGINE), loaded on first use.

    Raises RuntimeError naming the missing model path and how to get it."""
    choice = _resolve(name)
    with _lock:
        if choice not in _recognizers:
            if choice == "vosk":
                from voice.asr.vosk_engine import VoskRecognizer

                _recognizers[choice] = VoskRecognizer()
            else:
                from voice.asr.transducer_engine import TransducerRecognizer

                _recognizers[choice] = TransducerRecognizer()
        return _recognizers[choice]


def transcribe_sync(recognizer: Recognizer, pcm16k: bytes, vocabulary: str | None = None,
                    narrowband: bool = False) -> str:
    session = recognizer.session(vocabulary, narrowband=narrowband)
    session.accept(pcm16k)
    return session.finish()


async def transcribe(recognizer: Recognizer, pcm16k: bytes, vocabulary: str | None = None,
                     narrowband: bool = False) -> str:
    """A whole utterance (16 kHz PCM16), decoded in a worker thread."""
    return await asyncio.to_thread(transcribe_sync, recognizer, pcm16k, vocabulary, narrowband)
