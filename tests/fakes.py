"""In-memory stand-ins for the repositories and the unit of work, for fast unit tests of
the service functions (the same functions run on SQLite and PostgreSQL in tests/proxy/)."""
from __future__ import annotations

import itertools

from proxy_service import models as m


class FakeRepository:
    def __init__(self, store: "FakeStore", kind: str):
        self.store, self.kind = store, kind

    @property
    def rows(self) -> dict:
        return self.store.tables.setdefault(self.kind, {})

    def add(self, record):
        record.id = record.id or next(self.store.ids)
        self.store.wire(record)
        self.rows[record.id] = record
        return record

    def get(self, record_id):
        return self.rows.get(record_id)

    def _find(self, **where):
        return [r for r in self.rows.values() if all(getattr(r, k) == v for k, v in where.items())]

    def _one(self, **where):
        found = self._find(**where)
        return found[0] if found else None


class FakeSlots(FakeRepository):
    def find(self, place_id, day, half_day):
        return self._one(place_id=place_id, day=day, half_day=half_day)

    def between(self, place_id, first, last):
        return sorted((s for s in self._find(place_id=place_id) if first <= s.day <= last),
                      key=lambda s: (s.day, s.half_day))

    def reserve(self, slot_id):
        slot = self.rows[slot_id]
        if slot.booked >= slot.capacity:
            return False
        slot.booked += 1
        return True

    def reserve_in(self, place_id, day, half_day, capacity):
        slot = self.find(place_id, day, half_day) or self.add(
            m.TimeSlot(place_id=place_id, day=day, half_day=half_day, capacity=capacity, booked=0))
        return slot.id if self.reserve(slot.id) else None

    def release(self, slot_id):
        slot = self.rows[slot_id]
        slot.booked = max(0, slot.booked - 1)


class FakeByCode(FakeRepository):
    def by_code(self, code):
        return self._one(code=code)

    for_update = by_code


class FakeByReference(FakeRepository):
    def by_reference(self, reference):
        return self._one(reference=reference)

    def reference_taken(self, reference):
        return self.by_reference(reference) is not None


class FakeTickets(FakeByReference):
    def serialise(self, *keys):
        pass

    def unresolved_for_conversation(self, conversation_id):
        return next((t for t in self._find(conversation_id=conversation_id) if t.status != "resolved"), None)


class FakeResidents(FakeRepository):
    def find_by_phone_hash(self, phone_hash):
        return self._find(phone_hash=phone_hash)


class FakeAudit(FakeRepository):
    def for_entity(self, entity_type, entity_id):
        return self._find(entity_type=entity_type, entity_id=entity_id)


class FakeStore:
    """Committed state shared by every unit of work of one test."""

    RELATIONS = {"slot_id": ("slot", "time_slots"), "resident_id": ("resident", "residents"),
                 "place_id": ("place", "service_places"), "queue_id": ("queue", "staff_queues")}

    def __init__(self):
        self.tables: dict[str, dict] = {}
        self.ids = itertools.count(1)

    def wire(self, record):
        for column, (attribute, table) in self.RELATIONS.items():
            if hasattr(type(record), column) and getattr(record, column, None) is not None:
                setattr(record, attribute, self.tables.get(table, {}).get(getattr(record, column)))


class FakeUnitOfWork:
    """Not transactional: enough for logic tests; atomicity is tested on real databases."""

    def __init__(self, store: FakeStore | None = None):
        self.store = store or FakeStore()
        self.idempotency_request = None
        self.committed = 0
        s = self.store
        self.residents, self.consents = FakeResidents(s, "residents"), FakeRepository(s, "consents")
        self.places, self.queues = FakeByCode(s, "service_places"), FakeByCode(s, "staff_queues")
        self.slots = FakeSlots(s, "time_slots")
        self.bookings, self.tickets = FakeByReference(s, "bookings"), FakeTickets(s, "handoff_tickets")
        self.applications = FakeByReference(s, "proxy_applications")
        self.audit, self.outbox = FakeAudit(s, "audit_events"), FakeRepository(s, "notifications")
        self.idempotency_records = FakeRepository(s, "idempotency_keys")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def commit(self):
        self.committed += 1

    def rollback(self):
        pass

    def seed(self):
        self.places.add(m.ServicePlace(code="city_hall", name="市政务服务中心", district="东城区", address="示例大道100号"))
        for code in ("social_security", "complaints", "general", "civil_affairs"):
            self.queues.add(m.StaffQueue(code=code, name=code))
        return self
