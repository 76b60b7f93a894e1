"""PocketSphinx with the Mandarin telephone model and the generated domain LM.

A PocketSphinx decoder is not thread-safe and cannot share its acoustic model or LM
with another decoder. "One model shared by every call" therefore means here: the model
files are resolved and checked once per process, and decoders are kept in a pool —
created lazily when every existing one is busy (≈ 20 ms and ≈ 8–13 MB each with the
domain LMs), handed to one session at a time, and returned for reuse when the session
finishes. No call ever loads a model.

Each decoder holds the open-domain search ("open": the domain LM, or the general LM),
the domain LM's variants for constrained states ("open:yes_no" …: the same LM with that
state's answers weighted up; digits use the plain domain LM), and one small search per
restricted vocabulary (a bigram LM whose words are the vocabulary's phrases). A
constrained session borrows two decoders and feeds them the same audio: one runs the
vocabulary's search, the other the state's open-domain LM. `vocabularies.choose` takes
an open transcript made of phrases as it is, the phrase result when the open transcript
sounds almost like it, and otherwise the open transcript: off-list speech is never
forced onto a phrase.

Each utterance starts its live cepstral mean normalisation from the same values
(CMN_PRIOR), so a result depends on the audio alone, not on what a pooled decoder
decoded before.

Audio arrives as 16 kHz PCM16 and is decoded at 16 kHz by default (POCKETSPHINX_RATE;
8 kHz measured no better). It is cut into fixed 20 ms blocks before (optional)
resampling and decoding, so the result does not depend on how the caller chunks it.

PocketSphinx's Python binding holds the GIL while it decodes (measured: two threads
decoding take twice as long as one; Vosk's binding releases it). Decoding off the event
loop still keeps the loop free between blocks, and 20 ms blocks keep each hold short
(≈ 1 ms with the domain LM, ≈ 7 ms with the general one); but threads do not add
decoding capacity — more gateway processes do. The block size does not change results.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from voice.asr import settings, vocabularies
from voice.asr.lexicon import Dictionary, clean_transcript, compose

log = logging.getLogger(__name__)

INPUT_RATE = 16000
BLOCK_BYTES = INPUT_RATE * 2 // 50          # 20 ms of 16 kHz PCM16 (see PocketSphinxSession)
OPEN_SEARCH = "open"

# Where live cepstral mean normalisation starts each utterance. PocketSphinx would carry
# the running mean over from whatever the pooled decoder decoded last (results would
# depend on the pool); it is reset instead, to the mean of telephone speech as the
# gateway delivers it: measured on the real recordings in ../shared/audio after the
# μ-law channel and voice.audio.phone_to_asr (the model's own cmninit is 54,-1,2,0…).
CMN_PRIOR = {
    8000: "51.86,0.21,1.05,-0.28,-0.66,-0.60,-0.26,0.16,-0.21,-0.12,-0.13,-0.17,-0.07",
    16000: "53.59,-0.44,1.46,-0.23,-0.32,-0.34,-0.12,0.09,-0.09,-0.05,-0.05,-0.10,-0.03",
}


class DecoderPool:
    """Idle decoders, reused; a new one is made only when all are busy."""

    def __init__(self, factory):
        self._factory = factory
        self._idle: list = []
        self._lock = threading.Lock()
        self.created = 0

    def borrow(self):
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self.created += 1
        return self._factory()

    def give_back(self, decoder) -> None:
        with self._lock:
            self._idle.append(decoder)

    @property
    def idle(self) -> int:
        return len(self._idle)


class PocketSphinxRecognizer:
    name = "pocketsphinx"

    def __init__(self, model_dir: Path | str | None = None, lm: str | None = None, rate: int | None = None,
                 lm_dir: Path | None = None, agreement_threshold: float | None = None,
                 normalize_names: bool = True, cmn: str | None = None):
        self.model_dir = Path(model_dir) if model_dir else settings.POCKETSPHINX_MODEL_DIR
        self.rate = rate or settings.POCKETSPHINX_RATE
        self.agreement_threshold = settings.AGREEMENT_THRESHOLD if agreement_threshold is None else agreement_threshold
        self.normalize_names = normalize_names
        hmm = settings.pocketsphinx_hmm(self.model_dir)
        if not (hmm / "mdef").exists():
            raise RuntimeError(
                f"PocketSphinx Mandarin model not found at {hmm} (expected the tdt_sc_8k acoustic model and "
                f"lm/mandarin_notone.dic under {self.model_dir}). Set POCKETSPHINX_MODEL_DIR to the model folder.")
        kind = (lm or settings.POCKETSPHINX_LM).lower()
        if kind not in ("domain", "general"):
            raise ValueError(f"POCKETSPHINX_LM must be 'domain' or 'general', not {kind!r}")
        self.lm_path, self.dict_path = settings.pocketsphinx_general_lm(self.model_dir), settings.pocketsphinx_dict(self.model_dir)
        self.state_lms: dict[str, Path] = {}      # the domain LM with a state's answers weighted up
        if kind == "domain":
            from voice.asr import domain_lm

            found = domain_lm.current(lm_dir)
            if found:
                self.lm_path, self.dict_path = found["lm.bin"], found["dic"]
                self.state_lms = {v: found[f"{v}.lm.bin"] for v in domain_lm.BIASED_STATES}
            else:
                log.warning("domain language model not found under %s (run `make train`); "
                            "using the general LM, which recognises far less of what callers say",
                            lm_dir or settings.DOMAIN_LM_DIR)
                kind = "general"
        self.lm_kind = kind
        self._folder = self._scratch_folder()
        if kind == "general":
            self.dict_path = self._trim_dictionary()
        self._extra_words = self._vocabulary_words()
        self._phrase_lms = self._write_phrase_lms()
        self._pool = DecoderPool(self._new_decoder)
        first = self._pool.borrow()                  # one decoder up front: a broken model fails here
        model_cmn = first.get_cmn()
        self.cmn = cmn or settings.POCKETSPHINX_CMN_INIT or CMN_PRIOR.get(self.rate, model_cmn)
        if self.cmn.count(",") != model_cmn.count(","):   # another acoustic model: its own start
            self.cmn = model_cmn
        self._pool.give_back(first)
        if normalize_names:                          # load pinyin tables now, not in the first call
            from voice.asr.service_names import normalize_service_names

            normalize_service_names("社保卡")
        log.info("speech recognition: PocketSphinx, %s LM %s, decoding at %d Hz", kind, self.lm_path.name, self.rate)

    def _vocabulary_words(self) -> dict[str, str]:
        """Phrases of the restricted vocabularies that the dictionary lacks, with composed
        pronunciations (every phrase is one word of its small LM)."""
        known = Dictionary.read(self.dict_path)
        missing = {}
        for phrase in vocabularies.all_phrases():
            if phrase not in known:
                phones = compose(phrase)
                if phones is None:
                    raise ValueError(f"cannot pronounce vocabulary phrase {phrase!r}")
                missing[phrase] = phones
        return missing

    def _scratch_folder(self) -> Path:
        """A folder for generated files, removed with this recogniser."""
        import tempfile
        import weakref

        folder = tempfile.TemporaryDirectory(prefix="asr-pocketsphinx-")
        weakref.finalize(self, folder.cleanup)
        self._keep_folder = folder
        return Path(folder.name)

    def _trim_dictionary(self) -> Path:
        """The model dictionary cut down to the general LM's words. Every search a
        decoder holds costs time in proportion to the dictionary: with all 97k words,
        each vocabulary search took 1.4 s to set up."""
        from voice.asr.lexicon import write_dictionary

        tokens = set(self.lm_path.read_bytes().split(b"\0"))
        full = Dictionary.read(self.dict_path)
        kept = {word: prons for word, prons in full.entries.items() if word.encode() in tokens}
        path = self._folder / "general.dic"
        write_dictionary(path, kept)
        return path

    def _write_phrase_lms(self) -> dict[str, Path]:
        """The vocabularies' small LMs, as ARPA files (each decoder loads its own copy)."""
        from voice.asr.domain_lm import kneser_ney_arpa

        lms = {}
        for name in vocabularies.VOCABULARIES:
            lms[name] = self._folder / f"{name}.arpa"
            lms[name].write_text(kneser_ney_arpa(vocabularies.search_corpus(name), order=2), encoding="utf-8")
        return lms

    def _new_decoder(self):
        from pocketsphinx import Config, Decoder, NGramModel

        # The decoder starts with a tiny keyphrase search (it cannot start with none):
        # words added before the LM is attached do not change the LM.
        # No second "flat" pass: on our test speech it changed no result (CER 0.090 with or
        # without), cost 30 % more time, and ran at end_utt, holding the GIL for ≈ 0.2 s
        # on a 16 s turn (1 ms without).
        config = Config(hmm=str(settings.pocketsphinx_hmm(self.model_dir)), dict=str(self.dict_path),
                        keyphrase="对", samprate=self.rate, fwdflat=False, loglevel="FATAL")
        config["lm"] = None
        decoder = Decoder(config)
        words = list(self._extra_words.items())
        for i, (word, phones) in enumerate(words):
            decoder.add_word(word, phones, i == len(words) - 1)
        decoder.add_lm(OPEN_SEARCH, NGramModel(decoder.config, decoder.logmath, str(self.lm_path)))
        for name, path in self.state_lms.items():
            decoder.add_lm(f"{OPEN_SEARCH}:{name}", NGramModel(decoder.config, decoder.logmath, str(path)))
        for name, path in self._phrase_lms.items():
            decoder.add_lm(name, NGramModel(decoder.config, decoder.logmath, str(path)))
        decoder.activate_search(OPEN_SEARCH)
        return decoder

    def session(self, vocabulary: str | None = None) -> "PocketSphinxSession":
        if vocabulary is not None:
            vocabularies.phrases(vocabulary)          # unknown names fail here, before borrowing
        return PocketSphinxSession(self, vocabulary)

    @property
    def decoders(self) -> int:
        """How many decoders this process has made (for monitoring)."""
        return self._pool.created


