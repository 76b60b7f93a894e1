"""The voice gateways' own turn latency, from their /metrics: how long from a caller's turn
taken to the reply's first audio (helpline_voice_turn_latency_seconds), between two readings."""
from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.api_throughput import TOKEN

TURN_HISTOGRAM = "helpline_voice_turn_latency_seconds"


def turn_buckets(gateways: list[str], token: str = TOKEN) -> dict[float, float]:
    """The gateways' turn-latency histograms added up: upper bound (s) → turns at most that long."""
    counts: dict[float, float] = {}
    for base in gateways:
        text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == f"{TURN_HISTOGRAM}_bucket":
                    bound = float(sample.labels["le"])
                    counts[bound] = counts.get(bound, 0) + sample.value
    return counts


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
