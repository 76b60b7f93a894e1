"""Index for listing a queue in priority-then-age order.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_queue_order", "handoff_tickets", ["queue_id", "status", "priority", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_queue_order", table_name="handoff_tickets")