class PocketSphinxSession:
    """One utterance. accept()/finish() may be called from any thread, one at a time."""

    def __init__(self, recognizer: PocketSphinxRecognizer, vocabulary: str | None):
        # Cheap on purpose (sessions are opened on the event loop): decoders are borrowed
        # on the first accept()/finish(), in the worker thread.
        self._recognizer = recognizer
        self.vocabulary = vocabulary
        self._decoders: dict[str, object] = {}
        self._started = False
        self._pending = bytearray()
        self._resampler = None
        self._partial = ""
        self._result: str | None = None
        # after finish(): "open", "open-in-vocabulary" or "phrases" (see vocabularies.choose)
        self.source: str | None = None
        self.hypotheses: dict[str, str] = {}      # after finish(): each search's text (diagnostics)

    def _start(self) -> None:
        self._started = True
        try:
            for search in ([self.vocabulary] if self.vocabulary else []) + [OPEN_SEARCH]:
                decoder = self._recognizer._pool.borrow()
                self._decoders[search] = decoder
                if search == OPEN_SEARCH and self.vocabulary in self._recognizer.state_lms:
                    decoder.activate_search(f"{OPEN_SEARCH}:{self.vocabulary}")
                else:
                    decoder.activate_search(search)
                decoder.set_cmn(self._recognizer.cmn)
                decoder.start_utt()
        except BaseException:
            self._release()
            raise
        if self._recognizer.rate != INPUT_RATE:
            import soxr

            # float32: soxr's int16 stream output differs from one stream to the next
            # (measured: the same input gave three different outputs); float32 does not.
            self._resampler = soxr.ResampleStream(INPUT_RATE, self._recognizer.rate, 1, dtype="float32")

    def _decode(self, block: bytes, last: bool = False) -> None:
        if self._resampler is not None:
            samples = np.frombuffer(block, dtype=np.int16).astype(np.float32) / 32768
            samples = self._resampler.resample_chunk(samples, last=last)
            block = np.clip(np.round(samples * 32768), -32768, 32767).astype(np.int16).tobytes()
        if block:
            for decoder in self._decoders.values():
                decoder.process_raw(block, False, False)

    def accept(self, pcm16k: bytes) -> str:
        if self._result is not None:
            raise RuntimeError("accept() after finish(): start a new session")
        if not self._started:
            self._start()
        self._pending.extend(pcm16k)
        fed = False
        while len(self._pending) >= BLOCK_BYTES:
            self._decode(bytes(self._pending[:BLOCK_BYTES]))
            del self._pending[:BLOCK_BYTES]
            fed = True
        if fed:
            hyp = self._decoders[OPEN_SEARCH].hyp()
            self._partial = clean_transcript(hyp.hypstr) if hyp else self._partial
        return self._partial

    def finish(self) -> str:
        if self._result is not None:
            return self._result
        if not self._started:
            self._start()
        try:
            self._decode(bytes(self._pending[: len(self._pending) // 2 * 2]), last=True)
            self._pending.clear()
            for search, decoder in list(self._decoders.items()):
                del self._decoders[search]
                try:
                    decoder.end_utt()
                    hyp = decoder.hyp()
                    self.hypotheses[search] = clean_transcript(hyp.hypstr) if hyp else ""
                finally:
                    self._recognizer._pool.give_back(decoder)
        finally:
            self._release()
        open_text = self.hypotheses[OPEN_SEARCH]
        if self._recognizer.normalize_names:
            from voice.asr.service_names import normalize_service_names

            open_text = normalize_service_names(open_text)
        if self.vocabulary:
            text, self.source = vocabularies.choose(self.hypotheses[self.vocabulary], open_text,
                                                    vocabularies.phrases(self.vocabulary),
                                                    self._recognizer.agreement_threshold)
        else:
            text, self.source = open_text, vocabularies.OPEN
        self._result = text
        return text

    def _release(self) -> None:
        """Return decoders still in an utterance (finish() failed, or was never called)."""
        decoders, self._decoders = self._decoders, {}
        for decoder in decoders.values():
            try:
                decoder.end_utt()
            except RuntimeError:          # it never started an utterance
                log.debug("decoder returned outside an utterance")
            self._recognizer._pool.give_back(decoder)

    def __del__(self):
        # A session dropped without finish() (the caller hung up) returns its decoders.
        if getattr(self, "_decoders", None):
            self._release()
