"""SqlLedger on SQLite: migrations, group commit, two ledgers on one file, opening by
URL and from configuration."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from hub.config import DEFAULTS, Config, deep_merge
from hub.ledger import ClaimState, Ledger, ledger_from_config, open_ledger
from hub.ledger.memory import MemoryLedger
from hub.ledger.migrate import VERSION_TABLE, head_revision, upgrade
from hub.ledger.privacy import DEV_HASH_KEY, address_hash
from hub.ledger.schema import metadata
from hub.ledger.sql import SqlLedger
from hub.metrics import LEDGER_BATCH_SIZE
from tests.unit.test_ledger_contract import KEY, make_job


def _url(tmp_path: Path, name: str = "ledger.db") -> str:
    return f"sqlite:///{tmp_path / name}"


# -- migrations ------------------------------------------------------------------------
def test_migrations_create_the_schema_and_running_them_again_changes_nothing(
    tmp_path: Path,
) -> None:
    # Given an empty database file
    engine = create_engine(_url(tmp_path))
    # When the migrations run twice
    first = upgrade(engine)
    second = upgrade(engine)
    # Then the schema is at head once, with the ledger's and the studio's tables
    assert first == second == head_revision() == "0002"
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        versions = db.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
    assert {"notices", "notice_history", "events", "template_versions", "template_published",
            "studio_users", "audit_log", "opt_outs", VERSION_TABLE} <= tables
    assert versions == [("0002",)]
    engine.dispose()


def test_the_migrated_schema_matches_the_tables_the_code_queries(tmp_path: Path) -> None:
    # Given a database brought to head by the migrations
    engine = create_engine(_url(tmp_path))
    upgrade(engine)
    # Then Alembic finds no difference from hub.ledger.schema (a change there needs a
    # migration)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diff = compare_metadata(context, metadata)
    assert diff == []
    engine.dispose()


def test_reopening_a_ledger_keeps_its_notices(tmp_path: Path) -> None:
    first = open_ledger(_url(tmp_path), hash_key=KEY)
    first.claim(make_job(1), 1)
    first.record(make_job(1), "sent", attempt=1)
    first.close()
    again = open_ledger(_url(tmp_path), hash_key=KEY)
    try:
        assert again.claim(make_job(1), 2).state is ClaimState.DONE
    finally:
        again.close()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    ledger = open_ledger(_url(tmp_path), hash_key=KEY)
    ledger.claim(make_job(1), 1)
    ledger.close()
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# -- group commit ------------------------------------------------------------------------
def _batches() -> tuple[float, float]:
    count = sum_ = 0.0
    for metric in LEDGER_BATCH_SIZE.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                sum_ = sample.value
    return count, sum_


def test_calls_from_many_threads_share_transactions(tmp_path: Path) -> None:
    # Given a ledger that flushes every 20 ms
    ledger = open_ledger(_url(tmp_path), hash_key=KEY, flush_interval=0.02)
    jobs = [make_job(i) for i in range(64)]
    barrier = threading.Barrier(64)
    before_count, before_sum = _batches()

    def claim(job: Any) -> None:
        barrier.wait()
        assert ledger.claim(job, 1).state is ClaimState.NEW

    # When 64 threads claim at once
    threads = [threading.Thread(target=claim, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    count, total = _batches()
    ledger.close()
    # Then 64 writes went in far fewer transactions
    assert total - before_sum == 64
    assert count - before_count <= 16


def test_a_failing_write_fails_only_its_own_caller(tmp_path: Path) -> None:
    # Given a batch holding one record that the database refuses (the "status" column
    # is NOT NULL) and good ones
    ledger = open_ledger(_url(tmp_path), hash_key=KEY, flush_interval=0.05)
    assert isinstance(ledger, SqlLedger)
    outcomes: dict[int, str] = {}

    def write(i: int) -> None:
        try:
            ledger.record(make_job(i), None if i == 3 else "queued", attempt=1)  # type: ignore[arg-type]
            outcomes[i] = "ok"
        except Exception as exc:
            outcomes[i] = type(exc).__name__

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then only that caller got the error; the others' writes are durable
    assert outcomes.pop(3) == "IntegrityError"
    assert set(outcomes.values()) == {"ok"}
    assert all(ledger.notice(f"notice-{i}") is not None for i in outcomes)
    ledger.close()


def test_close_writes_what_was_queued_then_refuses_writes(tmp_path: Path) -> None:
    ledger = open_ledger(_url(tmp_path), hash_key=KEY, flush_interval=0.5)
    ledger.record_event({"id": "ev-1", "type": "case.received", "subject": "C-1",
                         "data": {"org": "gumi"}})
    ledger.close()
    assert [e.id for e in ledger.case_story("C-1").events] == ["ev-1"]
    with pytest.raises(RuntimeError, match="closed"):
        ledger.claim(make_job(1), 1)


def test_two_ledgers_on_one_file_claim_each_notice_once(tmp_path: Path) -> None:
    # Given two workers' ledgers on the same SQLite file
    a = open_ledger(_url(tmp_path), hash_key=KEY, owner="a")
    b = open_ledger(_url(tmp_path), hash_key=KEY, owner="b")
    jobs = [make_job(i) for i in range(150)]
    wins: list[str] = []
    lock = threading.Lock()

    def run(ledger: Ledger, chunk: list[Any]) -> None:
        for job in chunk:
            if ledger.claim(job, 1).state is ClaimState.NEW:
                with lock:
                    wins.append(job.notification_id)

    # When both claim all of them from several threads each
    threads = [threading.Thread(target=run, args=(ledger, jobs[i::3]))
               for ledger in (a, b, a, b) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a.close()
    b.close()
    # Then every notice was won exactly once
    assert sorted(wins) == sorted(j.notification_id for j in jobs)


# -- opening ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "cls"),
    [("memory://", MemoryLedger), ("null://", Ledger), ("sqlite:///{tmp}/l.db", SqlLedger)],
)
def test_open_ledger_picks_the_class_by_scheme(tmp_path: Path, url: str, cls: type) -> None:
    ledger = open_ledger(url.format(tmp=tmp_path), hash_key=KEY)
    try:
        assert type(ledger) is cls
    finally:
        ledger.close()


def test_the_null_ledger_keeps_nothing_and_lets_everything_send() -> None:
    ledger = open_ledger("null://", hash_key=KEY)
    assert ledger.claim(make_job(1), 1).state is ClaimState.NEW
    assert ledger.claim(make_job(1), 1).state is ClaimState.NEW
    assert ledger.notice("notice-1") is None


@pytest.mark.parametrize("url", ["mysql://x/y", "redis://localhost"])
def test_unknown_schemes_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="unknown ledger URL scheme"):
        open_ledger(url, hash_key=KEY)


def _config(**ledger: Any) -> Config:
    return Config(deep_merge(DEFAULTS, {"ledger": ledger}))


def test_ledger_from_config_uses_the_configured_key_and_raw_address_flag(
    tmp_path: Path,
) -> None:
    ledger = ledger_from_config(_config(url="memory://", hash_key="s3cret",
                                        store_raw_address=True))
    ledger.claim(make_job(1), 1)
    notice = ledger.notice("notice-1")
    assert notice is not None
    assert notice.recipient_hash == address_hash("010-1234-5678", b"s3cret")
    assert notice.recipient_address == "010-1234-5678"


def test_ledger_from_config_falls_back_to_the_dev_key_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the level is the test's own: a CLI test before it may have set the root's
    caplog.set_level(logging.WARNING, logger="hub.ledger")
    ledger = ledger_from_config(_config(url=_url(tmp_path)))
    try:
        assert ledger.hash_key == DEV_HASH_KEY
        assert "MINWON__LEDGER__HASH_KEY" in caplog.text
    finally:
        ledger.close()


# -- ordering inside one batch ----------------------------------------------------------
def test_operations_on_one_notice_keep_their_order_inside_a_batch(tmp_path: Path) -> None:
    from hub.ledger.base import utcnow
    from hub.ledger.writer import Op

    # Given one batch that claims a notice, records it sent, claims it again, and
    # claims a second notice, interleaved
    ledger = open_ledger(_url(tmp_path), hash_key=KEY)
    assert isinstance(ledger, SqlLedger)
    one, two = make_job(1), make_job(2)
    batch = [
        Op("claim", (utcnow(), one, 1, "t-1")),
        Op("record", (utcnow(), one, "sent", 1, "outbox", "m-1", None, None, None)),
        Op("claim", (utcnow(), two, 1, "t-2")),
        Op("claim", (utcnow(), one, 2, "t-3")),
    ]
    # When the writer commits it as one transaction
    ledger._writer._flush(batch)
    # Then each caller gets the answer it would have had one by one
    results = [op.future.result(5) for op in batch]
    assert [getattr(r, "state", None) for r in results] == [
        ClaimState.NEW, None, ClaimState.NEW, ClaimState.DONE]
    notice = ledger.notice("notice-1")
    assert notice is not None
    assert [h.status for h in notice.history] == ["sending", "sent"]
    ledger.close()


@pytest.mark.parametrize(
    ("kinds_and_keys", "expected"),
    [
        # every notice once: one run per kind, whatever the interleaving
        ([("claim", 1), ("record", 2), ("claim", 3), ("record", 4)],
         [[0, 2], [1, 3]]),
        # a notice twice: its second operation waits for the next phase
        ([("claim", 1), ("record", 1), ("claim", 2)], [[0, 2], [1]]),
        ([("claim", 1), ("claim", 1), ("claim", 1)], [[0], [1], [2]]),
    ],
)
def test_batches_group_by_phase_then_kind(
    kinds_and_keys: list[tuple[str, int]], expected: list[list[int]]
) -> None:
    from hub.ledger.base import utcnow
    from hub.ledger.sql import _runs
    from hub.ledger.writer import Op

    ops = [Op(kind, (utcnow(), make_job(key), 1)) for kind, key in kinds_and_keys]
    assert [[index for index, _ in run] for run in _runs(ops)] == expected


@pytest.mark.parametrize(
    ("raw", "key"),
    [("s3cret", b"s3cret"), (20261124, b"20261124"), (b"\x00\x01", b"\x00\x01")],
)
def test_the_hash_key_is_taken_as_text(raw: Any, key: bytes) -> None:
    # Given a key from the file or the environment (digits-only env values parse as ints)
    ledger = ledger_from_config(_config(url="memory://", hash_key=raw))
    # Then its bytes are the text as written, never bytes(int) zeros
    assert ledger.hash_key == key


@pytest.mark.parametrize("raw", [1.5, True, ["a"]])
def test_a_hash_key_that_is_not_text_is_refused(raw: Any) -> None:
    with pytest.raises(ValueError, match="must be text"):
        ledger_from_config(_config(url="memory://", hash_key=raw))
