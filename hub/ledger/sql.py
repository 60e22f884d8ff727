"""The SQL ledger (SQLAlchemy 2 Core): a SQLite file by default, PostgreSQL in
production.

Writes (claims, records, events, sweeps) go through one :class:`GroupCommitWriter`
per ledger: many send threads' calls become one transaction every few milliseconds,
each caller blocking until its own write is committed. Inside a batch, consecutive
operations of one kind become one statement (a multi-row ``INSERT ... ON CONFLICT``
for claims, with ``RETURNING`` telling which rows this batch took), so a batch of 500
claims is three statements.

Claims are safe between processes too: the claim is a single conditional upsert
(``ON CONFLICT (id) DO UPDATE ... WHERE status IN (re-sendable)``), which PostgreSQL
and SQLite apply atomically per row; SQLite write transactions start with ``BEGIN
IMMEDIATE``, and rows of a batch are written in id order so that two PostgreSQL
writers cannot deadlock on each other's rows.

SQLite runs in WAL mode with ``synchronous=NORMAL``: readers (``trace``) never block
the writer; a power cut may lose the last commits but never corrupts the file
(a lost ``sent`` record means one resend, the same trade-off as a dead worker).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    and_,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from hub.jobs import Job
from hub.ledger import migrate
from hub.ledger.base import (
    RESENDABLE,
    SENDING,
    SENT,
    CaseStory,
    Claim,
    ClaimState,
    EventRecord,
    HistoryEntry,
    Ledger,
    NoticeRecord,
    PurgeResult,
    event_fields,
)
from hub.ledger.privacy import address_hash
from hub.ledger.schema import events, notice_history, notices
from hub.ledger.writer import GroupCommitWriter, Op
from hub.metrics import LEDGER_FLUSH

log = logging.getLogger(__name__)

_CLAIM, _RECORD, _EVENT, _CALL = "claim", "record", "event", "call"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide when transactions start (the
        # driver's own implicit BEGIN would skip DDL and cannot be IMMEDIATE).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A transaction that may write takes the write lock up front, so that two
        # processes never deadlock upgrading read locks (SQLITE_BUSY without waiting);
        # reads (``ledger_read``) take a plain snapshot and block nobody (WAL).
        if conn.get_execution_options().get("ledger_read"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _configure_schema(engine: Engine, schema: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute(f'SET search_path TO "{schema}"')
        cursor.close()
        dbapi_conn.commit()


class SqlLedger(Ledger):
    """The ledger in a SQL database; see the module docstring.

    ``schema`` (PostgreSQL only) keeps the tables in their own schema, created when
    missing (tests use one per run). ``batch_size`` and ``flush_interval`` tune group
    commit.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        batch_size: int = 500,
        flush_interval: float = 0.002,
        pool_size: int = 5,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"the ledger supports SQLite and PostgreSQL, not {self.dialect}")
        if self.dialect == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs: dict[str, Any] = {"hide_parameters": True}  # no personal data in errors
        if self.dialect == "postgresql":
            kwargs.update(pool_size=pool_size, pool_pre_ping=True)
        self.engine = create_engine(parsed, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        elif schema:
            with self.engine.begin() as conn:
                # Under the migrations' lock: concurrent CREATE SCHEMA IF NOT EXISTS
                # can still collide on PostgreSQL's catalog.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": migrate.PG_LOCK_KEY})
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            self.engine.dispose()
            _configure_schema(self.engine, schema)
        self._prepare_statements()
        self.revision = migrate.upgrade(self.engine)
        self._writer = GroupCommitWriter(
            self.engine, self._apply, batch_size=batch_size, linger=flush_interval
        )

    def _prepare_statements(self) -> None:
        """The three upserts, built once (compiled once, then cached) and executed
        with many parameter sets: SQLAlchemy's "insertmanyvalues" sends a batch as one
        multi-row ``INSERT``, and ``RETURNING`` names the claims this batch won."""
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        # No bound IN list: "expanding" parameters cannot be used with executemany.
        resendable = or_(
            *(notices.c.status == literal_column(f"'{s}'") for s in sorted(RESENDABLE))
        )
        more_attempts = case(
            (literal_column("excluded.attempts") > notices.c.attempts,
             literal_column("excluded.attempts")),
            else_=notices.c.attempts,
        )
        claim = insert(notices)
        self._claim_stmt = claim.on_conflict_do_update(
            index_elements=[notices.c.id],
            set_={
                "status": SENDING,
                "attempts": more_attempts,
                "updated_at": claim.excluded.updated_at,
                "claimed_at": claim.excluded.claimed_at,
                "owner": claim.excluded.owner,
            },
            where=resendable,
        ).returning(notices.c.id)

        record = insert(notices)
        excluded = record.excluded
        still_sent = notices.c.status == literal_column(f"'{SENT}'")
        self._record_stmt = record.on_conflict_do_update(
            index_elements=[notices.c.id],
            set_={
                # A sent notice stays sent: a late outcome (a slow worker whose stale
                # claim was already retried elsewhere) must not reopen it.
                "status": case((still_sent, notices.c.status), else_=excluded.status),
                "attempts": more_attempts,
                "updated_at": excluded.updated_at,
                "provider": func.coalesce(excluded.provider, notices.c.provider),
                "provider_message_id": func.coalesce(
                    excluded.provider_message_id, notices.c.provider_message_id
                ),
                "template_version": func.coalesce(
                    excluded.template_version, notices.c.template_version
                ),
                "claimed_at": case((still_sent, null()), else_=excluded.claimed_at),
                "owner": func.coalesce(excluded.owner, notices.c.owner),
            },
        )

        event_insert = insert(events)
        self._event_stmt = event_insert.on_conflict_do_update(
            index_elements=[events.c.id],
            set_={"status": event_insert.excluded.status,
                  "reason": event_insert.excluded.reason},
        )

    # -- writes ------------------------------------------------------------------
    # Each operation carries the time of the call (not of the flush), first in args.
    def claim(self, job: Job, attempt: int) -> Claim:
        result: Claim = self._writer.call(_CLAIM, self.clock(), job, attempt)
        return result

    def record(
        self,
        job: Job,
        status: str,
        *,
        attempt: int,
        provider: str | None = None,
        message_id: str | None = None,
        reason: str | None = None,
        template_version: str | None = None,
    ) -> None:
        self._writer.call(_RECORD, self.clock(), job, status, attempt, provider, message_id,
                          reason, template_version)

    def record_event(
        self, event: Mapping[str, Any], *, status: str = "routed", reason: str | None = None
    ) -> None:
        """Queued, not awaited: the router must not wait for a row that only ``trace``
        reads (it is written with the next batch, before any later claim or record of
        this ledger returns; a failure is logged)."""
        fields = event_fields(event)
        if not fields["id"]:
            return
        future = self._writer.submit(_EVENT, self.clock(), fields, status, reason)
        future.add_done_callback(_log_failure)

    def resolve_stale(
        self, notice: NoticeRecord, status: str, *, reason: str | None = None
    ) -> bool:
        moved: bool = self._writer.call(
            _CALL, self.clock(), self._resolve_stale, notice, status, reason)
        return moved

    def close(self) -> None:
        self._writer.close()
        self.engine.dispose()

    # -- the batch applier (writer thread, inside one transaction) ---------------
    def _apply(self, conn: Connection, ops: Sequence[Op]) -> list[Any]:
        results: list[Any] = []
        for run in _runs(ops):
            kind = run[0].kind
            if kind == _CLAIM:
                results.extend(self._apply_claims(conn, run))
            elif kind == _RECORD:
                results.extend(self._apply_records(conn, run))
            elif kind == _EVENT:
                results.extend(self._apply_events(conn, run))
            else:
                results.extend(op.args[1](conn, op.args[0], *op.args[2:]) for op in run)
        return results

    def _new_row(self, job: Job, at: datetime, **values: Any) -> dict[str, Any]:
        row = self.notice_fields(job)
        row.update(
            template_version=None, provider=None, provider_message_id=None,
            created_at=at, updated_at=at, claimed_at=None, owner=None,
        )
        row.update(values)
        return row

    def _apply_claims(self, conn: Connection, run: Sequence[Op]) -> list[Claim]:
        rows = sorted(
            (self._new_row(job, at, status=SENDING, attempts=attempt, claimed_at=at,
                           owner=self.owner)
             for at, job, attempt in (op.args for op in run)),
            key=lambda r: r["id"],
        )
        taken = set(conn.execute(self._claim_stmt, rows).scalars())
        others = sorted({r["id"] for r in rows} - taken)
        current: dict[str, str] = {}
        if others:
            current = {key: status for key, status in conn.execute(
                select(notices.c.id, notices.c.status).where(notices.c.id.in_(others)))}
        if taken:
            conn.execute(notice_history.insert(), [
                {"notification_id": job.notification_id, "status": SENDING, "at": at,
                 "attempt": attempt, "reason": None, "provider": None}
                for at, job, attempt in (op.args for op in run)
                if job.notification_id in taken
            ])
        claims = []
        for op in run:
            key = op.args[1].notification_id
            if key in taken:
                claims.append(Claim(ClaimState.NEW))
                continue
            status = current.get(key, SENDING)
            # Not taken but re-sendable: changed under us by another process: BUSY.
            busy = status == SENDING or status in RESENDABLE
            claims.append(Claim(ClaimState.BUSY if busy else ClaimState.DONE, status))
        return claims

    def _apply_records(self, conn: Connection, run: Sequence[Op]) -> list[None]:
        rows = []
        history = []
        for at, job, status, attempt, provider, message_id, reason, version in (
                op.args for op in run):
            sending = status == SENDING
            rows.append(self._new_row(
                job, at, status=status, attempts=attempt, provider=provider,
                provider_message_id=message_id, template_version=version,
                claimed_at=at if sending else None, owner=self.owner if sending else None,
            ))
            history.append({"notification_id": job.notification_id, "status": status,
                            "at": at, "attempt": attempt, "reason": reason,
                            "provider": provider})
        rows.sort(key=lambda r: r["id"])
        conn.execute(self._record_stmt, rows)
        conn.execute(notice_history.insert(), history)
        return [None] * len(run)

    def _apply_events(self, conn: Connection, run: Sequence[Op]) -> list[None]:
        rows = sorted(
            ({**fields, "received_at": at, "status": status, "reason": reason}
             for at, fields, status, reason in (op.args for op in run)),
            key=lambda r: r["id"],
        )
        conn.execute(self._event_stmt, rows)
        return [None] * len(run)

    def _resolve_stale(
        self, conn: Connection, at: datetime, notice: NoticeRecord, status: str,
        reason: str | None,
    ) -> bool:
        moved = conn.execute(
            update(notices)
            .where(and_(notices.c.id == notice.id, notices.c.status == SENDING,
                        notices.c.claimed_at == notice.claimed_at))
            .values(status=status, updated_at=at, claimed_at=None)
        ).rowcount
        if moved:
            conn.execute(notice_history.insert(), [{
                "notification_id": notice.id, "status": status, "at": at,
                "attempt": notice.attempts, "reason": reason, "provider": None,
            }])
        return bool(moved)

    # -- reads -------------------------------------------------------------------
    def _records(self, conn: Connection, rows: Sequence[Row[Any]]) -> list[NoticeRecord]:
        ids = [r.id for r in rows]
        history: dict[str, list[HistoryEntry]] = {key: [] for key in ids}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start:chunk_start + 500]
            for h in conn.execute(
                select(notice_history)
                .where(notice_history.c.notification_id.in_(chunk))
                .order_by(notice_history.c.at, notice_history.c.id)
            ):
                history[h.notification_id].append(
                    HistoryEntry(h.status, h.at, h.attempt, h.reason, h.provider)
                )
        return [
            NoticeRecord(**r._asdict(), history=tuple(history[r.id])) for r in rows
        ]

    def _read(self) -> Connection:
        return self.engine.connect().execution_options(ledger_read=True)

    def notice(self, notification_id: str) -> NoticeRecord | None:
        with self._read() as conn:
            rows = conn.execute(select(notices).where(notices.c.id == notification_id)).all()
            found = self._records(conn, rows)
        return found[0] if found else None

    def case_story(self, case_id: str) -> CaseStory:
        with self._read() as conn:
            rows = conn.execute(
                select(notices).where(notices.c.case_id == case_id)
                .order_by(notices.c.created_at, notices.c.id)
            ).all()
            records = self._records(conn, rows)
            evs = [
                EventRecord(**e._asdict())
                for e in conn.execute(
                    select(events).where(events.c.case_id == case_id)
                    .order_by(func.coalesce(events.c.time, events.c.received_at),
                              events.c.received_at)
                )
            ]
        return CaseStory(case_id, evs, records)

    def find_notices(self, address: str) -> list[NoticeRecord]:
        digest = address_hash(address, self.hash_key)
        with self._read() as conn:
            rows = conn.execute(
                select(notices).where(notices.c.recipient_hash == digest)
                .order_by(notices.c.created_at.desc())
            ).all()
            return self._records(conn, rows)

    def stale_claims(self, before: datetime) -> list[NoticeRecord]:
        with self._read() as conn:
            rows = conn.execute(
                select(notices)
                .where(and_(notices.c.status == SENDING, notices.c.claimed_at < before))
                .order_by(notices.c.claimed_at)
            ).all()
            return self._records(conn, rows)

    def purge(self, before: datetime, *, chunk: int = 5000) -> PurgeResult:
        """Delete in chunks of ``chunk`` notices, one short transaction each, so that
        deliveries keep flowing while a large purge runs."""
        started = time.perf_counter()
        counts = {"notices": 0, "history": 0, "events": 0}
        while True:
            with self.engine.begin() as conn:
                ids = list(conn.execute(
                    select(notices.c.id).where(notices.c.updated_at < before).limit(chunk)
                ).scalars())
                if not ids:
                    break
                counts["history"] += conn.execute(
                    delete(notice_history).where(notice_history.c.notification_id.in_(ids))
                ).rowcount
                counts["notices"] += conn.execute(
                    delete(notices).where(notices.c.id.in_(ids))
                ).rowcount
        while True:
            with self.engine.begin() as conn:
                ids = list(conn.execute(
                    select(events.c.id)
                    .where(and_(events.c.received_at < before,
                                ~exists().where(notices.c.event_id == events.c.id)))
                    .limit(chunk)
                ).scalars())
                if not ids:
                    break
                counts["events"] += conn.execute(
                    delete(events).where(events.c.id.in_(ids))
                ).rowcount
        LEDGER_FLUSH.labels("purge").observe(time.perf_counter() - started)
        return PurgeResult(**counts)


def _log_failure(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("ledger event write failed: %s", exc)


def _runs(ops: Sequence[Op]) -> list[list[Op]]:
    """Split a batch, keeping its order, into runs of one kind with each notice (or
    event) at most once per run: one statement per run, and a later operation on the
    same notice sees the earlier one's effect."""
    runs: list[list[Op]] = []
    keys: set[str] = set()
    for op in ops:
        key = _key(op)
        if runs and runs[-1][0].kind == op.kind and op.kind != _CALL and key not in keys:
            runs[-1].append(op)
        else:
            runs.append([op])
            keys = set()
        keys.add(key)
    return runs


def _key(op: Op) -> str:
    if op.kind in (_CLAIM, _RECORD):
        return str(op.args[1].notification_id)
    if op.kind == _EVENT:
        return str(op.args[1]["id"])
    return ""
