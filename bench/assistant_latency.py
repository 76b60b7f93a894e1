"""Benchmark: how fast the assistant answers, and how much memory it holds.

Starts the real action server and Rasa (REST channel) with the current model, then
  * NLU parse latency: every held-out sentence through /model/parse,
  * turn latency: whole REST turns (NLU, policies, action server) for errand questions,
  * resident memory of both processes after the run.
Writes bench/results/assistant.json and prints a Markdown table for the README.
Run: `uv run python -m bench.assistant_latency` (after `make train`).
"""
from __future__ import annotations

import json
import platform
import statistics
import sys
import time
import uuid

from tests.nlu_examples import intent_examples, parse_example
from tools.model import ROOT, ensure_model
from tools.services import running_api, running_assistant

RESULTS = ROOT / "bench" / "results" / "assistant.json"
HELDOUT = ROOT / "tests" / "nlu_eval" / "heldout.yml"
TURNS = ["你好", "我社保卡丢了怎么补办", "那要带什么材料", "再说一遍", "退休了公积金能取出来吗",
         "身份证过期了去哪换", "谢谢", "转人工"]
ROUNDS = 5


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> dict[str, float]:
    return {"n": len(values_ms), "p50_ms": round(statistics.median(values_ms), 1),
            "p95_ms": round(percentile(values_ms, 0.95), 1), "max_ms": round(max(values_ms), 1)}


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def main() -> int:
    model = ensure_model()
    sentences = [parse_example(line)[0] for lines in intent_examples([HELDOUT]).values() for line in lines]
    workdir = ROOT / "var" / "bench"
    for leftover in workdir.glob("bench.db*"):
        leftover.unlink()
    with running_api(workdir / "api", f"sqlite:///{workdir / 'bench.db'}") as api_url, \
            running_assistant(model, workdir, api_url) as assistant:
        assistant.texts("warm-up", "你好")
        parse_ms = [timed(lambda s=s: assistant.parse(s)) for s in sentences]
        turn_ms = []
        for _ in range(ROUNDS):
            sender = f"bench-{uuid.uuid4().hex[:8]}"
            turn_ms += [timed(lambda t=t: assistant.send(sender, t)) for t in TURNS]
        memory = {name: round(mib, 1) for name, mib in assistant.rss_mib().items()}
    result = {
        "model": model.name, "machine": f"{platform.machine()}, {platform.python_version()}",
        "nlu_parse": summary(parse_ms), "rest_turn": summary(turn_ms), "rss_mib": memory,
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print("| measure | n | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|---:|")
    for key, label in (("nlu_parse", "NLU parse (/model/parse)"), ("rest_turn", "REST turn incl. actions")):
        row = result[key]
        print(f"| {label} | {row['n']} | {row['p50_ms']} | {row['p95_ms']} | {row['max_ms']} |")
    print(f"\nResident memory: Rasa {memory['rasa']} MiB, action server {memory['actions']} MiB.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
