"""The gateway's Prometheus metrics (one registry per gateway process; /metrics in app.py):
calls in progress and taken, turn latency, the recogniser's real-time factor, hand-offs and
callbacks, failed turns. Requests and HTTP errors come from contract.metrics."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from contract.metrics import NAMESPACE, RequestCounters, new_registry

REGISTRY = new_registry()
PREFIX = f"{NAMESPACE}_voice"
REQUESTS = RequestCounters(REGISTRY, "voice")

CALLS_IN_PROGRESS = Gauge(f"{PREFIX}_calls_in_progress", "calls this gateway holds", registry=REGISTRY)
CALLS = Counter(f"{PREFIX}_calls", "calls taken", ["channel", "answered"], registry=REGISTRY)
# From the moment a caller's turn is taken (end of turn detected, or the last key) to the
# first audio of the reply on the line: recognition's final pass, Rasa, the first sentence's voice.
TURN_LATENCY = Histogram(f"{PREFIX}_turn_latency_seconds", "caller turn to the first audio of the reply",
                         ["channel"], registry=REGISTRY,
                         buckets=(0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0))
# Decoding time over audio time, per utterance: above 1 the recogniser falls behind the callers.
RECOGNITION_RTF = Histogram(f"{PREFIX}_recognition_real_time_factor", "decoding seconds per second of speech",
                            registry=REGISTRY, buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0))
HANDOFFS = Counter(f"{PREFIX}_handoffs", "calls moved to staff or promised a callback", ["kind", "outcome"],
                   registry=REGISTRY)
TURN_FAILURES = Counter(f"{PREFIX}_turn_failures", "caller turns that failed inside the gateway", registry=REGISTRY)
# Rasa did not answer a turn in time (RASA_TIMEOUT_SECONDS) or at all: the caller heard an
# apology and the offer of a callback instead of an answer.
UNANSWERED = Counter(f"{PREFIX}_assistant_unanswered", "caller turns the assistant did not answer in time",
                     registry=REGISTRY)
