"""Unit of work: one transaction, with every repository bound to it.

    with uow:            # begins
        ...              # service code uses uow.bookings, uow.slots, …
        uow.commit()     # nothing is durable before this; leaving without it rolls back
"""
from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from proxy_service import repositories as r
from proxy_service.db import session_factory
from proxy_service.settings import get_settings


class SqlUnitOfWork:
    def __init__(self, factory: sessionmaker | None = None,
                 idempotency: tuple[str, str, str] | None = None):
        self._factory = factory or session_factory(get_settings().database_url)
        # (key, scope, request hash) of the API request this unit of work serves, if any:
        # services.common.finish() stores the response under it in the same transaction.
        self.idempotency_request = idempotency

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
        return self

    def __exit__(self, *exc) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


def new_unit_of_work(idempotency: tuple[str, str, str] | None = None) -> SqlUnitOfWork:
    """The apps' default factory: a unit of work on the configured database."""
    return SqlUnitOfWork(idempotency=idempotency)
