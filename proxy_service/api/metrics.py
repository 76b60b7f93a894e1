"""The API's /metrics: requests and errors (contract.metrics), bookings and hand-off tickets
written by this process, and the live figures every process reads alike from the database
(services/live.py: calls in progress, queue depth and oldest ticket age, callbacks owed,
outbox backlog), gathered when Prometheus scrapes."""
from __future__ import annotations

import logging
from typing import Callable

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from starlette.responses import Response

from contract.metrics import NAMESPACE, RequestCounters, new_registry
from proxy_service.services.live import live_figures

log = logging.getLogger(__name__)
PREFIX = f"{NAMESPACE}_api"


class LiveFigures:
    """A Prometheus collector over services.live (read when scraped, never cached)."""

    def __init__(self, make_uow: Callable):
        self._make_uow = make_uow

    def collect(self):
        up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 if the database answered this scrape")
        try:
            figures = live_figures(self._make_uow(read_only=True))
        except Exception as error:  # noqa: BLE001 - a scrape reports the outage, it does not fail
            log.error("live figures not read: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        calls = GaugeMetricFamily(f"{PREFIX}_calls_in_progress", "calls a gateway holds a lease on", labels=["channel"])
        for channel in ("phone", "kiosk"):
            calls.add_metric([channel], figures["calls_in_progress"].get(channel, 0))
        yield calls
        depth = GaugeMetricFamily(f"{PREFIX}_queue_depth", "tickets waiting for staff", labels=["queue"])
        oldest = GaugeMetricFamily(f"{PREFIX}_queue_oldest_ticket_seconds", "age of the oldest waiting ticket",
                                   labels=["queue"])
        for queue in figures["queues"]:
            depth.add_metric([queue["queue"]], queue["waiting"])
            oldest.add_metric([queue["queue"]], queue["oldest_seconds"] or 0)
        yield depth
        yield oldest
        owed = GaugeMetricFamily(f"{PREFIX}_callbacks_owed", "open callbacks the system filed", labels=["reason"])
        for reason, n in figures["callbacks_owed"].items():
            if reason != "total":
                owed.add_metric([reason], n)
        yield owed
        outbox = GaugeMetricFamily(f"{PREFIX}_outbox_backlog", "SMS not yet delivered", labels=["status"])
        for status, n in figures["outbox_backlog"].items():
            outbox.add_metric([status], n)
        yield outbox


class ApiMetrics:
    def __init__(self, make_uow: Callable):
        self.registry = new_registry()
        self.requests = RequestCounters(self.registry, "api")
        self.bookings = Counter(f"{PREFIX}_bookings", "bookings answered", ["outcome"], registry=self.registry)
        self.tickets = Counter(f"{PREFIX}_handoff_tickets", "hand-off tickets answered", ["reason", "outcome"],
                               registry=self.registry)
        self.registry.register(LiveFigures(make_uow))

    @staticmethod
    def _outcome(response: Response) -> str:
        if response.headers.get("Idempotent-Replay"):
            return "replayed"
        return "created" if response.status_code == 201 else "updated"

    def booked(self, response: Response) -> Response:
        self.bookings.labels(self._outcome(response)).inc()
        return response

    def ticket_filed(self, reason: str, response: Response) -> Response:
        self.tickets.labels(reason, self._outcome(response)).inc()
        return response
