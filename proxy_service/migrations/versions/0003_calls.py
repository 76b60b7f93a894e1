"""Calls: phone calls and kiosk sessions reported by the voice gateway.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("caller_phone_enc", sa.Text(), nullable=True),
        sa.Column("caller_phone_hash", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("transfer_ticket", sa.String(length=8), nullable=True),
        sa.Column("transfer_target", sa.String(length=128), nullable=True),
        sa.Column("transfer_outcome", sa.String(length=16), nullable=True),
        sa.Column("transfer_detail", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("channel IN ('phone', 'kiosk')", name="ck_channel_allowed"),
        sa.CheckConstraint("status IN ('initiated', 'queued', 'ringing', 'in-progress', 'completed', 'busy', 'no-answer', "
                           "'failed', 'canceled')", name="ck_status_allowed"),
        sa.CheckConstraint("transfer_outcome IN ('transferred', 'not_configured', 'failed')",
                           name="ck_transfer_outcome_allowed"),
        sa.CheckConstraint("duration_seconds >= 0", name="ck_call_duration_not_negative"),
        sa.CheckConstraint("ended_at >= started_at", name="ck_call_ends_after_start"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_sid"),
    )
    op.create_index("ix_calls_caller_phone_hash", "calls", ["caller_phone_hash"])
    op.create_index("ix_calls_created_at", "calls", ["created_at"])
    op.create_index("ix_calls_started_at", "calls", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_started_at", table_name="calls")
    op.drop_index("ix_calls_created_at", table_name="calls")
    op.drop_index("ix_calls_caller_phone_hash", table_name="calls")
    op.drop_table("calls")
