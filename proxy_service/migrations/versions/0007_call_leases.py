"""Call leases (a call lost with its gateway is found and called back) and a look-up hash of
the caller's number on tickets (one system callback per caller and day).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _hash_existing_ticket_numbers() -> None:
    from proxy_service.crypto import decrypt, lookup_hash

    connection = op.get_bind()
    tickets = sa.table("handoff_tickets", sa.column("id", sa.Integer), sa.column("caller_phone_enc", sa.Text),
                       sa.column("caller_phone_hash", sa.String))
    rows = connection.execute(sa.select(tickets.c.id, tickets.c.caller_phone_enc)
                              .where(tickets.c.caller_phone_enc.isnot(None))).all()
    for row in rows:
        phone = decrypt(row[1])
        if phone:
            connection.execute(tickets.update().where(tickets.c.id == row[0])
                               .values(caller_phone_hash=lookup_hash(phone)))


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch.create_index("ix_calls_lease_until", ["lease_until"])
    with op.batch_alter_table("handoff_tickets") as batch:
        batch.add_column(sa.Column("caller_phone_hash", sa.String(length=64), nullable=True))
        batch.create_index("ix_handoff_tickets_caller_phone_hash", ["caller_phone_hash"])
    _hash_existing_ticket_numbers()


def downgrade() -> None:
    with op.batch_alter_table("handoff_tickets") as batch:
        batch.drop_index("ix_handoff_tickets_caller_phone_hash")
        batch.drop_column("caller_phone_hash")
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_lease_until")
        batch.drop_column("lease_until")
