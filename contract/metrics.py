"""Prometheus metrics every HTTP service of ours exposes the same way (prometheus-client).

Each app has its own registry (several apps live in one test process). `RequestMetrics`
counts requests by method, route template and status, and errors (5xx and unhandled
exceptions); `metrics_response` renders a registry in Prometheus' text format. /metrics
asks for the service token (Authorization: Bearer), like every other non-public route: the
figures carry no personal data but are not for the internet.
"""
from __future__ import annotations

import hmac
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.responses import Response

NAMESPACE = "helpline"


def new_registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


UNAUTHORISED = ('{"error": "unauthorized", "message_zh": "没有权限。", "message_en": "missing or wrong '
                'service token."}').encode()


def rendered(registry: CollectorRegistry, authorization: str | None, token: str) -> tuple[int, bytes, str]:
    """(status, body, content type) of a /metrics request, for any web framework."""
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return 401, UNAUTHORISED, "application/json"
    return 200, generate_latest(registry), CONTENT_TYPE_LATEST


def metrics_response(registry: CollectorRegistry, authorization: str | None, token: str) -> Response:
    status, body, content_type = rendered(registry, authorization, token)
    return Response(body, status_code=status, media_type=content_type)


class RequestCounters:
    """A service's request metrics, made once per registry."""

    def __init__(self, registry: CollectorRegistry, service: str):
        self.requests = Counter(f"{NAMESPACE}_{service}_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=registry)
        self.errors = Counter(f"{NAMESPACE}_{service}_errors", "requests answered 5xx or failed", ["route"],
                              registry=registry)
        self.seconds = Histogram(f"{NAMESPACE}_{service}_request_seconds", "time to answer a request", ["route"],
                                 registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


class RequestMetrics:
    """ASGI middleware: requests and errors of one service, by route template (never the raw
    path, which would carry references and call ids)."""

    def __init__(self, app, *, counters: RequestCounters):
        self.app, self.counters = app, counters

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, started = 500, time.perf_counter()

        async def watch(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.counters.requests.labels(scope.get("method", ""), route, str(status)).inc()
            self.counters.seconds.labels(route).observe(time.perf_counter() - started)
            if status >= 500:
                self.counters.errors.labels(route).inc()
