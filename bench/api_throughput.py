"""Benchmark: proxy_service API on SQLite and PostgreSQL.

For each database: a fresh, migrated database; 100 000 handoff tickets inserted in bulk;
the real API under uvicorn; then
  * creating bookings: N requests from 8 and from 32 concurrent clients, against one and
    two API processes → throughput, p50/p95 (one transaction per booking),
  * listing a queue (first page, priority then age) with 100 000 tickets → p50/p95.
Writes bench/results/api.json and prints a Markdown table for the README.
Run: `uv run python -m bench.api_throughput` (PostgreSQL on 127.0.0.1:5432 for that half).
"""
from __future__ import annotations

import json
import random
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests
from sqlalchemy import insert

from bench.assistant_latency import percentile
from bench.databases import on_both_databases
from proxy_service import models as m
from proxy_service.db import session_factory
from proxy_service.services import calendar
from proxy_service.services.common import now
from tools.model import ROOT
from tools.services import running_api

RESULTS = ROOT / "bench" / "results" / "api.json"
TICKETS, BOOKINGS, LIST_CALLS = 100_000, 800, 200
CLIENTS = (8, 32)
WORKERS = (1, 2)          # API processes on the port (uvicorn --workers)
TOKEN = "bench-token"


def seed_tickets(url: str, count: int) -> None:
    with session_factory(url)() as session:
        queues = [q.id for q in session.query(m.StaffQueue)]
        stamp = now()
        rows = [{
            "reference": f"{10_000_000 + i}", "queue_id": random.choice(queues), "priority": random.choice((0, 1, 2, 2, 2)),
            "reason": "request_human", "channel": "phone", "conversation_id": f"bench-{i}",
            "transcript_enc": [{"speaker": "caller", "text": "转人工"}], "filled_slots_enc": {},
            "status": random.choice(("open", "open", "claimed", "resolved")), "sla_due_at": stamp,
            "created_at": stamp - timedelta(seconds=i), "updated_at": stamp,
        } for i in range(count)]
        for start in range(0, count, 10_000):
            session.execute(insert(m.HandoffTicket.__table__), rows[start:start + 10_000])
        session.commit()


def booking_body(index: int) -> dict:
    days = calendar.bookable_days(now().date())
    return {"service_code": "elderly_allowance", "mode": "proxy", "place_code": "city_hall",
            "day": days[index % len(days)].isoformat(), "half_day": "am" if index % 2 else "pm",
            "resident": {"name": "压测", "phone": f"139{index:08d}"},
            "consent": {"given": True, "wording_version": "bench"}}


def timed_post(session: requests.Session, url: str, body: dict) -> tuple[float, int]:
    start = time.perf_counter()
    response = session.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}",
                                                     "Idempotency-Key": uuid.uuid4().hex})
    return (time.perf_counter() - start) * 1000, response.status_code


def post_bookings(api: str, clients: int, first: int) -> dict:
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda i: timed_post(requests.Session(), f"{api}/api/bookings", booking_body(i)),
                                range(first, first + BOOKINGS)))
    elapsed = time.perf_counter() - start
    created = [ms for ms, status in results if status == 201]
    return {"requests": BOOKINGS, "clients": clients, "created": len(created),
            "slot_full": sum(status == 409 for _, status in results), "per_second": round(BOOKINGS / elapsed, 1),
            "p50_ms": round(statistics.median(created), 1), "p95_ms": round(percentile(created, .95), 1)}


def measure(url: str) -> dict:
    # Capacity high enough that the run measures writes, not refusals of full slots.
    bookings, first = {}, 0
    for workers in WORKERS:
        with running_api(ROOT / "var" / "bench" / "api", url, TOKEN, {"SLOT_CAPACITY": "10000"}, workers) as api:
            for clients in CLIENTS:
                first += BOOKINGS
                bookings[f"{workers}x{clients}"] = {"workers": workers, **post_bookings(api, clients, first)}
    with running_api(ROOT / "var" / "bench" / "api", url, TOKEN) as api, requests.Session() as session:
        seed_tickets(url, TICKETS)
        listing = []
        for _ in range(LIST_CALLS):
            begin = time.perf_counter()
            response = session.get(f"{api}/api/queues/social_security/tickets?limit=50",
                                   headers={"Authorization": f"Bearer {TOKEN}"})
            listing.append((time.perf_counter() - begin) * 1000)
            assert response.status_code == 200 and len(response.json()) == 50
    return {
        "create_booking": bookings,
        "list_queue_100k": {"calls": LIST_CALLS, "p50_ms": round(statistics.median(listing), 1),
                            "p95_ms": round(percentile(listing, .95), 1)},
    }


def main() -> int:
    results = on_both_databases(measure, "api-bench")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    print("| database | API processes | clients | create booking: req/s | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for db in ("sqlite", "postgresql"):
        for c in results[db]["create_booking"].values():
            print(f"| {db} | {c['workers']} | {c['clients']} | {c['per_second']} | {c['p50_ms']} | {c['p95_ms']} |")
    print()
    print("| database | list queue (100k tickets): p50 ms | p95 ms |")
    print("|---|---:|---:|")
    for db in ("sqlite", "postgresql"):
        q = results[db]["list_queue_100k"]
        print(f"| {db} | {q['p50_ms']} | {q['p95_ms']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
