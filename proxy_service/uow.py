"""Unit of work: one transaction, with every repository bound to it.

    with uow:            # begins
        ...              # service code uses uow.bookings, uow.slots, …
        uow.commit()     # nothing is durable before this; leaving without it rolls back
"""
from __future__ import annotations

import functools

from sqlalchemy.orm import sessionmaker

from proxy_service import repositories as r
from proxy_service.db import session_factory
from proxy_service.settings import get_settings


class AlreadyAnswered(Exception):
    """The request's Idempotency-Key has a stored response: found in the use case's own
    first transaction, so a fresh request costs no extra round trip."""

    def __init__(self, record) -> None:
        super().__init__(record.key)
        self.scope, self.request_hash = record.scope, record.request_hash
        self.response, self.status_code = record.response, record.status_code


class SqlUnitOfWork:
    def __init__(self, factory: sessionmaker | None = None,
                 idempotency: tuple[str, str, str] | None = None):
        """`factory` decides the database and whether the transaction may write (see
        db.session_factory's read_only)."""
        self._factory = factory or session_factory(get_settings().database_url)
        # (key, scope, request hash) of the API request this unit of work serves, if any:
        # services.common.finish() stores the response under it in the same transaction.
        self.idempotency_request = idempotency
        self._key_checked = idempotency is None

    def __enter__(self) -> "SqlUnitOfWork":
        self.session = self._factory()
        s = self.session
        self.residents = r.ResidentRepository(s)
        self.consents = r.ConsentRepository(s)
        self.places = r.PlaceRepository(s)
        self.slots = r.SlotRepository(s)
        self.bookings = r.BookingRepository(s)
        self.applications = r.ApplicationRepository(s)
        self.queues = r.QueueRepository(s)
        self.tickets = r.TicketRepository(s)
        self.calls = r.CallRepository(s)
        self.audit = r.AuditRepository(s)
        self.outbox = r.OutboxRepository(s)
        self.idempotency_records = r.IdempotencyRepository(s)
        self.notes = r.NoteRepository(s)
        self.users = r.UserRepository(s)
        self.web_sessions = r.WebSessionRepository(s)
        self.login_throttle = r.ThrottleRepository(s)
        if not self._key_checked:   # the first transaction of a keyed request looks for its answer
            self._key_checked = True
            record = self.idempotency_records.get(self.idempotency_request[0])
            if record is not None:
                answered = AlreadyAnswered(record)
                self.session.close()
                raise answered
        return self

    def __exit__(self, *exc) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


@functools.lru_cache(maxsize=8)
def unit_of_work_factory(url: str):
    """What the apps call `make_uow`: `make_uow()` writes (optionally under an idempotency
    key); `make_uow(read_only=True)` only reads and never waits for the write lock."""
    writing, reading = session_factory(url), session_factory(url, read_only=True)

    def make_uow(idempotency: tuple[str, str, str] | None = None, read_only: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(reading if read_only else writing, None if read_only else idempotency)

    return make_uow


def new_unit_of_work(idempotency: tuple[str, str, str] | None = None, read_only: bool = False) -> SqlUnitOfWork:
    """The apps' default factory: a unit of work on the configured database."""
    return unit_of_work_factory(get_settings().database_url)(idempotency, read_only)
