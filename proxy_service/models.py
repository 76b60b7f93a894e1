"""Tables of proxy_service (SQLAlchemy 1.4, 2.0-style declarative).

Personal data columns end in `_enc` (encrypted at rest, see crypto.py): some hold tokens the
services encrypt themselves, some (attribute names without the suffix) use the encrypting
column types. Audit events are append-only: the migration adds triggers that refuse UPDATE
and DELETE on them.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, deferred, relationship

from proxy_service.crypto import EncryptedJSON, EncryptedText

Base = declarative_base()

BOOKING_MODES = ("assisted", "proxy", "home_visit")          # 帮办 / 代办 / 上门
HALF_DAYS = ("am", "pm")
BOOKING_STATUSES = ("confirmed", "cancelled", "completed")
APPLICATION_STATUSES = ("submitted", "accepted", "missing_materials", "completed", "rejected")
TICKET_STATUSES = ("open", "claimed", "callback_scheduled", "resolved")
# sending: claimed by a worker; uncertain: its worker died mid-send, so it is never resent.
NOTIFICATION_STATUSES = ("pending", "sending", "sent", "uncertain", "not_sent", "failed")
CALL_CHANNELS = ("phone", "kiosk")
# Twilio's CallStatus values; kiosk sessions use the same words.
CALL_STATUSES = ("initiated", "queued", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled")
TRANSFER_OUTCOMES = ("transferred", "not_configured", "failed")
# Console roles: service staff, community workers (社区工作者), supervisors who also administer.
ROLES = ("staff", "worker", "admin")


def _in(column: str, values: tuple[str, ...]) -> CheckConstraint:
    quoted = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=f"ck_{column}_allowed")


class Resident(Base):
    __tablename__ = "residents"
    id = Column(Integer, primary_key=True)
    name_enc = Column(Text)                           # removed when the resident withdraws consent
    phone_enc = Column(Text)
    phone_hash = Column(String(64), index=True)
    phone_last4 = Column(String(4))
    id_number_enc = Column(Text)
    birth_year = Column(Integer)
    # Disability status is sensitive: stored only with a sensitive-data consent on record.
    disabled = Column("disabled_enc", EncryptedJSON)
    created_at = Column(DateTime, nullable=False)


class Consent(Base):
    """A resident's consent, with the exact wording version they agreed to."""

    __tablename__ = "consents"
    id = Column(Integer, primary_key=True)
    resident_id = Column(Integer, ForeignKey("residents.id"), nullable=False, index=True)
    purpose = Column(String(32), nullable=False)     # booking / proxy / sensitive
    wording_version = Column(String(32), nullable=False)
    channel = Column(String(16), nullable=False)     # phone / kiosk / web
    granted_at = Column(DateTime, nullable=False)
    withdrawn_at = Column(DateTime)


class ServicePlace(Base):
    __tablename__ = "service_places"
    id = Column(Integer, primary_key=True)
    code = Column(String(32), nullable=False, unique=True)
    name = Column(String(64), nullable=False)
    district = Column(String(32), nullable=False)
    address = Column(String(128), nullable=False)


class TimeSlot(Base):
    """Half a working day at a service place, with a capacity of bookings."""

    __tablename__ = "time_slots"
    __table_args__ = (
        UniqueConstraint("place_id", "day", "half_day", name="uq_slot_place_day_half"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="ck_slot_not_overbooked"),
        _in("half_day", HALF_DAYS),
    )
    id = Column(Integer, primary_key=True)
    place_id = Column(Integer, ForeignKey("service_places.id"), nullable=False)
    day = Column(Date, nullable=False)
    half_day = Column(String(2), nullable=False)
    capacity = Column(Integer, nullable=False)
    booked = Column(Integer, nullable=False, default=0)
    place = relationship(ServicePlace)


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (_in("mode", BOOKING_MODES), _in("status", BOOKING_STATUSES))
    id = Column(Integer, primary_key=True)
    reference = Column(String(8), nullable=False, unique=True)
    resident_id = Column(Integer, ForeignKey("residents.id"), nullable=False, index=True)
    service_code = Column(String(64), nullable=False)
    mode = Column(String(16), nullable=False)
    slot_id = Column(Integer, ForeignKey("time_slots.id"), nullable=False, index=True)
    address_enc = Column(Text)                        # home visits only
    consent_id = Column(Integer, ForeignKey("consents.id"), nullable=False)
    channel = Column(String(16), nullable=False)
    status = Column(String(16), nullable=False)
    created_at = Column(DateTime, nullable=False)
    updated_at = Column(DateTime, nullable=False)
    resident = relationship(Resident)
    slot = relationship(TimeSlot)


