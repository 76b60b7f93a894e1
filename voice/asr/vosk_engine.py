"""Vosk (Kaldi) recognition: one model per process, one recogniser per utterance.

`vosk.Model` is loaded once and shared by every session (Vosk's model is read-only and
safe to share between threads); each session gets its own `KaldiRecognizer` at 16 kHz.
A restricted vocabulary becomes a runtime grammar (the KaldiRecognizer(model, rate,
phrases) constructor) — Vosk's small models (HCLr.fst + Gr.fst) support this, the big
ones do not. Grammar phrases are split into words of the model's vocabulary, phrases it
cannot spell are dropped, and "[unk]" is added when the model has it, so off-list speech
can come out as [unk] instead of a phrase. A constrained session also decodes the
audio open-domain and keeps the phrase result only when both agree (vocabularies.choose).
"""
from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path
from typing import Mapping, Sequence

from voice.asr import settings, vocabularies

log = logging.getLogger(__name__)
_ASCII_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")

RATE = 16000
BLOCK_BYTES = RATE * 2 // 10          # 100 ms: fixed blocks make results independent of chunking
UNK = "[unk]"
_loaded: dict[Path, object] = {}
_load_lock = threading.Lock()


def is_chinese_model(path: Path | str | None) -> bool:
    """Does `path` hold a Vosk model for Chinese? (its name, README or word list says so)"""
    if not path:
        return False
    path = Path(path)
    if not (path / "am" / "final.mdl").exists():
        return False
    if re.search(r"(^|[-_])(cn|zh|chinese|mandarin)([-_.]|$)", path.name.lower()):
        return True
    readme = path / "README"
    if readme.exists() and re.search(r"chinese|mandarin", readme.read_text(errors="ignore"), re.I):
        return True
    words = path / "graph" / "words.txt"
    if words.exists():
        with open(words, encoding="utf-8", errors="ignore") as lines:
            sample = "".join(next(lines, "") for _ in range(2000))
        return len(re.findall(r"[\u4e00-\u9fff]", sample)) > 100
    return False


def load_model(path: Path):
    """The shared vosk.Model for `path` (loaded once per process)."""
    import vosk

    path = Path(path)
    with _load_lock:
        if path not in _loaded:
            if not (path / "am" / "final.mdl").exists():
                raise RuntimeError(
                    f"Vosk model not found at {path}. Run `make fetch-models` to download "
                    f"{settings.VOSK_MODEL_NAME} there, or set VOSK_MODEL_PATH (or ASR_ENGINE=transducer).")
            vosk.SetLogLevel(-1)
            _loaded[path] = vosk.Model(str(path))
        return _loaded[path]


def clean_transcript(text: str) -> str:
    """Vosk's words as one Chinese string: no spaces between Han characters, Arabic digits
    spelled as Chinese digits, filler tokens ([unk], <noise>) dropped."""
    text = re.sub(r"<[^>]*>|\[[^\]]*\]|\+\+[^+]*\+\+", " ", text).translate(_ASCII_DIGITS)
    text = re.sub(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])", "", text.strip())
    return re.sub(r"\s+", " ", text).strip()


class VoskRecognizer:
    name = "vosk"

    def __init__(self, model_path: Path | str | None = None,
                 phrase_lists: Mapping[str, Sequence[str]] | None = None,
                 agreement_threshold: float | None = None, normalize_names: bool = True):
        self.model_path = Path(model_path) if model_path else settings.VOSK_MODEL_PATH
        self.model = load_model(self.model_path)
        self.agreement_threshold = settings.AGREEMENT_THRESHOLD if agreement_threshold is None else agreement_threshold
        self.normalize_names = normalize_names
        self.has_unk = self.known(UNK)
        self.phrase_lists = dict(phrase_lists if phrase_lists is not None else vocabularies.VOCABULARIES)
        self.grammars = {name: self._grammar(name, phrases) for name, phrases in self.phrase_lists.items()}
        if normalize_names:                          # load pinyin tables now, not in the first call
            from voice.asr.service_names import normalize_service_names

            normalize_service_names("社保卡")
        log.info("speech recognition: Vosk model %s (runtime grammars%s)", self.model_path,
                 " with [unk]" if self.has_unk else ", no [unk] word")

    def known(self, word: str) -> bool:
        return self.model.vosk_model_find_word(word) >= 0

    def _spell(self, phrase: str) -> str | None:
        """`phrase` as words of the model's vocabulary (longest first), None if impossible."""
        if all(self.known(w) for w in phrase.split()):
            return phrase
        text, words, i = phrase.replace(" ", ""), [], 0
        while i < len(text):
            for size in range(min(6, len(text) - i), 0, -1):
                if self.known(text[i:i + size]):
                    words.append(text[i:i + size])
                    i += size
                    break
            else:
                return None
        return " ".join(words)

    def _grammar(self, name: str, phrases: Sequence[str]) -> str:
        spelled, dropped = [], []
        for phrase in phrases:
            (spelled.append if (s := self._spell(phrase)) else dropped.append)(s or phrase)
        if dropped:
            log.warning("vocabulary %s: the Vosk model cannot spell %s; left out", name, ", ".join(dropped))
        if self.has_unk:
            spelled.append(UNK)
        return json.dumps(list(dict.fromkeys(spelled)), ensure_ascii=False)

    def session(self, vocabulary: str | None = None, *, narrowband: bool = False) -> "VoskSession":
        """A new utterance (narrowband: telephone audio; the Kaldi model takes it as it is)."""
        if vocabulary is not None and vocabulary not in self.grammars:
            raise ValueError(f"unknown vocabulary {vocabulary!r}; known: {', '.join(self.grammars)}")
        return VoskSession(self, vocabulary)


