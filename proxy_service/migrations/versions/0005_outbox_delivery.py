"""Outbox: SMS text encrypted at rest; claims, retry times and the `sending`/`uncertain` states.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('pending', 'sent', 'not_sent', 'failed')"
NEW_STATUSES = "status IN ('pending', 'sending', 'sent', 'uncertain', 'not_sent', 'failed')"


def _rewrite_bodies(source: str, target: str, convert) -> None:
    connection = op.get_bind()
    table = sa.table("notifications", sa.column("id", sa.Integer), sa.column(source, sa.Text),
                     sa.column(target, sa.Text))
    for row in connection.execute(sa.select(table.c.id, table.c[source])).all():
        connection.execute(table.update().where(table.c.id == row.id).values({target: convert(row[1])}))


def upgrade() -> None:
    from proxy_service.crypto import encrypt

    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("body_enc", sa.Text(), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))
    _rewrite_bodies("body", "body_enc", encrypt)
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint("ck_status_allowed", type_="check")
        batch.create_check_constraint("ck_status_allowed", NEW_STATUSES)
        batch.alter_column("body_enc", existing_type=sa.Text(), nullable=False)
        batch.drop_column("body")


def downgrade() -> None:
    from proxy_service.crypto import decrypt

    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("body", sa.Text(), nullable=True))
    _rewrite_bodies("body_enc", "body", decrypt)
    op.execute("UPDATE notifications SET status = 'failed' WHERE status IN ('sending', 'uncertain')")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint("ck_status_allowed", type_="check")
        batch.create_check_constraint("ck_status_allowed", OLD_STATUSES)
        batch.alter_column("body", existing_type=sa.Text(), nullable=False)
        batch.drop_column("body_enc")
        batch.drop_column("claimed_at")
        batch.drop_column("next_attempt_at")