class ProxyApplication(Base):
    """A proxy (代办) application filed on a resident's behalf, with its authorisation."""

    __tablename__ = "proxy_applications"
    __table_args__ = (_in("status", APPLICATION_STATUSES),
                      CheckConstraint("authorisation_valid_until >= authorisation_valid_from",
                                      name="ck_authorisation_period"))
    id = Column(Integer, primary_key=True)
    reference = Column(String(8), nullable=False, unique=True)
    resident_id = Column(Integer, ForeignKey("residents.id"), nullable=False, index=True)
    service_code = Column(String(64), nullable=False)
    community = Column(String(64), nullable=False, index=True)
    agent_name_enc = Column(Text)                     # removed by retention once the case is old
    agent_phone_enc = Column(Text)
    agent_id_number_enc = Column(Text)
    relationship_to_resident = Column(String(32), nullable=False)
    authorisation_scope = Column(Text, nullable=False)
    authorisation_valid_from = Column(Date, nullable=False)
    authorisation_valid_until = Column(Date, nullable=False)
    authorisation_file = Column(String(256))
    consent_id = Column(Integer, ForeignKey("consents.id"), nullable=False)
    # [{"name": "本人身份证", "provided": true}, …] from the catalogue's materials list.
    materials = Column(JSON, nullable=False)
    status = Column(String(24), nullable=False)
    status_note = Column(Text)                        # what is missing, or why rejected
    filed_by = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False)
    updated_at = Column(DateTime, nullable=False)
    resident = relationship(Resident)


class StaffQueue(Base):
    __tablename__ = "staff_queues"
    id = Column(Integer, primary_key=True)
    code = Column(String(32), nullable=False, unique=True)
    name = Column(String(64), nullable=False)


class HandoffTicket(Base):
    """A caller handed to staff, with everything already said."""

    __tablename__ = "handoff_tickets"
    __table_args__ = (_in("status", TICKET_STATUSES),
                      # A queue page: open tickets of one queue, priority first, then oldest.
                      Index("ix_tickets_queue_order", "queue_id", "status", "priority", "created_at"))
    id = Column(Integer, primary_key=True)
    reference = Column(String(8), nullable=False, unique=True)
    queue_id = Column(Integer, ForeignKey("staff_queues.id"), nullable=False, index=True)
    priority = Column(Integer, nullable=False)        # 0 urgent, 1 raised, 2 normal
    reason = Column(String(32), nullable=False)
    channel = Column(String(16), nullable=False)
    conversation_id = Column(String(128), nullable=False, index=True)
    caller_phone_enc = Column(Text)
    caller_phone_hash = Column(String(64), index=True)   # one system callback per caller and day
    caller_last4 = Column(String(4))
    # [{"speaker", "text", "at"}]; loaded (and decrypted) only when read, not for queue lists.
    transcript = deferred(Column("transcript_enc", EncryptedJSON, nullable=False))
    filled_slots = Column("filled_slots_enc", EncryptedJSON, nullable=False)
    status = Column(String(24), nullable=False, index=True)
    assignee = Column(String(64))
    sla_due_at = Column(DateTime, nullable=False)
    callback_from = Column(DateTime)
    callback_until = Column(DateTime)
    created_at = Column(DateTime, nullable=False, index=True)
    updated_at = Column(DateTime, nullable=False)
    claimed_at = Column(DateTime)
    closed_at = Column(DateTime)
    purged_at = Column(DateTime)                      # transcript and number removed (retention)
    queue = relationship(StaffQueue)


