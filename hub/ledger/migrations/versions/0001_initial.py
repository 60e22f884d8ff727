"""The ledger's first schema: notices, their status history, and case events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.ledger.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("case_id", sa.String(200)),
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("recipient_role", sa.String(50), nullable=False),
        sa.Column("recipient_masked", sa.String(300), nullable=False),
        sa.Column("recipient_hash", sa.String(64), nullable=False),
        sa.Column("recipient_address", sa.String(300)),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("template_version", sa.String(100)),
        sa.Column("provider", sa.String(100)),
        sa.Column("provider_message_id", sa.String(300)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("claimed_at", UtcDateTime),
        sa.Column("owner", sa.String(200)),
    )
    op.create_index("ix_notices_case_id", "notices", ["case_id"])
    op.create_index("ix_notices_event_id", "notices", ["event_id"])
    op.create_index("ix_notices_recipient_hash", "notices", ["recipient_hash"])
    op.create_index("ix_notices_status_claimed_at", "notices", ["status", "claimed_at"])
    op.create_index("ix_notices_updated_at", "notices", ["updated_at"])

    op.create_table(
        "notice_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("notification_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("provider", sa.String(100)),
    )
    op.create_index(
        "ix_notice_history_notification_id", "notice_history", ["notification_id", "id"]
    )

    op.create_table(
        "events",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("case_id", sa.String(200)),
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("time", UtcDateTime),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_events_case_id", "events", ["case_id"])
    op.create_index("ix_events_received_at", "events", ["received_at"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("notice_history")
    op.drop_table("notices")
