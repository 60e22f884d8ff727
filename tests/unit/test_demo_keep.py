"""`minwon-hub demo` cleans up after itself unless told to keep its outbox and ledger."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.cli import main
from hub.logs import QUIET_LOGGERS


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("MINWON_CONFIG", raising=False)
    for name in ("MINWON__BROKER__URL", "MINWON__LEDGER__URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    # the demo sets up logging as a command does (root at ERROR): undo it for the tests after
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    try:
        yield tmp_path
    finally:
        root.setLevel(level)
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        for name, old in quiet.items():
            logging.getLogger(name).setLevel(old)
        logging.captureWarnings(False)


def outbox_of(out: str) -> Path:
    match = re.search(r"^outbox: (\S+)", out, re.MULTILINE)
    assert match, out
    return Path(match.group(1))


def test_demo_removes_its_temporary_folder_and_keep_keeps_it(
        clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    folder = outbox_of(out)
    assert "(removed at the end; --keep keeps it)" in out
    assert not folder.exists()
    assert "minwon-hub trace" not in out  # its ledger is gone with it

    assert main(["demo", "--keep"]) == 0
    out = capsys.readouterr().out
    folder = outbox_of(out)
    try:
        assert "removed" not in out
        assert (folder / "sms.jsonl").read_text("utf-8").strip()
        assert (folder / "ledger.db").is_file()
        assert f"MINWON__LEDGER__URL=sqlite:///{folder / 'ledger.db'} minwon-hub trace" in out
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def test_a_named_outbox_is_never_removed(clean_env: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    named = clean_env / "mine"
    assert main(["demo", "--outbox", str(named)]) == 0
    assert outbox_of(capsys.readouterr().out) == named
    assert (named / "sms.jsonl").is_file()
