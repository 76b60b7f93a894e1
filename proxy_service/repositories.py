"""Repositories: how the service layer reads and writes each kind of record.

The service functions talk to these methods only, so unit tests can run them on the
in-memory fakes of tests/fakes.py and integration tests on SQLite and PostgreSQL.

What a booking writes goes through SQLAlchemy Core statements on the session's connection
(DirectInsertRepository, AppendOnlyRepository, the slot's upsert, the idempotency look-up):
an ORM flush or query costs about 240 µs of CPU here, the same statement through Core about
75 µs, and a booking makes eleven of them (bench/api_throughput.py).
"""
from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Generic, Iterable, TypeVar

from sqlalchemy import and_, bindparam, delete, func, inspect, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from proxy_service import models as m

T = TypeVar("T")


class SqlRepository(Generic[T]):
    model: type

    def __init__(self, session: Session):
        self.session = session

    def add(self, record: T) -> T:
        self.session.add(record)
        self.session.flush()
        return record

    def get(self, key: int | str) -> T | None:
        """By primary key (an id, or the key of keyed tables such as sessions)."""
        return self.session.get(self.model, key)

    def _one(self, **where) -> T | None:
        return self.session.execute(select(self.model).filter_by(**where)).scalar_one_or_none()

    def _insert(self, record: T):
        """One INSERT of the record's column values (None left to the column's default)."""
        values = {column: getattr(record, key) for key, column in _columns(self.model)}
        return self.session.connection().execute(
            _insert_into(self.model), {column: value for column, value in values.items() if value is not None})


# Statements built once: SQLAlchemy then finds their compiled form in its cache without
# working out a cache key from a new statement each time.
@functools.lru_cache(maxsize=None)
def _columns(model: type) -> tuple[tuple[str, str], ...]:
    """(attribute, column name) of each mapped column."""
    return tuple((attr.key, attr.columns[0].name) for attr in inspect(model).column_attrs)


@functools.lru_cache(maxsize=None)
def _insert_into(model: type):
    return model.__table__.insert()


@functools.lru_cache(maxsize=None)
def _exists_where(model: type, column: str):
    table = model.__table__
    return select(table.c.id).where(table.c[column] == bindparam("value")).limit(1)


class DirectInsertRepository(SqlRepository[T]):
    """`add` is one INSERT at once, and the record then joins the session as if it had been
    loaded (its id set, changes to it tracked as usual), without a unit-of-work flush. Set
    its foreign keys, not its relationships, before adding it."""

    def add(self, record: T) -> T:
        given = [rel.key for rel in inspect(self.model).relationships if rel.key in record.__dict__]
        if given:
            raise TypeError(f"{self.model.__name__}: set the foreign keys of {given}, not the relationships")
        record.id = self._insert(record).inserted_primary_key[0]
        make_transient_to_detached(record)
        self.session.add(record)
        return record


class AppendOnlyRepository(SqlRepository[T]):
    """Records written once and not read back in the transaction that writes them (audit
    events, outbox rows, stored responses): `add` is one INSERT, without the ORM's
    bookkeeping."""

    def add(self, record: T) -> T:
        self._insert(record)
        return record


class ResidentRepository(DirectInsertRepository[m.Resident]):
    model = m.Resident

    def find_by_phone_hash(self, phone_hash: str) -> list[m.Resident]:
        return list(self.session.execute(select(m.Resident).filter_by(phone_hash=phone_hash)).scalars())


class ConsentRepository(DirectInsertRepository[m.Consent]):
    model = m.Consent


class PlaceRepository(SqlRepository[m.ServicePlace]):
    model = m.ServicePlace

    def by_code(self, code: str):
        """The place (a read-only row: id, code, name, district, address), or None."""
        return self.session.connection().execute(_place_by_code(), {"code": code}).first()

    def for_update(self, code: str) -> m.ServicePlace | None:
        """The place as a record to change (reference data)."""
        return self._one(code=code)

    def list(self) -> list[m.ServicePlace]:
        return list(self.session.execute(select(m.ServicePlace).order_by(m.ServicePlace.id)).scalars())


