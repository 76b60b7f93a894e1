"""The migrations build exactly the schema the models describe, on both databases."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from proxy_service import models as m
from proxy_service.db import engine_for, session_factory
from proxy_service.migrate import alembic_config
from proxy_service.models import Base


def test_migrated_schema_matches_the_models(database_url):
    with engine_for(database_url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrading_encrypts_what_was_stored_in_clear(tmp_path):
    """Rows written before migration 0006 (transcripts, notes, disability, responses in clear)
    are readable afterwards, and no longer in clear."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0005")
    stamp = "2026-01-05 10:00:00"
    with engine_for(url).begin() as connection:
        for statement in (
            "INSERT INTO staff_queues (id, code, name) VALUES (1, 'general', '综合')",
            "INSERT INTO handoff_tickets (id, reference, queue_id, priority, reason, channel, conversation_id, "
            " transcript, filled_slots, status, sla_due_at, created_at, updated_at) VALUES (1, 'T1234567', 1, 2, "
            " 'request_human', 'phone', 'CA1', '[{\"speaker\": \"caller\", \"text\": \"我要转人工\"}]', "
            " '{\"service\": \"hukou\"}', 'open', :t, :t, :t)",
            "INSERT INTO ticket_notes (ticket_id, author, body, created_at) VALUES (1, 'staff', '回电给王阿姨', :t)",
            "INSERT INTO residents (id, name_enc, disabled, created_at) VALUES (1, 'x', 1, :t)",
            "INSERT INTO idempotency_keys (key, scope, request_hash, status_code, response, created_at) "
            " VALUES ('k1', 'tickets.create', 'h', 201, '{\"reference\": \"T1234567\"}', :t)",
        ):
            connection.execute(text(statement), {"t": stamp})
    command.upgrade(config, "head")
    factory = session_factory(url)
    with factory() as session:
        assert session.get(m.HandoffTicket, 1).transcript == [{"speaker": "caller", "text": "我要转人工"}]
        assert session.get(m.HandoffTicket, 1).filled_slots == {"service": "hukou"}
        assert session.query(m.TicketNote).one().body == "回电给王阿姨"
        assert session.get(m.Resident, 1).disabled is True
        assert session.get(m.IdempotencyRecord, "k1").response == {"reference": "T1234567"}
        raw = session.execute(text("SELECT transcript_enc FROM handoff_tickets")).scalar()
    assert "转人工" not in raw
    engine_for(url).dispose()
