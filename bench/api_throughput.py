"""Benchmark: proxy_service API on SQLite and PostgreSQL.

For each database: a fresh, migrated database; 100 000 handoff tickets inserted in bulk;
the real API under uvicorn; then
  * creating bookings for SECONDS from 8 and from 32 concurrent clients (wrk, Debian's C load
    generator, keep-alive connections, bench/bookings.lua), against one and two API
    processes → bookings per second, p50/p95; every 201 checked against the database,
  * listing a queue (first page, priority then age) with 100 000 tickets → p50/p95.
Writes bench/results/api.json and prints a Markdown table for the README.
Run: `uv run python -m bench.api_throughput` (PostgreSQL on 127.0.0.1:5432 for that half).
"""
from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import requests
from sqlalchemy import func, insert, select

from bench.assistant_latency import percentile
from bench.databases import on_both_databases
from proxy_service import models as m
from proxy_service.db import session_factory
from proxy_service.services import calendar
from proxy_service.services.common import now
from tools.model import ROOT
from tools.services import running_api

RESULTS = ROOT / "bench" / "results" / "api.json"
TICKETS, LIST_CALLS = 100_000, 200
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


def post_bookings(api: str, clients: int, seconds: int = 15) -> dict:
    """Bookings from `clients` keep-alive connections for `seconds` (wrk); what it counted."""
    days = ",".join(day.isoformat() for day in calendar.bookable_days(now().date()))
    output = subprocess.run(["wrk", f"-t{min(clients, 2)}", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s",
                             "-s", str(ROOT / "bench" / "bookings.lua"), api, "--", days, TOKEN, uuid.uuid4().hex],
                            check=True, capture_output=True, text=True).stdout
    counted = json.loads(output.strip().splitlines()[-1])
    created = counted["statuses"].get("201", 0)
    return {"clients": clients, "seconds": counted["seconds"], "created": created,
            "other_answers": {k: n for k, n in counted["statuses"].items() if k != "201"},
            "socket_errors": counted["socket_errors"], "per_second": round(created / counted["seconds"], 1),
            "p50_ms": counted["p50_ms"], "p95_ms": counted["p95_ms"], "p99_ms": counted["p99_ms"]}


def bookings_in(url: str) -> int:
    with session_factory(url)() as session:
        return session.execute(select(func.count()).select_from(m.Booking)).scalar_one()


def measure(url: str) -> dict:
    # Capacity high enough that the run measures writes, not refusals of full slots.
    bookings = {}
    for workers in WORKERS:
        with running_api(ROOT / "var" / "bench" / "api", url, TOKEN, {"SLOT_CAPACITY": "1000000"}, workers) as api:
            for clients in CLIENTS:
                before = bookings_in(url)
                run = post_bookings(api, clients)
                # A booking answered 201 is in the database; none is there that was not answered.
                run["in_database"] = bookings_in(url) - before
                bookings[f"{workers}x{clients}"] = {"workers": workers, **run}
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
