"""The ledger's tables (SQLAlchemy Core), as the latest migration leaves them.

The migrations in ``hub/ledger/migrations/versions`` create and change the real
tables; this module mirrors their result for queries. A change here needs a new
migration (``test_ledger_migrations`` compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend (SQLite
    keeps no offset, so UTC is stored naive there and the zone put back on reading)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("the ledger takes timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()

notices = Table(
    "notices",
    metadata,
    Column("id", String(64), primary_key=True),  # the job's notification_id
    Column("event_id", String(200), nullable=False),
    Column("case_id", String(200)),
    Column("org", String(100), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("recipient_role", String(50), nullable=False),
    Column("recipient_masked", String(300), nullable=False),
    Column("recipient_hash", String(64), nullable=False),
    Column("recipient_address", String(300)),  # only with ledger.store_raw_address
    Column("template", String(200), nullable=False),
    Column("template_version", String(100)),
    Column("provider", String(100)),
    Column("provider_message_id", String(300)),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("claimed_at", UtcDateTime),
    Column("owner", String(200)),
    Index("ix_notices_case_id", "case_id"),
    Index("ix_notices_event_id", "event_id"),
    Index("ix_notices_recipient_hash", "recipient_hash"),
    Index("ix_notices_status_claimed_at", "status", "claimed_at"),
    Index("ix_notices_updated_at", "updated_at"),
)

notice_history = Table(
    "notice_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("notification_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("reason", Text),
    Column("provider", String(100)),
    Index("ix_notice_history_notification_id", "notification_id", "id"),
)

events = Table(
    "events",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("type", String(100), nullable=False),
    Column("case_id", String(200)),
    Column("org", String(100), nullable=False),
    Column("source", String(500), nullable=False),
    Column("time", UtcDateTime),
    Column("received_at", UtcDateTime, nullable=False),
    Column("status", String(32), nullable=False),
    Column("reason", Text),
    Index("ix_events_case_id", "case_id"),
    Index("ix_events_received_at", "received_at"),
)

# -- 알림 스튜디오 (hub.studio): templates in the database, accounts, audit, opt-outs --------
# Migration 0002. Template versions are never changed or deleted: a save appends one, a
# publish or a roll-back moves the path's pointer in ``template_published``.

template_versions = Table(
    "template_versions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("path", String(200), nullable=False),  # e.g. orgs/gumi/case.received/sms.j2
    Column("source", Text, nullable=False),
    Column("version", String(100), nullable=False),  # content hash, as Rendered.version
    Column("author", String(100), nullable=False),
    Column("note", Text),  # why
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_template_versions_path", "path", "id"),
)

template_published = Table(
    "template_published",
    metadata,
    Column("path", String(200), primary_key=True),
    Column("version_id", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("published_at", UtcDateTime, nullable=False),
    Column("published_by", String(100), nullable=False),
)

studio_users = Table(
    "studio_users",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("password_hash", String(300), nullable=False),
    Column("org", String(100), nullable=False),
    Column("role", String(16), nullable=False),  # editor | operator | admin
    Column("phone", String(50)),  # the user's own, for "send a test to me"
    Column("email", String(300)),
    Column("created_at", UtcDateTime, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(50), nullable=False),
    Column("target", String(300), nullable=False),
    Column("detail", Text),  # no personal data: masked forms only
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor_action", "actor", "action", "at"),
)

opt_outs = Table(
    "opt_outs",
    metadata,
    Column("address_hash", String(64), primary_key=True),  # ledger keyed hash
    Column("org", String(100), primary_key=True),  # "*": every organisation
    Column("masked", String(300), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("note", Text),
)
