"""The studio's audit log: who did what, when, to what (no personal data: addresses
appear masked or as their keyed hash)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, and_, func, select

from hub.ledger.schema import audit_log


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: str | None


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, actor: str, action: str, target: str, detail: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(audit_log.insert().values(
                at=datetime.now(UTC), actor=actor, action=action, target=target[:300],
                detail=detail))

    def recent(self, limit: int = 200, *, target_prefix: str | None = None) -> list[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if target_prefix is not None:
            query = query.where(audit_log.c.target.startswith(target_prefix, autoescape=True))
        with self.engine.connect().execution_options(ledger_read=True) as conn:
            return [AuditEntry(**r._asdict()) for r in conn.execute(query)]

    def count_since(self, actor: str, action: str, since: datetime) -> int:
        with self.engine.connect().execution_options(ledger_read=True) as conn:
            return int(conn.execute(
                select(func.count()).select_from(audit_log).where(and_(
                    audit_log.c.actor == actor, audit_log.c.action == action,
                    audit_log.c.at >= since))
            ).scalar_one())
