"""Run one measurement on a fresh SQLite file and on a fresh PostgreSQL database, then drop them.

The benchmarks that compare the two databases share this, so each starts from the same state.
"""
from __future__ import annotations

import time
import uuid
from typing import Callable

from sqlalchemy import create_engine, text

from proxy_service.db import engine_for
from tools.model import ROOT

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def on_both_databases(measure: Callable[[str], dict], sqlite_name: str) -> dict:
    """{"sqlite": measure(sqlite url), "postgresql": measure(postgresql url), "measured_at": …}."""
    results = {}
    sqlite_path = ROOT / "var" / "bench" / f"{sqlite_name}.db"
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in sqlite_path.parent.glob(f"{sqlite_name}.db*"):
        leftover.unlink()
    results["sqlite"] = measure(f"sqlite:///{sqlite_path}")
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", future=True)
    name = f"helpline_bench_{uuid.uuid4().hex[:8]}"
    pg_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        results["postgresql"] = measure(pg_url)
    finally:
        engine_for(pg_url).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    results["measured_at"] = time.strftime("%Y-%m-%d %H:%M")
    return results
