"""Templates in the ledger database: versions, publishing, ``templates import``, and a
TemplateStore that serves the published version, picks up a new one by polling, and
never serves a version that fails its check."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from hub.cli import main
from hub.ledger import open_ledger
from hub.ledger.privacy import DEV_HASH_KEY
from hub.templates import TemplateStore, context_from_event
from hub.templates.database import TemplateDatabase

ROOT = Path(__file__).resolve().parents[2]
PATH = "case.received/sms.j2"
GUMI = "orgs/gumi/case.received/sms.j2"
ORGS = {"gumi": {"name": "구미시", "callcenter": "054-480-2114"}}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", target)
    return target


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    with open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", hash_key=DEV_HASH_KEY) as led:
        yield led


@pytest.fixture
def db(ledger: Any) -> TemplateDatabase:
    return TemplateDatabase(ledger.engine)


def body(wording: str) -> str:
    return "{% block body %}" + wording + " {{ case.id }}{% endblock %}\n"


def render(store: TemplateStore, org: str = "gumi") -> str:
    event = __import__("json").loads(
        (ROOT / "templates/case.received/samples/minimal.json").read_text())
    ctx = context_from_event(event, {"role": "citizen", "name": "홍길동",
                                     "phone": "010-0000-0000"}, store.org_profile(org))
    return store.render("case.received", "sms", org, ctx).body


def test_every_save_is_a_version_and_publishing_moves_the_pointer(db: TemplateDatabase) -> None:
    # Given two saved versions of one path
    first = db.save(PATH, body("하나"), author="kim", note="처음")
    second = db.save(PATH, body("둘"), author="lee", note="고침")
    # Then both are kept, newest first, with who and why; nothing is published yet
    assert [(v.id, v.author, v.note) for v in db.versions(PATH)] == [
        (second.id, "lee", "고침"), (first.id, "kim", "처음")]
    assert db.head(PATH) is None
    # When the first is published, then the second (a roll-forward), then the first again
    db.publish(first.id, by="kim")
    db.publish(second.id, by="lee")
    assert db.head(PATH).version_id == second.id  # type: ignore[union-attr]
    db.publish(first.id, by="admin")
    head = db.head(PATH)
    assert head is not None and head.version_id == first.id and head.published_by == "admin"
    # And versions are never lost
    assert len(db.versions(PATH)) == 2


def test_a_path_outside_the_layout_is_refused(db: TemplateDatabase) -> None:
    for bad in ("../../etc/passwd", "case.received/fax.j2", "orgs/gumi/x/y/z.j2", ""):
        with pytest.raises(ValueError):
            db.save(bad, "x", author="kim")
    with pytest.raises(LookupError):
        db.publish(999, by="kim")


def test_the_store_serves_the_published_version_and_picks_up_a_new_one(
    folder: Path, db: TemplateDatabase
) -> None:
    # Given a store polling the database, with nothing published: the folder serves
    store = TemplateStore(folder, ORGS, reload_interval=0.05, database=db)
    try:
        assert "접수되었습니다" in render(store)
        # When an organisation override is published (it exists only in the database)
        db.publish(db.save(GUMI, body("구미 새 문구"), author="kim").id, by="kim")
        # Then the store serves it within the poll interval, for gumi only
        _wait(lambda: render(store).startswith("구미 새 문구"))
        assert "접수되었습니다" in render(store, "other")
        assert store.status()[GUMI]["source"] == "database"
        # When the default is published too
        db.publish(db.save(PATH, body("기본 새 문구"), author="admin").id, by="admin")
        _wait(lambda: render(store, "other").startswith("기본 새 문구"))
    finally:
        store.close()


def test_a_published_version_that_fails_its_check_never_goes_live(
    folder: Path, db: TemplateDatabase
) -> None:
    # Given a good published version in service
    good = db.save(GUMI, body("좋은 문구"), author="kim")
    db.publish(good.id, by="kim")
    store = TemplateStore(folder, ORGS, reload_interval=0, database=db)
    assert render(store).startswith("좋은 문구")
    # When a version that fails for a sample (no such field) is published behind the
    # studio's back
    bad = db.save(GUMI, "{% block body %}{{ case.nope.deeper }}{% endblock %}", author="x")
    db.publish(bad.id, by="x")
    store.reload()
    # Then the good one stays in service and the path is flagged broken
    assert render(store).startswith("좋은 문구")
    status = store.status()[GUMI]
    assert status["broken"] and "nope" in status["error"]
    # And a store starting now serves the folder's default rather than the bad version
    fresh = TemplateStore(folder, ORGS, reload_interval=0, database=db)
    assert "접수되었습니다" in render(fresh)


def test_a_database_that_stops_answering_keeps_what_is_in_service(
    folder: Path, db: TemplateDatabase
) -> None:
    db.publish(db.save(GUMI, body("DB 문구"), author="kim").id, by="kim")
    store = TemplateStore(folder, ORGS, reload_interval=0, database=db)

    def broken() -> dict[str, Any]:
        raise OSError("database is gone")

    db.heads = broken  # type: ignore[method-assign]
    store.reload()
    assert render(store).startswith("DB 문구")


def test_templates_import_seeds_once_and_updates_on_request(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{tmp_path / 'import.db'}"
    monkeypatch.setenv("MINWON__LEDGER__URL", url)
    monkeypatch.setenv("MINWON__TEMPLATES__DIR", str(folder))
    # When the folder is imported twice
    assert main(["templates", "import", "--author", "seed"]) == 0
    first = capsys.readouterr().out
    assert main(["templates", "import"]) == 0
    second = capsys.readouterr().out
    n = len(list(folder.rglob("*.j2")))
    assert f"{n} added, 0 updated, 0 unchanged, 0 kept" in first
    assert f"0 added, 0 updated, {n} unchanged, 0 kept" in second
    # When a file changes, --update adds a published version of it only
    (folder / PATH).write_text(body("바뀐 파일"), encoding="utf-8")
    assert main(["templates", "import", "--update"]) == 0
    assert f"updated  {PATH}" in capsys.readouterr().out
    with open_ledger(url, hash_key=DEV_HASH_KEY) as led:
        database = TemplateDatabase(led.engine)
        head = database.head(PATH)
        assert head is not None
        assert database.version(head.version_id).source == body("바뀐 파일")  # type: ignore[union-attr]
        assert len(database.versions(PATH)) == 2
        # An editor's wording (published in the studio) is never overwritten by a file
        edited = database.save(PATH, body("스튜디오 문구"), author="kim", note="고침")
        database.publish(edited.id, by="kim")
    (folder / PATH).write_text(body("또 바뀐 파일"), encoding="utf-8")
    assert main(["templates", "import", "--update"]) == 0
    assert f"kept     {PATH} (edited in the studio" in capsys.readouterr().out
    with open_ledger(url, hash_key=DEV_HASH_KEY) as led:
        head = TemplateDatabase(led.engine).head(PATH)
        assert head is not None and head.version_id == edited.id


def test_templates_import_without_a_sql_ledger_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MINWON__LEDGER__URL", "memory://")
    assert main(["templates", "import"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ledger.url" in err


def _wait(condition: Any, timeout: float = 20.0) -> None:
    done = threading.Event()
    deadline = __import__("time").monotonic() + timeout
    while not done.wait(0.02):
        if condition():
            return
        if __import__("time").monotonic() > deadline:
            raise AssertionError("condition not met in time")