class SlotRepository(SqlRepository[m.TimeSlot]):
    model = m.TimeSlot

    def find(self, place_id: int, day: date, half_day: str) -> m.TimeSlot | None:
        return self._one(place_id=place_id, day=day, half_day=half_day)

    def reserve_in(self, place_id: int, day: date, half_day: str, capacity: int) -> int | None:
        """Take one place in the slot, creating the slot row on first use, in one statement
        (both databases): INSERT with the first place taken, or ON CONFLICT the same
        conditional increment as `reserve`, so racing requests never overbook. The slot's id,
        or None when it is full."""
        if capacity < 1:
            return None
        connection = self.session.connection()
        values = {"place_id": place_id, "day": day, "half_day": half_day, "capacity": capacity}
        if connection.dialect.name == "postgresql":
            taken = connection.execute(_slot_upsert("postgresql"), values).scalar_one_or_none()
        elif connection.execute(_slot_upsert("sqlite"), values).rowcount == 1:
            taken = self.find(place_id, day, half_day).id   # no RETURNING for SQLite in SQLAlchemy 1.4;
        else:                                               # the write lock is ours until commit
            taken = None
        self._expire_loaded()
        return taken

    def _expire_loaded(self) -> None:
        """Slots this session loaded earlier are stale after a counting UPDATE: read them afresh."""
        for record in list(self.session.identity_map.values()):
            if isinstance(record, m.TimeSlot):
                self.session.expire(record)

    def between(self, place_id: int, first: date, last: date) -> list[m.TimeSlot]:
        query = (select(m.TimeSlot).where(m.TimeSlot.place_id == place_id, m.TimeSlot.day >= first,
                                          m.TimeSlot.day <= last)
                 .order_by(m.TimeSlot.day, m.TimeSlot.half_day))
        return list(self.session.execute(query).scalars())

    def on_day(self, day: date, place_id: int | None = None) -> list[m.TimeSlot]:
        query = select(m.TimeSlot).where(m.TimeSlot.day == day)
        if place_id is not None:
            query = query.where(m.TimeSlot.place_id == place_id)
        return list(self.session.execute(query.order_by(m.TimeSlot.place_id, m.TimeSlot.half_day)).scalars())

    def reserve(self, slot_id: int) -> bool:
        """Take one place in the slot if any is left: one atomic conditional UPDATE, so
        racing requests can never push `booked` past `capacity` on either database."""
        result = self.session.execute(
            update(m.TimeSlot)
            .where(and_(m.TimeSlot.id == slot_id, m.TimeSlot.booked < m.TimeSlot.capacity))
            .values(booked=m.TimeSlot.booked + 1)
            .execution_options(synchronize_session=False)
        )
        self.session.expire_all()
        return result.rowcount == 1

    def release(self, slot_id: int) -> None:
        self.session.execute(
            update(m.TimeSlot).where(and_(m.TimeSlot.id == slot_id, m.TimeSlot.booked > 0))
            .values(booked=m.TimeSlot.booked - 1).execution_options(synchronize_session=False)
        )
        self.session.expire_all()


@functools.lru_cache(maxsize=1)
def _place_by_code():
    table = m.ServicePlace.__table__
    return select(table).where(table.c.code == bindparam("code"))


@functools.lru_cache(maxsize=2)
def _slot_upsert(dialect: str):
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    upsert = insert(m.TimeSlot).values(place_id=bindparam("place_id"), day=bindparam("day"),
                                       half_day=bindparam("half_day"), capacity=bindparam("capacity"), booked=1)
    upsert = upsert.on_conflict_do_update(index_elements=["place_id", "day", "half_day"],
                                          set_={"booked": m.TimeSlot.booked + 1},
                                          where=m.TimeSlot.booked < m.TimeSlot.capacity)
    return upsert.returning(m.TimeSlot.id) if dialect == "postgresql" else upsert


