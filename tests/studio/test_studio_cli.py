"""``minwon-hub studio user add`` (password on standard input) and the studio's
configuration errors: one line, exit status 2."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hub.cli import build_parser, main
from hub.ledger import open_ledger
from hub.ledger.privacy import DEV_HASH_KEY
from hub.studio.accounts import Accounts


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("MINWON__LEDGER__URL", url)
    return url


def test_user_add_reads_the_password_from_stdin_and_hashes_it(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough secret\n"))
    assert main(["studio", "user", "add", "kim", "--org", "gumi", "--role", "editor",
                 "--phone", "010-1111-2222"]) == 0
    assert "user kim added (org gumi, role editor)" in capsys.readouterr().out
    with open_ledger(env, hash_key=DEV_HASH_KEY) as led:
        accounts = Accounts(led.engine)
        user = accounts.verify("kim", "a long enough secret")
        assert user is not None and user.org == "gumi" and user.phone == "010-1111-2222"
        assert accounts.verify("kim", "wrong") is None
        row = led.engine.connect().exec_driver_sql(
            "select password_hash from studio_users").scalar_one()
        assert row.startswith("$argon2id$") and "secret" not in row


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["kim", "--org", "gumi", "--role", "editor"], "short\n", "10자 이상"),
    (["bad name!", "--org", "gumi", "--role", "editor"], "a long enough secret\n",
     "사용자 이름"),
    (["kim", "--org", "Gumi City", "--role", "editor"], "a long enough secret\n", "기관 키"),
])
def test_bad_accounts_are_one_korean_line_and_exit_2(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    args: list[str], stdin: str, message: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(["studio", "user", "add", *args]) == 2
    last = capsys.readouterr().err.splitlines()[-1]  # after the ledger's log lines
    assert last.startswith("minwon-hub: ") and message in last


def test_a_second_account_of_the_same_name_is_refused(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for expected in (0, 2):
        monkeypatch.setattr("sys.stdin", io.StringIO("a long enough secret\n"))
        assert main(["studio", "user", "add", "kim", "--org", "gumi", "--role",
                     "admin"]) == expected
    assert "이미 있습니다" in capsys.readouterr().err


def test_studio_needs_a_sql_ledger(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MINWON__LEDGER__URL", "memory://")
    assert main(["studio", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ledger.url" in err


def test_studio_defaults_to_localhost_8080() -> None:
    args = build_parser().parse_args(["studio"])
    assert args.host is None and args.port is None  # studio.host / studio.port apply
    from hub.config import DEFAULTS

    assert (DEFAULTS["studio"]["host"], DEFAULTS["studio"]["port"]) == ("127.0.0.1", 8080)
