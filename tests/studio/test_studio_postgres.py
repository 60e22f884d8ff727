"""The studio's tables on PostgreSQL (the production ledger), in a schema of the test's
own: template versions published from two processes at once end with one pointer,
accounts, the audit log, opt-outs, and a store that picks up a publication."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.ledger import open_ledger
from hub.optouts import OptOuts
from hub.studio.accounts import Accounts
from hub.studio.audit import AuditLog
from hub.templates import TemplateStore
from hub.templates.database import TemplateDatabase
from tests.integration.test_ledger_postgres import PG_URL, pg_admin, schema  # noqa: F401

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
GUMI = "orgs/gumi/case.received/sms.j2"


@pytest.fixture
def ledgers(schema: str) -> Iterator[list[Any]]:  # noqa: F811
    opened = [open_ledger(PG_URL, hash_key=b"k", schema=schema) for _ in range(2)]
    yield opened
    for ledger in opened:
        ledger.close()


def test_studio_tables_on_postgres(ledgers: list[Any]) -> None:
    a, b = (TemplateDatabase(led.engine) for led in ledgers)
    versions = [a.save(GUMI, "{% block body %}" + f"v{i} {{{{ case.id }}}}"
                       "{% endblock %}", author="kim") for i in range(8)]
    # Two processes publish at once, the first publication of the path included
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def publish(db: TemplateDatabase, chosen: list[Any]) -> None:
        barrier.wait()
        try:
            for version in chosen:
                db.publish(version.id, by="kim")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(a, versions[0::2])),
               threading.Thread(target=publish, args=(b, versions[1::2]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    head = a.head(GUMI)
    assert head is not None and head.version_id in {v.id for v in versions[-2:]}
    assert b.heads() == a.heads()

    # A store polling PostgreSQL serves the published version
    store = TemplateStore(ROOT / "templates", {"gumi": {"name": "구미시"}}, reload_interval=0,
                          database=a)
    assert store.status()[GUMI]["version_id"] == head.version_id
    store.close()

    engine = ledgers[0].engine
    accounts = Accounts(engine)
    accounts.add("kim", "a long enough secret", org="gumi", role="editor")
    assert accounts.verify("kim", "a long enough secret") is not None
    AuditLog(engine).record("kim", "publish", GUMI, "v")
    assert AuditLog(engine).count_since("kim", "publish", head.published_at.replace(
        year=2000)) == 1
    optouts = OptOuts(engine, b"k", refresh=0)
    optouts.add("010-1234-5678", "gumi", by="lee")
    optouts.add("010-1234-5678", "gumi", by="lee")  # idempotent
    assert optouts.blocks("01012345678", "gumi") and len(optouts.list("gumi")) == 1
