"""Benchmark: web console pages on a busy database (SQLite and PostgreSQL).

For each database: a fresh, migrated database with 100 000 handoff tickets (created over the
last 28 hours, a third of them claimed), 20 000 calls over 30 days and 2 000 proxy
applications; the real server under uvicorn; a staff member and a supervisor signed in
through the login form. Then each page is fetched repeatedly, one request at a time, and
its latency taken; sign-in (argon2id) is timed too, and the server's memory at the end.
Writes bench/results/console.json and prints a Markdown table for the README.
Run: `uv run python -m bench.console_pages` (PostgreSQL on 127.0.0.1:5432 for that half).
"""
from __future__ import annotations

import json
import random
import re
import sys
import time
import uuid
from datetime import date, timedelta

import requests
from sqlalchemy import insert, select

from bench.assistant_latency import summary
from bench.databases import on_both_databases
from proxy_service import models as m
from proxy_service.crypto import encrypt
from proxy_service.db import session_factory
from proxy_service.services import accounts
from proxy_service.services.common import now
from proxy_service.uow import SqlUnitOfWork
from tools.model import ROOT
from tools.services import child_running, running_api, tree_rss_kib

RESULTS = ROOT / "bench" / "results" / "console.json"
TICKETS, CALLS, APPLICATIONS, REPEATS, SIGN_INS = 100_000, 20_000, 2_000, 40, 10
PASSWORD = "bench-password-1"


def seed(url: str) -> int:
    """Bulk rows as the services would have written them; returns one ticket id to open."""
    rng = random.Random(7)
    stamp = now()
    with session_factory(url)() as session:
        queues = [q.id for q in session.query(m.StaffQueue)]
        tickets = []
        for i in range(TICKETS):
            created = stamp - timedelta(seconds=i)
            status = rng.choice(("open", "open", "claimed", "resolved"))
            claimed = created + timedelta(minutes=rng.uniform(1, 90)) if status != "open" else None
            tickets.append({
                "reference": f"{10_000_000 + i}", "queue_id": rng.choice(queues), "priority": rng.choice((0, 1, 2, 2, 2)),
                "reason": rng.choice(("request_human", "fallback", "silence", "complaint")), "channel": "phone",
                "conversation_id": f"bench-{i}", "filled_slots": {"service": "elderly_allowance"},
                "transcript": [{"speaker": "bot", "text": "您好，请问您想办什么事？"},
                               {"speaker": "caller", "text": "我想问问高龄津贴怎么领，转人工"}],
                "status": status, "assignee": "bench-staff" if claimed else None, "claimed_at": claimed,
                "sla_due_at": created + timedelta(hours=4), "created_at": created, "updated_at": created})
        for start in range(0, TICKETS, 10_000):
            session.execute(insert(m.HandoffTicket), tickets[start:start + 10_000])
        calls = [{"call_sid": f"CA{uuid.UUID(int=rng.getrandbits(128)).hex}", "channel": rng.choice(("phone", "kiosk")),
                  "started_at": stamp - timedelta(minutes=rng.uniform(0, 30 * 24 * 60)), "status": "completed",
                  "created_at": stamp, "updated_at": stamp} for _ in range(CALLS)]
        session.execute(insert(m.Call), calls)
        resident = m.Resident(name_enc=encrypt("王秀英"), phone_enc=encrypt("13912345678"), created_at=stamp)
        session.add(resident)
        session.flush()
        consent = m.Consent(resident_id=resident.id, purpose="proxy", wording_version="bench", channel="web",
                            granted_at=stamp)
        session.add(consent)
        session.flush()
        session.execute(insert(m.ProxyApplication), [{
            "reference": f"{20_000_000 + i}", "resident_id": resident.id, "service_code": "elderly_allowance",
            "community": "幸福社区", "agent_name_enc": encrypt("王建国"), "relationship_to_resident": "子女",
            "authorisation_scope": "代为申请", "authorisation_valid_from": date.today(),
            "authorisation_valid_until": date.today() + timedelta(days=90), "consent_id": consent.id,
            "materials": [{"name": "户口本", "provided": True}], "status": rng.choice(("submitted", "accepted")),
            "filed_by": "bench", "created_at": stamp - timedelta(minutes=i), "updated_at": stamp,
        } for i in range(APPLICATIONS)])
        session.commit()
        return session.execute(select(m.HandoffTicket.id).where(m.HandoffTicket.status == "open").limit(1)).scalar_one()


def sign_in(base: str, username: str) -> tuple[requests.Session, float]:
    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{base}/login").text).group(1)
    start = time.perf_counter()
    response = session.post(f"{base}/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
                            allow_redirects=False)
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 303, response.text[:300]
    return session, elapsed


def timed_pages(session: requests.Session, base: str, path: str) -> dict:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        response = session.get(f"{base}{path}", allow_redirects=False)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return summary(times)


def measure(url: str) -> dict:
    with running_api(ROOT / "var" / "bench" / "console", url, "bench-token") as base:
        ticket_id = seed(url)
        for role in ("staff", "admin"):
            accounts.create_user(SqlUnitOfWork(session_factory(url)), username=f"bench-{role}", display_name=role,
                                 role=role, password=PASSWORD, actor="bench")
        staff, _ = sign_in(base, "bench-staff")
        supervisor, _ = sign_in(base, "bench-admin")
        sign_ins = [sign_in(base, "bench-staff")[1] for _ in range(SIGN_INS)]
        pages = {
            "queues (counts)": (staff, "/queues"),
            "one queue (first 100 tickets)": (staff, "/queues/social_security"),
            "ticket page": (staff, f"/tickets/{ticket_id}"),
            "bookings of a day": (staff, "/bookings"),
            "applications to review": (staff, "/review"),
            "dashboard, 7 days": (supervisor, "/dashboard?days=7"),
            "dashboard, 30 days": (supervisor, "/dashboard?days=30"),
        }
        results = {name: timed_pages(session, base, path) for name, (session, path) in pages.items()}
        results["sign in (argon2id)"] = summary(sign_ins)
        results["server_rss_mib"] = round(tree_rss_kib(child_running("proxy_service.main")) / 1024, 1)
    return results


def main() -> int:
    results = on_both_databases(measure, "console-bench")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(f"| page ({TICKETS} tickets, {CALLS} calls) | SQLite p50 ms | p95 ms | PostgreSQL p50 ms | p95 ms |")
    print("|---|---:|---:|---:|---:|")
    for page in results["sqlite"]:
        if page == "server_rss_mib":
            continue
        s, p = results["sqlite"][page], results["postgresql"][page]
        print(f"| {page} | {s['p50_ms']} | {s['p95_ms']} | {p['p50_ms']} | {p['p95_ms']} |")
    print(f"| server memory after the run (RSS) | {results['sqlite']['server_rss_mib']} MiB | | "
          f"{results['postgresql']['server_rss_mib']} MiB | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
