"""The ledger contract against PostgreSQL (127.0.0.1:5432, database ``test``), each test
in a schema of its own that is dropped afterwards; plus what only a server shows:
two ledgers (two workers' processes) racing for the same notices, and migrations
racing at start-up."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from hub.ledger import ClaimState, Ledger, open_ledger
from hub.ledger.migrate import VERSION_TABLE, head_revision
from tests.unit.test_ledger_contract import KEY, LedgerContract, LedgerFactory, make_job

pytestmark = pytest.mark.integration

PG_URL = os.environ.get("MINWON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def pg_admin() -> Iterator[Any]:
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    yield engine
    engine.dispose()


@pytest.fixture
def schema(pg_admin: Any) -> Iterator[str]:
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    yield name
    with pg_admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


@pytest.fixture
def make_pg_ledger(schema: str) -> Iterator[LedgerFactory]:
    opened: list[Ledger] = []

    def make(**kw: Any) -> Ledger:
        kw.setdefault("hash_key", KEY)
        # A second ledger in one test gets a schema of its own unless told otherwise.
        kw.setdefault("schema", schema if not opened else f"{schema}_{len(opened)}")
        ledger = open_ledger(PG_URL, **kw)
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()
    with create_engine(PG_URL).begin() as conn:
        for i in range(1, len(opened)):
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}_{i}" CASCADE'))


class TestPostgresLedger(LedgerContract):
    @pytest.fixture
    def make_ledger(self, make_pg_ledger: LedgerFactory) -> LedgerFactory:
        return make_pg_ledger


def test_two_ledgers_racing_for_the_same_notices_each_claim_once(
    make_pg_ledger: LedgerFactory, schema: str
) -> None:
    # Given two workers (two ledgers, two connection pools) on the same tables
    a = make_pg_ledger(owner="worker-a")
    b = make_pg_ledger(owner="worker-b", schema=schema)
    jobs = [make_job(i) for i in range(300)]
    wins: dict[str, list[str]] = {job.notification_id: [] for job in jobs}
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def run(ledger: Ledger, chunk: list[Any]) -> None:
        barrier.wait()
        for job in chunk:
            if ledger.claim(job, 1).state is ClaimState.NEW:
                with lock:
                    wins[job.notification_id].append(ledger.owner)

    # When both claim every notice, from four threads each, in opposite orders
    threads = [threading.Thread(target=run, args=(ledger, jobs[i::4][::step]))
               for ledger, step in ((a, 1), (b, -1)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then each notice was won exactly once
    assert all(len(owners) == 1 for owners in wins.values()), wins
    owners = {o for won in wins.values() for o in won}
    assert owners <= {"worker-a", "worker-b"}


def test_migrations_run_once_when_ledgers_open_together(
    make_pg_ledger: LedgerFactory, schema: str, pg_admin: Any
) -> None:
    # Given a fresh schema, when three workers open the ledger at once
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            make_pg_ledger(schema=schema)
        except BaseException as exc:  # pragma: no cover - the failure we test for
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then none failed, and the schema is at head, recorded once
    assert errors == []
    with pg_admin.connect() as conn:
        rows = conn.execute(text(f'SELECT version_num FROM "{schema}".{VERSION_TABLE}')).all()
    assert [r[0] for r in rows] == [head_revision()]


def test_reopening_runs_no_migration_and_keeps_the_data(
    make_pg_ledger: LedgerFactory, schema: str
) -> None:
    first = make_pg_ledger()
    first.claim(make_job(1), 1)
    first.close()
    again = make_pg_ledger(schema=schema)
    assert getattr(again, "revision", None) == head_revision()
    assert again.claim(make_job(1), 1).state is ClaimState.BUSY