class BookingRepository(DirectInsertRepository[m.Booking]):
    model = m.Booking

    def by_reference(self, reference: str) -> m.Booking | None:
        return self._one(reference=reference)

    def reference_taken(self, reference: str) -> bool:
        return self.session.connection().execute(_exists_where(m.Booking, "reference"),
                                                 {"value": reference}).first() is not None

    def in_slots(self, slot_ids: Iterable[int]) -> list[m.Booking]:
        """Bookings of these slots, oldest first (every status: a cancelled one is still shown)."""
        query = (select(m.Booking).where(m.Booking.slot_id.in_(list(slot_ids)))
                 .order_by(m.Booking.slot_id, m.Booking.created_at, m.Booking.id))
        return list(self.session.execute(query).scalars())


class ApplicationRepository(SqlRepository[m.ProxyApplication]):
    model = m.ProxyApplication

    def by_reference(self, reference: str) -> m.ProxyApplication | None:
        return self._one(reference=reference)

    def list(self, community: str | None = None, status: str | None = None,
             limit: int = 50, offset: int = 0) -> list[m.ProxyApplication]:
        query = select(m.ProxyApplication)
        if community:
            query = query.where(m.ProxyApplication.community == community)
        if status:
            query = query.where(m.ProxyApplication.status == status)
        query = query.order_by(m.ProxyApplication.created_at.desc()).limit(limit).offset(offset)
        return list(self.session.execute(query).scalars())

    def newest_first(self, statuses: Iterable[str] | None = None, community: str | None = None,
                     limit: int = 200) -> list[m.ProxyApplication]:
        """Applications in any of `statuses` (all when None), newest first."""
        query = select(m.ProxyApplication)
        if statuses is not None:
            query = query.where(m.ProxyApplication.status.in_(list(statuses)))
        if community is not None:
            query = query.where(m.ProxyApplication.community == community)
        query = query.order_by(m.ProxyApplication.created_at.desc(), m.ProxyApplication.id.desc()).limit(limit)
        return list(self.session.execute(query).scalars())

    def count_by_status(self, community: str | None = None) -> dict[str, int]:
        query = select(m.ProxyApplication.status, func.count()).group_by(m.ProxyApplication.status)
        if community is not None:
            query = query.where(m.ProxyApplication.community == community)
        return {status: int(n) for status, n in self.session.execute(query)}


class QueueRepository(SqlRepository[m.StaffQueue]):
    model = m.StaffQueue

    def by_code(self, code: str) -> m.StaffQueue | None:
        return self._one(code=code)

    def list_with_open_counts(self) -> list[tuple[m.StaffQueue, int]]:
        open_states = ("open", "claimed", "callback_scheduled")
        counts = (select(m.HandoffTicket.queue_id, func.count().label("n"))
                  .where(m.HandoffTicket.status.in_(open_states))
                  .group_by(m.HandoffTicket.queue_id).subquery())
        query = (select(m.StaffQueue, func.coalesce(counts.c.n, 0))
                 .outerjoin(counts, counts.c.queue_id == m.StaffQueue.id).order_by(m.StaffQueue.id))
        return [(queue, int(count)) for queue, count in self.session.execute(query)]