class Call(Base):
    """One phone call or kiosk session, as the voice gateway and Twilio's status callbacks report it."""

    __tablename__ = "calls"
    __table_args__ = (_in("channel", CALL_CHANNELS), _in("status", CALL_STATUSES),
                      _in("transfer_outcome", TRANSFER_OUTCOMES),
                      CheckConstraint("duration_seconds >= 0", name="ck_call_duration_not_negative"),
                      CheckConstraint("ended_at >= started_at", name="ck_call_ends_after_start"))
    id = Column(Integer, primary_key=True)
    call_sid = Column(String(64), nullable=False, unique=True)   # Twilio "CA…" or a kiosk session id
    channel = Column(String(8), nullable=False)
    caller_phone_enc = Column(Text)
    caller_phone_hash = Column(String(64), index=True)
    started_at = Column(DateTime, index=True)
    ended_at = Column(DateTime)
    status = Column(String(16))
    duration_seconds = Column(Integer)
    transfer_ticket = Column(String(8))                # reference of the handoff ticket
    transfer_target = Column(String(128))
    transfer_outcome = Column(String(16))
    transfer_detail = Column(String(500))
    # Until when the gateway holding the call vouches for it (it renews the lease while the
    # call goes on and clears it when the call ended well). An expired lease means the call
    # was lost with its gateway: the worker files a callback (services/calls.py).
    lease_until = Column(DateTime, index=True)
    created_at = Column(DateTime, nullable=False, index=True)
    updated_at = Column(DateTime, nullable=False)


class TicketNote(Base):
    """A staff note on a ticket (free text: kept apart from the audit trail, which holds no personal data)."""

    __tablename__ = "ticket_notes"
    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("handoff_tickets.id"), nullable=False, index=True)
    author = Column(String(64), nullable=False)
    body = Column("body_enc", EncryptedText, nullable=False)
    created_at = Column(DateTime, nullable=False)


class StaffUser(Base):
    """An account of the web console. Community workers belong to one community."""

    __tablename__ = "staff_users"
    __table_args__ = (_in("role", ROLES),
                      CheckConstraint("role <> 'worker' OR community IS NOT NULL", name="ck_worker_has_community"))
    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    display_name = Column(String(64), nullable=False)
    role = Column(String(16), nullable=False)
    community = Column(String(64))
    password_hash = Column(String(256), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime, nullable=False)
    last_login_at = Column(DateTime)


class WebSession(Base):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored."""

    __tablename__ = "web_sessions"
    token_hash = Column(String(64), primary_key=True)
    user_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False)
    last_seen_at = Column(DateTime, nullable=False)
    user = relationship(StaffUser)


class LoginThrottle(Base):
    """Failed attempts per key, for a lock-out (services/throttle.py): sign-ins per account
    name and client address, phone-tail look-ups per reference and requester."""

    __tablename__ = "login_throttle"
    key = Column(String(160), primary_key=True)       # "user:<name>" or "ip:<address>"
    failures = Column(Integer, nullable=False)
    window_started_at = Column(DateTime, nullable=False)
    locked_until = Column(DateTime)


class AuditEvent(Base):
    """Append-only trail of every state change: who, when, what, from → to."""

    __tablename__ = "audit_events"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, index=True)
    actor = Column(String(64), nullable=False)
    entity_type = Column(String(32), nullable=False)
    entity_id = Column(Integer, nullable=False)
    action = Column(String(32), nullable=False)
    from_state = Column(String(32))
    to_state = Column(String(32))
    details = Column(JSON)


class Notification(Base):
    """Outbox: written with the change it announces, delivered later by the sender."""

    __tablename__ = "notifications"
    __table_args__ = (_in("status", NOTIFICATION_STATUSES),)
    id = Column(Integer, primary_key=True)
    kind = Column(String(32), nullable=False)
    recipient_enc = Column(Text, nullable=False)
    body_enc = Column(Text, nullable=False)
    entity_type = Column(String(32), nullable=False)
    entity_id = Column(Integer, nullable=False)
    status = Column(String(16), nullable=False, index=True)
    attempts = Column(Integer, nullable=False, default=0)
    # Kind and message of the provider's last error, digit runs masked (never a number).
    last_error = Column(Text)
    created_at = Column(DateTime, nullable=False)
    next_attempt_at = Column(DateTime)
    claimed_at = Column(DateTime)
    sent_at = Column(DateTime)


class IdempotencyRecord(Base):
    """The stored response to a write, so a retried request returns it instead of acting twice."""

    __tablename__ = "idempotency_keys"
    key = Column(String(128), primary_key=True)
    scope = Column(String(64), nullable=False)
    request_hash = Column(String(64), nullable=False)
    status_code = Column(Integer, nullable=False)
    response = Column("response_enc", EncryptedJSON, nullable=False)   # names, phones, transcripts
    created_at = Column(DateTime, nullable=False)
