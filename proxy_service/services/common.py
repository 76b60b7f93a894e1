"""Small pieces every use case needs: the clock, references, audit events, the outbox."""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

from proxy_service import models as m
from proxy_service.crypto import encrypt
from proxy_service.settings import get_settings


def now() -> datetime:
    """Local wall-clock time of the service (naive, in the configured time zone)."""
    return datetime.now(ZoneInfo(get_settings().timezone)).replace(tzinfo=None, microsecond=0)


def new_reference(taken: Callable[[str], bool]) -> str:
    """Eight digits, read out one by one on the phone; never starting with 0."""
    for _ in range(20):
        reference = str(secrets.randbelow(90_000_000) + 10_000_000)
        if not taken(reference):
            return reference
    raise RuntimeError("could not find a free reference")


def audit(uow, *, actor: str, entity: Any, action: str, from_state: str | None = None,
          to_state: str | None = None, details: dict | None = None) -> None:
    """Append one audit event. Details must never carry personal data."""
    uow.audit.add(m.AuditEvent(
        at=now(), actor=actor, entity_type=entity.__tablename__, entity_id=entity.id, action=action,
        from_state=from_state, to_state=to_state, details=details or {},
    ))


def notify(uow, *, kind: str, phone: str | None, body: str, entity: Any) -> None:
    """Queue an SMS in the outbox (same transaction as the change it announces)."""
    if not phone:
        return
    uow.outbox.add(m.Notification(
        kind=kind, recipient_enc=encrypt(phone), body_enc=encrypt(body), entity_type=entity.__tablename__,
        entity_id=entity.id, status="pending", attempts=0, created_at=now(),
    ))


def finish(uow, view: dict, status: int = 200) -> dict:
    """Commit the use case; with the request's idempotency key, store its response in the
    same transaction, so a retry finds either both the change and the response or neither."""
    request = getattr(uow, "idempotency_request", None)
    if request is not None:
        key, scope, request_hash = request
        uow.idempotency_records.add(m.IdempotencyRecord(key=key, scope=scope, request_hash=request_hash,
                                                status_code=status, response=view, created_at=now()))
    uow.commit()
    return view
