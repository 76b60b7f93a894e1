"""The default recogniser: a streaming zipformer transducer (sherpa-onnx) that hears tonal
pinyin, and a domain-aware conversion of that pinyin to Simplified Chinese.

One `sherpa_onnx.OnlineRecognizer` per process holds the model (3.3 M parameters, int8)
and decodes every call: each utterance is a stream of its own, fed while the caller
talks (frames are decoded as they arrive, so at the end of a turn only the last few
frames are left), with modified beam search and the domain terms as hotwords (the
catalogue's names and the commands, in the model's own tokens; voice/asr/build.py).
At the end of the turn the syllables heard become characters (voice/asr/hanzi.py), and
near-miss errand names are repaired (service_names).

Telephone audio reaches the recogniser upsampled to 16 kHz and stored as PCM16; the
requantisation puts faint noise into the empty band above 4 kHz, and this model hears
that as something (measured on the real recordings through the phone channel: syllable
error 0.114 with it, 0.084 once the band is emptied again). A narrowband session
therefore keeps the audio below 4 kHz before decoding; a wideband one (a kiosk's
microphone) is decoded as it is (0.054 on the same recordings, unfiltered).

In a constrained state (yes/no, digits, a help mode, a day) the same syllables are also
matched against the state's phrases (vocabularies.phrase_search); `vocabularies.choose`
takes the phrases only when the open transcript sounds the same, so off-list speech is
never forced onto a phrase. When the bot asked for a number, every digit said counts
(not only runs of four).

The model's licence and WenetSpeech's terms of use were not verified (see the model's
PROVENANCE.md): a deployment checks them, or uses Vosk.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from voice.asr import settings, vocabularies
from voice.asr.pinyin import syllables

log = logging.getLogger(__name__)

RATE = 16000
TAIL_SECONDS = 0.3        # silence fed after the last frame, so the model emits its last syllable
MAX_ACTIVE_PATHS = 4      # measured: 8 and 16 gave no fewer errors on the real recordings


class TransducerRecognizer:
    name = "transducer"

    def __init__(self, build_dir: Path | None = None, hotwords_score: float | None = None,
                 threads: int | None = None, agreement_threshold: float | None = None,
                 normalize_names: bool = True):
        import kenlm
        import sherpa_onnx

        from voice.asr import build
        from voice.asr.hanzi import HanziConverter
        from voice.asr.lexicon import Lexicon

        model = build.model_dir(build_dir)
        domain = build.current(build_dir)
        if not (model / "checked.json").exists() or domain is None:
            raise RuntimeError(f"speech recognition files not built under {build_dir or settings.BUILD_DIR}: "
                               "run `make train` (python -m voice.asr.build)")
        if not settings.GENERAL_LM.exists():
            raise RuntimeError(f"general Chinese language model not found at {settings.GENERAL_LM} "
                               "(Debian package libime-data-language-model; `make install` installs it)")
        score = settings.HOTWORDS_SCORE if hotwords_score is None else hotwords_score
        self.recognizer = sherpa_onnx.OnlineRecognizer.from_transducer(
            tokens=str(model / "tokens.txt"), encoder=str(model / "encoder.onnx"),
            decoder=str(model / "decoder.onnx"), joiner=str(model / "joiner.onnx"),
            num_threads=threads or settings.TRANSDUCER_THREADS, sample_rate=RATE, feature_dim=80,
            decoding_method="modified_beam_search", max_active_paths=MAX_ACTIVE_PATHS,
            # the ASCII token names make the hotword encoder read our tokens as they are
            hotwords_file=str(domain["hotwords"]) if score > 0 else "", hotwords_score=score,
            modeling_unit="cjkchar")
        self.converter = HanziConverter(Lexicon.load(domain["lexicon"]), kenlm.Model(str(settings.GENERAL_LM)),
                                        kenlm.Model(str(domain["lm"])))
        self.agreement_threshold = settings.AGREEMENT_THRESHOLD if agreement_threshold is None else agreement_threshold
        self.normalize_names = normalize_names
        if normalize_names:                          # load pinyin tables now, not in the first call
            from voice.asr.service_names import normalize_service_names

            normalize_service_names("社保卡")
        log.info("speech recognition: streaming transducer %s, domain files %s", model, domain["json"].name)

    def session(self, vocabulary: str | None = None, *, narrowband: bool = False) -> "TransducerSession":
        if vocabulary is not None:
            vocabularies.phrases(vocabulary)          # unknown names fail here
        return TransducerSession(self, vocabulary, narrowband)

    def text(self, heard, vocabulary: str | None = None) -> tuple[str, str]:
        """Characters for the syllables `heard`, and where they came from (vocabularies.choose)."""
        from voice.asr.service_names import normalize_service_names

        open_text = self.converter.convert(heard, digit_run=1 if vocabulary == "digits" else None)
        if self.normalize_names:
            open_text = normalize_service_names(open_text)
        if not vocabulary or vocabulary == "digits":
            return open_text, vocabularies.OPEN
        listed = vocabularies.phrases(vocabulary)
        return vocabularies.choose(vocabularies.phrase_search(heard, listed), open_text, listed,
                                   self.agreement_threshold)


class _BandLimit:
    """Streaming low-pass to the telephone band: 16 kHz → 8 kHz → 16 kHz (float32 soxr
    streams, which give the same output for the same input whatever the chunking)."""

    def __init__(self):
        import soxr

        self._down = soxr.ResampleStream(RATE, 8000, 1, dtype="float32")
        self._up = soxr.ResampleStream(8000, RATE, 1, dtype="float32")

    def __call__(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        return self._up.resample_chunk(self._down.resample_chunk(samples, last=last), last=last)


class TransducerSession:
    """One utterance. accept()/partial()/finish() may be called from any thread, one at a time."""

    def __init__(self, recognizer: TransducerRecognizer, vocabulary: str | None, narrowband: bool = False):
        self._recognizer = recognizer
        self.vocabulary = vocabulary
        self._band = _BandLimit() if narrowband else None
        self._stream = None                 # made on first use, in the worker thread
        self._lock = threading.Lock()
        self._result: str | None = None
        self._partial: tuple[int, str] = (0, "")
        self._odd = b""                     # a byte of a sample split between two chunks
        self.source: str | None = None      # after finish(): see vocabularies.choose
        self.pinyin: str = ""               # after finish(): the syllables heard (diagnostics)

    def _decode(self, samples: np.ndarray | None, last: bool = False) -> None:
        engine = self._recognizer.recognizer
        if self._stream is None:
            self._stream = engine.create_stream()
        if samples is not None and self._band is not None:
            samples = self._band(samples, last)
        if samples is not None and len(samples):
            self._stream.accept_waveform(RATE, samples)
        while engine.is_ready(self._stream):
            engine.decode_stream(self._stream)

    def _heard(self):
        return syllables(self._recognizer.recognizer.get_result_all(self._stream).tokens)

    def accept(self, pcm16k: bytes) -> None:
        if self._result is not None:
            raise RuntimeError("accept() after finish(): start a new session")
        with self._lock:
            data = self._odd + pcm16k
            usable = len(data) // 2 * 2
            self._odd = data[usable:]
            self._decode(np.frombuffer(data[:usable], dtype=np.int16).astype(np.float32) / 32768)

    def partial(self) -> str:
        """What was heard so far, as characters (converted only when more was heard)."""
        with self._lock:
            if self._result is not None:
                return self._result
            if self._stream is None:
                return ""
            heard = self._heard()
            if len(heard) != self._partial[0]:
                self._partial = (len(heard), self._recognizer.converter.convert(heard))
            return self._partial[1]

    def finish(self) -> str:
        with self._lock:
            if self._result is not None:
                return self._result
            self._decode(np.zeros(int(RATE * TAIL_SECONDS), dtype=np.float32), last=True)
            self._stream.input_finished()
            self._decode(None)
            heard = self._heard()
            self.pinyin = " ".join(s.toneless + s.tone for s in heard)
            self._result, self.source = self._recognizer.text(heard, self.vocabulary)
            self._stream = None
            return self._result
