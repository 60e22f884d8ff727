"""알림 스튜디오: template versions and the published pointer, studio accounts, the
audit log, and 수신거부 (opt-outs by keyed hash).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.ledger.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                     primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "template_versions",
        _id(),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_template_versions_path", "template_versions", ["path", "id"])
    op.create_table(
        "template_published",
        sa.Column("path", sa.String(200), primary_key=True),
        sa.Column("version_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                  nullable=False),
        sa.Column("published_at", UtcDateTime, nullable=False),
        sa.Column("published_by", sa.String(100), nullable=False),
    )
    op.create_table(
        "studio_users",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(50)),
        sa.Column("email", sa.String(300)),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "audit_log",
        _id(),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor_action", "audit_log", ["actor", "action", "at"])
    op.create_table(
        "opt_outs",
        sa.Column("address_hash", sa.String(64), primary_key=True),
        sa.Column("org", sa.String(100), primary_key=True),
        sa.Column("masked", sa.String(300), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("note", sa.Text),
    )


def downgrade() -> None:
    for table in ("opt_outs", "audit_log", "studio_users", "template_published",
                  "template_versions"):
        op.drop_table(table)
