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
    Table,
    and_,
    bindparam,
    case,
    column,
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
    LATE_SENT_REASON,
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
    Write,
    event_fields,
)
from hub.ledger.privacy import address_hash
from hub.ledger.schema import events, notice_history, notices
from hub.ledger.writer import GroupCommitWriter, Op, WriterClosed
from hub.metrics import LEDGER_FLUSH

log = logging.getLogger(__name__)

_CLAIM, _RECORD, _FENCED, _EVENT, _CALL = "claim", "record", "fenced", "event", "call"
_BATCH = "batch"  # a caller's whole batch of claims or records: one operation
_NO_FUTURE: Future[Any] = Future()  # operations inside a batch answer through the batch


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
        """The statements, built once (compiled once, then cached), each writing a
        whole run of a batch in one statement.

        SQLite: executed with many parameter sets; ``RETURNING`` makes SQLAlchemy's
        "insertmanyvalues" send them as one multi-row ``INSERT`` (and, for claims,
        names the rows this batch won). PostgreSQL: ``INSERT ... SELECT FROM
        unnest(array, array, ...)`` with one array per column: the statement text
        never changes, so psycopg parses it once, where a multi-row ``VALUES`` costs
        it milliseconds of query parsing per batch (measured: twice the rows/s).
        """
        insert = self._bulk_insert
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

        # The fenced record: the same upsert, applied only while the row is ``sending``
        # under the caller's token (or, for ``sent``, while nobody holds it); RETURNING
        # names the rows written, the others were refused.
        fenced = insert(notices)
        fexcluded = fenced.excluded
        fenced_set = {
            "status": case((still_sent, notices.c.status), else_=fexcluded.status),
            "attempts": more_attempts,
            "updated_at": fexcluded.updated_at,
            "provider": func.coalesce(fexcluded.provider, notices.c.provider),
            "provider_message_id": func.coalesce(
                fexcluded.provider_message_id, notices.c.provider_message_id),
            "template_version": func.coalesce(
                fexcluded.template_version, notices.c.template_version),
            "claimed_at": fexcluded.claimed_at,
            "owner": fexcluded.owner,
        }
        held = and_(notices.c.status == literal_column(f"'{SENDING}'"),
                    notices.c.owner == fexcluded.owner)
        unheld_sent = and_(fexcluded.status == literal_column(f"'{SENT}'"), resendable)
        self._fenced_stmt = fenced.on_conflict_do_update(
            index_elements=[notices.c.id], set_=fenced_set, where=or_(held, unheld_sent),
        ).returning(notices.c.id)

        event_insert = insert(events)
        self._event_stmt = event_insert.on_conflict_do_update(
            index_elements=[events.c.id],
            set_={"status": event_insert.excluded.status,
                  "reason": event_insert.excluded.reason},
        )
        # No RETURNING where nothing is read back: SQLite then runs the DB-API's
        # executemany (one prepared statement) instead of rendering a multi-row INSERT.
        self._history_stmt = insert(notice_history)

    def _bulk_insert(self, table: Table) -> Any:
        """An INSERT of many rows in one statement: see :meth:`_prepare_statements`."""
        if self.dialect != "postgresql":
            return sqlite.insert(table)
        cols = [c for c in table.c if not (c.primary_key and c.autoincrement is True)]
        names: list[Any] = [column(f"c{i}") for i in range(len(cols))]
        arrays = func.unnest(
            *(bindparam(c.name, type_=postgresql.ARRAY(c.type)) for c in cols)
        ).table_valued(*names).render_derived(name="batch")
        return postgresql.insert(table).from_select(
            [c.name for c in cols], select(*names).select_from(arrays))

    def _execute(self, conn: Connection, stmt: Any, rows: list[dict[str, Any]]) -> Any:
        """Run a bulk statement over ``rows`` (PostgreSQL: as one array per column)."""
        if self.dialect == "postgresql":
            return conn.execute(stmt, {key: [r[key] for r in rows] for key in rows[0]})
        return conn.execute(stmt, rows)

    # -- writes ------------------------------------------------------------------
    # Each operation carries the time of the call (not of the flush), first in args.
    def claim(self, job: Job, attempt: int) -> Claim:
        result: Claim = self._writer.call(_CLAIM, self.clock(), job, attempt, self.new_token())
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
        token: str | None = None,
    ) -> bool:
        written: bool = self._writer.call(
            _RECORD if token is None else _FENCED, self.clock(), job, status, attempt,
            provider, message_id, reason, template_version, token)
        return written

    def claim_many(self, items: Sequence[tuple[Job, int]]) -> list[Claim]:
        """One writer operation for the whole batch (one future, one transaction): a
        run of claims per phase, so a notice repeated in the batch is claimed once."""
        at = self.clock()
        inner = [Op(_CLAIM, (at, job, attempt, self.new_token()), _NO_FUTURE)
                 for job, attempt in items]
        claims: list[Claim] = self._writer.call(_BATCH, at, inner)
        return claims

    def record_many(self, outcomes: Sequence[Write]) -> list[bool]:
        """One writer operation for the whole batch; fenced and unfenced records run
        as one statement each (per phase)."""
        at = self.clock()
        inner = [Op(_RECORD if o.token is None else _FENCED,
                    (at, o.job, o.status, o.attempt, o.provider, o.message_id, o.reason,
                     o.template_version, o.token), _NO_FUTURE)
                 for o in outcomes]
        written: list[bool] = self._writer.call(_BATCH, at, inner)
        return written

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
        self,
        notice: NoticeRecord,
        status: str,
        *,
        reason: str | None = None,
        provider: str | None = None,
        message_id: str | None = None,
    ) -> bool:
        moved: bool = self._writer.call(
            _CALL, self.clock(), self._resolve_stale, notice, status, reason, provider,
            message_id)
        return moved

    def ping(self) -> None:
        """One ``SELECT 1`` on a pooled connection, and the writer thread alive."""
        if not self._writer.alive:
            raise WriterClosed("the ledger writer is not running")
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self._writer.close()
        self.engine.dispose()

    # -- the batch applier (writer thread, inside one transaction) ---------------
    def _apply(self, conn: Connection, ops: Sequence[Op]) -> list[Any]:
        results: list[Any] = [None] * len(ops)
        for run in _runs(ops):
            batch = [op for _, op in run]
            kind = batch[0].kind
            if kind == _CLAIM:
                outcome: list[Any] = self._apply_claims(conn, batch)
            elif kind == _RECORD:
                outcome = self._apply_records(conn, batch)
            elif kind == _FENCED:
                outcome = self._apply_fenced(conn, batch)
            elif kind == _EVENT:
                outcome = self._apply_events(conn, batch)
            elif kind == _BATCH:
                outcome = [self._apply(conn, op.args[1]) for op in batch]
            else:
                outcome = [op.args[1](conn, op.args[0], *op.args[2:]) for op in batch]
            for (index, _), result in zip(run, outcome, strict=True):
                results[index] = result
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
                           owner=token)
             for at, job, attempt, token in (op.args for op in run)),
            key=lambda r: r["id"],
        )
        taken = set(self._execute(conn, self._claim_stmt, rows).scalars())
        others = sorted({r["id"] for r in rows} - taken)
        current: dict[str, str] = {}
        if others:
            current = {key: status for key, status in conn.execute(
                select(notices.c.id, notices.c.status).where(notices.c.id.in_(others)))}
        if taken:
            self._execute(conn, self._history_stmt, [
                {"notification_id": job.notification_id, "status": SENDING, "at": at,
                 "attempt": attempt, "reason": None, "provider": None}
                for at, job, attempt, _ in (op.args for op in run)
                if job.notification_id in taken
            ])
        claims = []
        for op in run:
            key = op.args[1].notification_id
            if key in taken:
                claims.append(Claim(ClaimState.NEW, token=op.args[3]))
                continue
            status = current.get(key, SENDING)
            # Not taken but re-sendable: changed under us by another process: BUSY.
            busy = status == SENDING or status in RESENDABLE
            claims.append(Claim(ClaimState.BUSY if busy else ClaimState.DONE, status))
        return claims

    def _record_rows(
        self, run: Sequence[Op]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        rows = []
        history = []
        for at, job, status, attempt, provider, message_id, reason, version, token in (
                op.args for op in run):
            sending = status == SENDING
            rows.append(self._new_row(
                job, at, status=status, attempts=attempt, provider=provider,
                provider_message_id=message_id, template_version=version,
                claimed_at=at if sending else None,
                owner=token or (self.owner if sending else None),
            ))
            history.append({"notification_id": job.notification_id, "status": status,
                            "at": at, "attempt": attempt, "reason": reason,
                            "provider": provider})
        rows.sort(key=lambda r: r["id"])
        return rows, history

    def _apply_records(self, conn: Connection, run: Sequence[Op]) -> list[bool]:
        rows, history = self._record_rows(run)
        self._execute(conn, self._record_stmt, rows)
        self._execute(conn, self._history_stmt, history)
        return [True] * len(run)

    def _apply_fenced(self, conn: Connection, run: Sequence[Op]) -> list[bool]:
        """Fenced records: written only for the current holder (see :meth:`record`)."""
        rows, history = self._record_rows(run)
        written = set(self._execute(conn, self._fenced_stmt, rows).scalars())
        kept = []
        for entry in history:
            if entry["notification_id"] in written:
                kept.append(entry)
            elif entry["status"] == SENT:  # refused, but a fact: keep it in the history
                kept.append({**entry, "reason": LATE_SENT_REASON})
        if kept:
            self._execute(conn, self._history_stmt, kept)
        return [op.args[1].notification_id in written for op in run]

    def _apply_events(self, conn: Connection, run: Sequence[Op]) -> list[None]:
        rows = sorted(
            ({**fields, "received_at": at, "status": status, "reason": reason}
             for at, fields, status, reason in (op.args for op in run)),
            key=lambda r: r["id"],
        )
        self._execute(conn, self._event_stmt, rows)
        return [None] * len(run)

    def _resolve_stale(
        self, conn: Connection, at: datetime, notice: NoticeRecord, status: str,
        reason: str | None, provider: str | None, message_id: str | None,
    ) -> bool:
        values: dict[str, Any] = {"status": status, "updated_at": at, "claimed_at": None}
        if provider is not None:
            values["provider"] = provider
        if message_id is not None:
            values["provider_message_id"] = message_id
        owner = notices.c.owner.is_(None) if notice.owner is None \
            else notices.c.owner == notice.owner
        moved = conn.execute(
            update(notices)
            .where(and_(notices.c.id == notice.id, notices.c.status == SENDING,
                        notices.c.claimed_at == notice.claimed_at, owner))
            .values(**values)
        ).rowcount
        if moved:
            self._execute(conn, self._history_stmt, [{
                "notification_id": notice.id, "status": status, "at": at,
                "attempt": notice.attempts, "reason": reason, "provider": provider,
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

    def counts_since(self, since: datetime) -> dict[tuple[str, str], int]:
        """One ``GROUP BY`` over the rows ``ix_notices_updated_at`` finds."""
        with self._read() as conn:
            rows = conn.execute(
                select(notices.c.channel, notices.c.status, func.count())
                .where(notices.c.updated_at >= since)
                .group_by(notices.c.channel, notices.c.status)
            ).all()
        return {(channel, status): int(n) for channel, status, n in rows}

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


def _runs(ops: Sequence[Op]) -> list[list[tuple[int, Op]]]:
    """Group a batch into runs, one statement each, with their positions in the batch.

    Operations on different notices are independent and may be reordered; those on
    the same notice (or event) keep their order. So each operation gets a *phase*:
    how many earlier operations in the batch share its key. Phases run in order;
    within a phase, operations group by kind (claims, records, events; calls one by
    one), each key at most once per run. A typical batch, where every notice appears
    once, is one phase: two statements for its claims, two for its records, one for
    its events, whatever their interleaving.
    """
    seen: dict[tuple[str, str], int] = {}
    phases: dict[int, dict[str, list[tuple[int, Op]]]] = {}
    calls: dict[int, list[tuple[int, Op]]] = {}
    for index, op in enumerate(ops):
        key = ("notice" if op.kind != _EVENT else "event", _key(op))
        phase = seen.get(key, 0)
        seen[key] = phase + 1
        if op.kind in (_CALL, _BATCH):
            calls.setdefault(phase, []).append((index, op))
        else:
            phases.setdefault(phase, {}).setdefault(op.kind, []).append((index, op))
    runs: list[list[tuple[int, Op]]] = []
    for phase in sorted(set(phases) | set(calls)):
        by_kind = phases.get(phase, {})
        runs += [by_kind[kind] for kind in (_CLAIM, _RECORD, _FENCED, _EVENT)
                 if kind in by_kind]
        runs += [[call] for call in calls.get(phase, [])]
    return runs


def _key(op: Op) -> str:
    if op.kind in (_CLAIM, _RECORD, _FENCED):
        return str(op.args[1].notification_id)
    if op.kind == _EVENT:
        return str(op.args[1]["id"])
    if op.kind == _BATCH:
        return f"batch:{id(op)}"
    return str(op.args[2].id)  # a call on a notice (resolve_stale)
