"""The voice gateways' own figures, from their /metrics, between two readings: how long from a
caller's turn taken to the reply's first audio (helpline_voice_turn_latency_seconds), and how
many turns the assistant did not answer in time (helpline_voice_assistant_unanswered_total)."""
from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.api_throughput import TOKEN

TURN_HISTOGRAM = "helpline_voice_turn_latency_seconds"


def reading(gateways: list[str], token: str = TOKEN) -> dict:
    """The gateways' figures added up: {"buckets": upper bound (s) → turns at most that long,
    "unanswered": turns}."""
    buckets: dict[float, float] = {}
    unanswered = 0.0
    for base in gateways:
        text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == f"{TURN_HISTOGRAM}_bucket":
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0) + sample.value
                elif sample.name == "helpline_voice_assistant_unanswered_total":
                    unanswered += sample.value
    return {"buckets": buckets, "unanswered": unanswered}


def between(before: dict, after: dict) -> dict:
    """p50/p95 of the gateways' turn latency (ms) and the turns left unanswered between two readings."""
    return {"gateway_p50_ms": histogram_quantile(0.5, before["buckets"], after["buckets"]),
            "gateway_p95_ms": histogram_quantile(0.95, before["buckets"], after["buckets"]),
            "unanswered_turns": int(after["unanswered"] - before["unanswered"])}


def histogram_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float | None:
    """The q-quantile of the turns between two readings, interpolated within its bucket (ms)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0) for b in bounds]
    total = counts[-1] if counts else 0
    if not total:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in zip(bounds, counts):
        if count >= rank:
            if bound == float("inf"):
                return round(lower * 1000, 1)
            return round((lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)) * 1000, 1)
        lower, below = bound, count
    return None
