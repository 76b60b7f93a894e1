"""Engines and sessions: SQLite by default (one file under var/), PostgreSQL at scale.

SQLite is set up for several processes writing at once: WAL journal, a busy timeout, and
every writing transaction begun IMMEDIATE so two writers queue for the lock instead of failing
halfway through (SQLite's deferred transactions cannot upgrade a read lock while another
writer holds it). Within one process the writers queue before that, in order, for the one
connection of the writing engine: SQLite's own busy handler polls the lock with sleeps of up
to 100 ms and lets late writers overtake, which under load made a few bookings wait a second
(bench/api_throughput.py). A unit of work opened read-only uses the reading engine and begins
DEFERRED: in WAL mode it reads a snapshot and never waits for, or blocks, a writer; it is also
query-only, and on PostgreSQL READ ONLY, so a write slipped into a read path fails loudly on both.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.pool import QueuePool
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from proxy_service import log_privacy
from proxy_service.settings import get_settings

READ_ONLY = {"sqlite_begin": "DEFERRED", "postgresql_readonly": True}


def _json(value) -> str:
    """JSON columns keep Chinese readable for whoever inspects the database."""
    return json.dumps(value, ensure_ascii=False)


def make_engine(url: str, *, writing: bool = False) -> Engine:
    """hide_parameters: a failed statement's error (and so a log line) never carries the values
    bound to it — a transcript, an ID number, a phone; log_privacy drops what the database
    itself says about them. On SQLite, `writing` makes the writers' engine of one connection."""
    log_privacy.install()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        busy_ms = get_settings().sqlite_busy_timeout_ms
        # A pool (SQLAlchemy 1.4 opens a file database afresh for every session otherwise,
        # pragmas and all): connections are shared across the API's threads, one at a time.
        # Writers wait for theirs no longer than for SQLite's lock (a TimeoutError, answered 503).
        size = {"pool_size": 1, "max_overflow": 0} if writing else {"pool_size": 8, "max_overflow": 24}
        engine = create_engine(url, future=True, json_serializer=_json, hide_parameters=True,
                               poolclass=QueuePool, pool_timeout=busy_ms / 1000, **size,
                               connect_args={"timeout": busy_ms / 1000, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection):
            mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            connection.exec_driver_sql(f"PRAGMA query_only={int(mode == 'DEFERRED')}")
            connection.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(url, future=True, json_serializer=_json, hide_parameters=True, pool_pre_ping=True,
                         pool_size=10, max_overflow=20)


def engine_for(url: str, read_only: bool = False) -> Engine:
    """The engine of `url` for writing (and reading within a write), or for reading only: on
    SQLite two engines (the writers' of one connection), on PostgreSQL one."""
    return _engine(url, read_only and url.startswith("sqlite"))


@functools.lru_cache(maxsize=16)
def _engine(url: str, reading: bool) -> Engine:
    return make_engine(url, writing=url.startswith("sqlite") and not reading)


def session_factory(url: str, read_only: bool = False) -> sessionmaker:
    engine = engine_for(url, read_only)
    if read_only:
        # Dialect options not meant for an engine are ignored by it (psycopg2 ignores
        # sqlite_begin; pysqlite ignores postgresql_readonly).
        engine = engine.execution_options(**READ_ONLY)
    return sessionmaker(bind=engine, future=True, expire_on_commit=False)
