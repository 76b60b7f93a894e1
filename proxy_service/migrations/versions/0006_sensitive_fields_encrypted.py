"""Sensitive fields encrypted at rest: transcripts, filled slots, notes, disability status and
stored responses; agent names may be removed by retention, residents' names when they
withdraw consent.

Revision ID: 0006
Revises: 0005
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# table, primary key, old column, its type, new column, nullable, is JSON
MOVES = [
    ("handoff_tickets", "id", "transcript", sa.JSON(), "transcript_enc", False, True),
    ("handoff_tickets", "id", "filled_slots", sa.JSON(), "filled_slots_enc", False, True),
    ("ticket_notes", "id", "body", sa.Text(), "body_enc", False, False),
    ("residents", "id", "disabled", sa.Boolean(), "disabled_enc", True, True),
    ("idempotency_keys", "key", "response", sa.JSON(), "response_enc", False, True),
]


def _copy(table_name: str, key: str, source: str, source_type, target: str, target_type, convert) -> None:
    connection = op.get_bind()
    table = sa.table(table_name, sa.column(key), sa.column(source, source_type), sa.column(target, target_type))
    for row in connection.execute(sa.select(table.c[key], table.c[source])).all():
        connection.execute(table.update().where(table.c[key] == row[0]).values({target: convert(row[1])}))


def upgrade() -> None:
    from proxy_service.crypto import encrypt

    for table, key, old, old_type, new, nullable, is_json in MOVES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(new, sa.Text(), nullable=True))
        to_text = (lambda v: None if v is None else json.dumps(v, ensure_ascii=False)) if is_json else (lambda v: v)
        _copy(table, key, old, old_type, new, sa.Text(), lambda value, to_text=to_text: encrypt(to_text(value)))
        with op.batch_alter_table(table) as batch:
            if not nullable:
                batch.alter_column(new, existing_type=sa.Text(), nullable=False)
            batch.drop_column(old)
    with op.batch_alter_table("proxy_applications") as batch:
        batch.alter_column("agent_name_enc", existing_type=sa.Text(), nullable=True)
    with op.batch_alter_table("residents") as batch:
        batch.alter_column("name_enc", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    from proxy_service.crypto import decrypt

    op.execute("UPDATE proxy_applications SET agent_name_enc = '' WHERE agent_name_enc IS NULL")
    op.execute("UPDATE residents SET name_enc = '' WHERE name_enc IS NULL")
    with op.batch_alter_table("proxy_applications") as batch:
        batch.alter_column("agent_name_enc", existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table("residents") as batch:
        batch.alter_column("name_enc", existing_type=sa.Text(), nullable=False)
    for table, key, old, old_type, new, nullable, is_json in reversed(MOVES):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(old, old_type, nullable=True))
        from_text = (lambda v: None if v is None else json.loads(v)) if is_json else (lambda v: v)
        _copy(table, key, new, sa.Text(), old, old_type, lambda value, from_text=from_text: from_text(decrypt(value)))
        with op.batch_alter_table(table) as batch:
            if not nullable:
                batch.alter_column(old, existing_type=old_type, nullable=False)
            batch.drop_column(new)
