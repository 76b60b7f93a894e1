"""Engines and sessions: SQLite by default (one file under var/), PostgreSQL at scale.

SQLite is set up for several processes writing at once: WAL journal, a busy timeout, and
every transaction begun IMMEDIATE so two writers queue for the lock instead of failing
halfway through (SQLite's deferred transactions cannot upgrade a read lock while another
writer holds it).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _json(value) -> str:
    """JSON columns keep Chinese readable for whoever inspects the database."""
    return json.dumps(value, ensure_ascii=False)


def make_engine(url: str) -> Engine:
    """hide_parameters: a failed statement's error (and so a log line) never carries the values
    bound to it — a transcript, an ID number, a phone."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, future=True, json_serializer=_json, hide_parameters=True,
                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, future=True, json_serializer=_json, hide_parameters=True, pool_pre_ping=True,
                         pool_size=10, max_overflow=20)


@functools.lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def session_factory(url: str) -> sessionmaker:
    return sessionmaker(bind=engine_for(url), future=True, expire_on_commit=False)
