"""A booking is one transaction whose every statement an index serves, on both databases.

The statements are the ones a real booking sends (caught on the engine); each is explained
with its own parameters: PostgreSQL's EXPLAIN with sequential scans priced out (a plan that
still scans has no index to use), SQLite's EXPLAIN QUERY PLAN (SEARCH … USING INDEX, not SCAN).
"""
from __future__ import annotations

import contextlib
import uuid

from sqlalchemy import event

from proxy_service.db import engine_for
from proxy_service.services import bookings
from tests.proxy.builders import booking_request

READS_OR_MATCHES = ("SELECT", "UPDATE", "DELETE")


@contextlib.contextmanager
def statements_sent(url: str):
    sent: list[tuple[str, object]] = []

    def catch(_connection, _cursor, statement, parameters, _context, _executemany):
        sent.append((statement, parameters))

    engine = engine_for(url)
    event.listen(engine, "before_cursor_execute", catch)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", catch)


def plan(url: str, statement: str, parameters) -> str:
    connection = engine_for(url).raw_connection()
    try:
        cursor = connection.cursor()
        if url.startswith("postgresql"):
            cursor.execute("SET enable_seqscan = off")
            cursor.execute(f"EXPLAIN {statement}", parameters)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
        lines = [" ".join(str(part) for part in row) for row in cursor.fetchall()]
    finally:
        connection.rollback()
        connection.close()
    return "\n".join(lines)


def scans(url: str, text: str) -> bool:
    if url.startswith("postgresql"):
        return "Seq Scan" in text
    return any(" SCAN " in f" {line} " and "CONSTANT ROW" not in line for line in text.splitlines())


def test_every_statement_of_a_booking_is_served_by_an_index(database_url, uow_factory):
    bookings.create_booking(uow_factory(), booking_request(), actor="test")   # the slot's row exists
    with statements_sent(database_url) as sent:
        bookings.create_booking(uow_factory((uuid.uuid4().hex, "booking.create", "hash")), booking_request(),
                                actor="test")
    sent = [(statement, parameters) for statement, parameters in sent
            if statement.split(None, 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE")]
    kinds = [statement.split(None, 1)[0].upper() for statement, _ in sent]
    # resident, consent, the slot's upsert, booking, audit, SMS, stored answer
    assert kinds.count("INSERT") == 7, kinds
    assert len(sent) <= 12, kinds
    explained = [(statement, plan(database_url, statement, parameters)) for statement, parameters in sent
                 if statement.lstrip().upper().startswith(READS_OR_MATCHES) or "ON CONFLICT" in statement.upper()]
    assert len(explained) >= 5       # stored answer, place, resident by phone, reference, the slot's upsert
    scanning = [(statement.split("\n")[0][:80], text) for statement, text in explained if scans(database_url, text)]
    assert scanning == []