class TicketRepository(SqlRepository[m.HandoffTicket]):
    model = m.HandoffTicket

    def serialise(self, *keys: str) -> None:
        """Until this transaction ends, others naming any of `keys` wait here: one caller's or
        one conversation's tickets are looked for and written one request at a time, so two
        racing requests cannot both find none and both file one. PostgreSQL: transaction-scoped
        advisory locks (taken in order, so two requests never wait for each other); SQLite's
        writers already take turns for the whole transaction."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        for key in sorted(set(keys)):
            self.session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"ticket:{key}", 0))))

    def get_for_update(self, ticket_id: int) -> m.HandoffTicket | None:
        """The ticket, locked until commit: two staff claiming at once take turns (PostgreSQL)."""
        query = select(m.HandoffTicket).filter_by(id=ticket_id).with_for_update()
        return self.session.execute(query).scalar_one_or_none()

    def by_reference(self, reference: str) -> m.HandoffTicket | None:
        return self._one(reference=reference)

    def unresolved_for_conversation(self, conversation_id: str) -> m.HandoffTicket | None:
        query = (select(m.HandoffTicket).filter_by(conversation_id=conversation_id)
                 .where(m.HandoffTicket.status != "resolved").order_by(m.HandoffTicket.id).limit(1).with_for_update())
        return self.session.execute(query).scalar_one_or_none()

    def unresolved_for_caller_since(self, phone_hash: str, since: datetime,
                                    reasons: Iterable[str]) -> m.HandoffTicket | None:
        query = (select(m.HandoffTicket)
                 .where(m.HandoffTicket.caller_phone_hash == phone_hash, m.HandoffTicket.created_at >= since,
                        m.HandoffTicket.status != "resolved", m.HandoffTicket.reason.in_(list(reasons)))
                 .order_by(m.HandoffTicket.id).limit(1).with_for_update())
        return self.session.execute(query).scalar_one_or_none()

    def in_queue(self, queue_id: int, statuses: Iterable[str], limit: int = 50,
                 offset: int = 0) -> list[m.HandoffTicket]:
        """Priority first, then oldest first: the order staff should take them in."""
        query = (select(m.HandoffTicket)
                 .where(m.HandoffTicket.queue_id == queue_id, m.HandoffTicket.status.in_(list(statuses)))
                 .order_by(m.HandoffTicket.priority, m.HandoffTicket.created_at, m.HandoffTicket.id)
                 .limit(limit).offset(offset))
        return list(self.session.execute(query).scalars())


class CallRepository(SqlRepository[m.Call]):
    model = m.Call

    def by_sid(self, call_sid: str, *, for_update: bool = False) -> m.Call | None:
        """With for_update, concurrent reports of one call take turns (PostgreSQL; SQLite
        transactions already do, see db.py)."""
        query = select(m.Call).filter_by(call_sid=call_sid)
        if for_update:
            query = query.with_for_update()
        return self.session.execute(query).scalar_one_or_none()

    def add_if_absent(self, call: m.Call) -> m.Call | None:
        """Insert the call unless its call_sid is taken, even by a report committed a moment
        ago by a concurrent request: None then (a savepoint keeps the transaction usable)."""
        try:
            with self.session.begin_nested():
                self.session.add(call)
                self.session.flush()
        except IntegrityError:
            return None
        return call

    def set_leases(self, call_sids: list[str], until: datetime | None, *, only_held: bool) -> int:
        """only_held: renew only leases still running (a swept call stays ended)."""
        if not call_sids:
            return 0
        query = update(m.Call).where(m.Call.call_sid.in_(call_sids))
        if only_held:
            query = query.where(m.Call.lease_until.isnot(None))
        return self.session.execute(query.values(lease_until=until).execution_options(
            synchronize_session=False)).rowcount

    def lease_expired(self, moment: datetime, *, limit: int) -> list[m.Call]:
        """Calls whose lease ran out, locked (two workers never sweep one call twice)."""
        query = (select(m.Call).where(m.Call.lease_until < moment).order_by(m.Call.lease_until).limit(limit)
                 .with_for_update(skip_locked=True))
        return list(self.session.execute(query).scalars())

    def _day_expression(self):
        # A call counts on the day it started; one never reported as started, on the day we heard of it.
        return func.coalesce(m.Call.started_at, m.Call.created_at)

    def counts_by_day_and_channel(self, since: datetime) -> list[tuple[date | str, str, int]]:
        """(day, channel, calls) from `since` on; the day comes back as a date (PostgreSQL) or
        an ISO string (SQLite)."""
        when = self._day_expression()
        day = func.date(when)
        query = (select(day, m.Call.channel, func.count()).where(when >= since)
                 .group_by(day, m.Call.channel).order_by(day, m.Call.channel))
        return [(d, channel, int(n)) for d, channel, n in self.session.execute(query)]

    def transfer_outcome_counts(self, since: datetime) -> dict[str, int]:
        query = (select(m.Call.transfer_outcome, func.count())
                 .where(self._day_expression() >= since, m.Call.transfer_outcome.is_not(None))
                 .group_by(m.Call.transfer_outcome))
        return {outcome: int(n) for outcome, n in self.session.execute(query)}


class AuditRepository(AppendOnlyRepository[m.AuditEvent]):
    model = m.AuditEvent

    def for_entity(self, entity_type: str, entity_id: int) -> list[m.AuditEvent]:
        query = (select(m.AuditEvent).filter_by(entity_type=entity_type, entity_id=entity_id)
                 .order_by(m.AuditEvent.id))
        return list(self.session.execute(query).scalars())


class OutboxRepository(AppendOnlyRepository[m.Notification]):
    model = m.Notification

    def pending(self, limit: int = 50) -> list[m.Notification]:
        query = select(m.Notification).filter_by(status="pending").order_by(m.Notification.id).limit(limit)
        return list(self.session.execute(query).scalars())

    def claim_due(self, stamp: datetime, limit: int) -> list[m.Notification]:
        """Pending rows whose time has come, locked for this transaction; rows another worker
        has locked are skipped, not waited for (PostgreSQL; SQLite ignores the clause)."""
        query = (select(m.Notification).filter_by(status="pending")
                 .where(or_(m.Notification.next_attempt_at.is_(None), m.Notification.next_attempt_at <= stamp))
                 .order_by(m.Notification.id).limit(limit).with_for_update(skip_locked=True))
        return list(self.session.execute(query).scalars())

    def claimed_before(self, stamp: datetime) -> list[m.Notification]:
        query = (select(m.Notification).filter_by(status="sending").where(m.Notification.claimed_at < stamp)
                 .with_for_update(skip_locked=True))
        return list(self.session.execute(query).scalars())

    def for_entity(self, entity_type: str, entity_id: int) -> list[m.Notification]:
        query = select(m.Notification).filter_by(entity_type=entity_type, entity_id=entity_id)
        return list(self.session.execute(query.order_by(m.Notification.id)).scalars())


class IdempotencyRepository(AppendOnlyRepository[m.IdempotencyRecord]):
    model = m.IdempotencyRecord

    def get(self, key: str):
        """The stored answer under `key` (a read-only row: key, scope, request_hash,
        status_code, response, created_at), or None. Every keyed write asks this first."""
        return self.session.connection().execute(_stored_answer(), {"key": key}).first()


@functools.lru_cache(maxsize=1)
def _stored_answer():
    table = m.IdempotencyRecord.__table__
    return select(*[table.c[column].label(key) for key, column in _columns(m.IdempotencyRecord)]).where(
        table.c.key == bindparam("key"))


class NoteRepository(SqlRepository[m.TicketNote]):
    model = m.TicketNote

    def delete_for_ticket(self, ticket_id: int) -> None:
        self.session.execute(delete(m.TicketNote).where(m.TicketNote.ticket_id == ticket_id))

    def for_ticket(self, ticket_id: int) -> list[m.TicketNote]:
        query = select(m.TicketNote).filter_by(ticket_id=ticket_id).order_by(m.TicketNote.id)
        return list(self.session.execute(query).scalars())


class UserRepository(SqlRepository[m.StaffUser]):
    model = m.StaffUser

    def by_username(self, username: str) -> m.StaffUser | None:
        return self._one(username=username)

    def list(self) -> list[m.StaffUser]:
        query = select(m.StaffUser).order_by(m.StaffUser.role, m.StaffUser.username)
        return list(self.session.execute(query).scalars())


class WebSessionRepository(SqlRepository[m.WebSession]):
    model = m.WebSession

    def delete_for_user(self, user_id: int) -> None:
        self.session.execute(delete(m.WebSession).where(m.WebSession.user_id == user_id))

    def delete(self, record: m.WebSession) -> None:
        self.session.delete(record)


class ThrottleRepository(SqlRepository[m.LoginThrottle]):
    model = m.LoginThrottle

    def clear(self, key: str) -> None:
        self.session.execute(delete(m.LoginThrottle).where(m.LoginThrottle.key == key))
