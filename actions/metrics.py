"""The action server's Prometheus metrics (GET /metrics with the service token, like every
service of ours): each action run by name and outcome and the time it took, and how the
proxy service answered the actions' requests (retries and unknown outcomes included)."""
from __future__ import annotations

from prometheus_client import Counter, Histogram

from contract.metrics import NAMESPACE, new_registry

REGISTRY = new_registry()
PREFIX = f"{NAMESPACE}_actions"

RUNS = Counter(f"{PREFIX}_runs", "action runs Rasa asked for", ["action", "outcome"], registry=REGISTRY)
RUN_SECONDS = Histogram(f"{PREFIX}_run_seconds", "time to run an action", ["action"], registry=REGISTRY,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
# answered (any HTTP answer below 500 but 503), busy (503: nothing done), unreachable,
# no_answer (timed out or 5xx: it may have been done); a write is tried again with its key.
API_REQUESTS = Counter(f"{PREFIX}_api_requests", "requests to the proxy service by what came back", ["outcome"],
                       registry=REGISTRY)


def outcome(status: int) -> str:
    return "ok" if status < 400 else "rejected" if status < 500 else "error"