class _Stream:
    """One KaldiRecognizer with the text of the segments it has closed so far."""

    def __init__(self, recognizer):
        self.recognizer = recognizer
        self.segments: list[str] = []
        self.partial = ""

    def feed(self, block: bytes) -> None:
        if self.recognizer.AcceptWaveform(block):
            self.segments.append(json.loads(self.recognizer.Result()).get("text", ""))
            self.partial = ""
        else:
            self.partial = json.loads(self.recognizer.PartialResult()).get("partial", "")

    def final(self) -> str:
        self.segments.append(json.loads(self.recognizer.FinalResult()).get("text", ""))
        return " ".join(s for s in self.segments if s)

    def text_so_far(self) -> str:
        return " ".join(s for s in [*self.segments, self.partial] if s)


class VoskSession:
    def __init__(self, recognizer: VoskRecognizer, vocabulary: str | None):
        # Cheap on purpose (sessions are opened on the event loop): the Kaldi recognisers
        # (a grammar is compiled when one is made) are created in the worker thread.
        self._recognizer = recognizer
        self.vocabulary = vocabulary
        self._open: _Stream | None = None
        self._restricted: _Stream | None = None
        self._pending = bytearray()
        self._result: str | None = None
        # after finish(): "open", "open-in-vocabulary" or "phrases" (see vocabularies.choose)
        self.source: str | None = None
        self.hypotheses: dict[str, str] = {}

    def _start(self) -> None:
        import vosk

        model = self._recognizer.model
        self._open = _Stream(vosk.KaldiRecognizer(model, RATE))
        grammar = self._recognizer.grammars.get(self.vocabulary or "", "[]")
        if grammar != "[]":                     # a model that can spell none of the phrases: open only
            self._restricted = _Stream(vosk.KaldiRecognizer(model, RATE, grammar))

    def _streams(self):
        return [s for s in (self._restricted, self._open) if s is not None]

    def accept(self, pcm16k: bytes) -> None:
        if self._result is not None:
            raise RuntimeError("accept() after finish(): start a new session")
        if self._open is None:
            self._start()
        self._pending.extend(pcm16k)
        while len(self._pending) >= BLOCK_BYTES:
            block = bytes(self._pending[:BLOCK_BYTES])
            del self._pending[:BLOCK_BYTES]
            for stream in self._streams():
                stream.feed(block)

    def partial(self) -> str:
        return clean_transcript(self._open.text_so_far()) if self._open is not None else ""

    def finish(self) -> str:
        if self._result is not None:
            return self._result
        if self._open is None:
            self._start()
        tail = bytes(self._pending[: len(self._pending) // 2 * 2])
        self._pending.clear()
        if tail:
            for stream in self._streams():
                stream.feed(tail)
        open_text = clean_transcript(self._open.final())
        self.hypotheses["open"] = open_text
        if self._recognizer.normalize_names:
            from voice.asr.service_names import normalize_service_names

            open_text = normalize_service_names(open_text)
        if self.vocabulary:
            raw = self._restricted.final() if self._restricted is not None else ""
            self.hypotheses[self.vocabulary] = raw
            restricted = "" if UNK in raw.split() else clean_transcript(raw)
            text, self.source = vocabularies.choose(restricted, open_text, self._recognizer.phrase_lists[self.vocabulary],
                                                    self._recognizer.agreement_threshold)
        else:
            text, self.source = open_text, vocabularies.OPEN
        self._result = text
        return text
