"""Every command of the console script, run as a process: a configuration mistake or a
broker / database that cannot be reached ends it with one line on stderr and exit
status 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hub import cli

ROOT = Path(__file__).resolve().parents[2]

#: One invocation of every command (a test checks the parser has no other).
COMMANDS: dict[str, list[str]] = {
    "demo": ["demo"],
    "run": ["run"],
    "router": ["router"],
    "worker": ["worker", "--channel", "sms"],
    "publish": ["publish", "events.json"],
    "config check": ["config", "check"],
    "templates check": ["templates", "check"],
    "templates preview": ["templates", "preview", "case.received", "sms"],
    "templates import": ["templates", "import"],
    "studio user add": ["studio", "user", "add", "kim", "--org", "gumi", "--role", "editor"],
    "studio user password": ["studio", "user", "password", "kim"],
    "studio user list": ["studio", "user", "list"],
    "providers check": ["providers", "check"],
    "trace": ["trace", "2026-0001"],
    "ledger purge": ["ledger", "purge", "--older-than", "500"],
    "status": ["status"],
    "dlq list": ["dlq", "list"],
    "dlq show": ["dlq", "show", "m-1"],
    "dlq replay": ["dlq", "replay"],
    "dlq purge": ["dlq", "purge"],
}
#: Commands that need the broker or the ledger database to do anything (`status` shows
#: what it could read on stdout, and says what it could not in the one line).
NEEDS_A_SERVER = {"run", "router", "worker", "publish", "trace", "ledger purge", "status",
                  "templates import", "studio user add", "studio user list",
                  "dlq list", "dlq show", "dlq replay", "dlq purge"}


def leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[str]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {" ".join(prefix)}
    found: set[str] = set()
    for name, sub in subs[0].choices.items():
        found |= leaf_commands(sub, (*prefix, name))
    return found


def test_every_command_is_tried() -> None:
    assert leaf_commands(cli.build_parser()) == set(COMMANDS)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def minwon_hub(argv: list[str], folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MINWON")}
    environ.update({"MINWON__METRICS__PORT": "0",
                    "MINWON__TEMPLATES__DIR": str(ROOT / "templates"),
                    "MINWON__LEDGER__HASH_KEY": "a-test-key-of-the-cli-tests", **env})
    (folder / "events.json").write_text('{"id": "e-1"}', "utf-8")
    return subprocess.run([sys.executable, "-m", "hub.cli", *argv], cwd=folder, env=environ,
                          capture_output=True, text=True, timeout=90)


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit 2 and one line saying why; besides it only the service's own JSON log
    records below ERROR (a service logs "starting" before it finds the broker gone)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = []
    for line in result.stderr.splitlines():
        if line.startswith('{"ts"'):
            assert json.loads(line)["level"] in ("DEBUG", "INFO", "WARNING"), line
        elif line.strip():
            lines.append(line)
    assert len(lines) == 1, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert lines[0].startswith("minwon-hub: ")
    for text in expected:
        assert text in lines[0]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_config_typo_is_one_line_and_exit_2(name: str, tmp_path: Path) -> None:
    (tmp_path / "minwon.toml").write_text("[brokr]\nurl = 'x'\n", "utf-8")
    result = minwon_hub(COMMANDS[name], tmp_path)
    assert_one_line(result, "unknown section brokr (minwon.toml): did you mean 'broker'?")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_config_and_verbose_are_accepted_after_any_command(name: str) -> None:
    parser = cli.build_parser()
    after = parser.parse_args([*COMMANDS[name], "--config", "other.toml", "-v"])
    assert (after.config, after.verbose) == ("other.toml", True)
    before = parser.parse_args(["--config", "first.toml", *COMMANDS[name]])
    assert (before.config, before.verbose) == ("first.toml", False)


def test_a_config_option_after_the_command_is_read(tmp_path: Path) -> None:
    (tmp_path / "other.toml").write_text("[worker]\nconcurency = 3\n", "utf-8")
    result = minwon_hub(["templates", "check", "--config", "other.toml"], tmp_path)
    assert_one_line(result, "worker.concurency (other.toml): did you mean 'concurrency'?")


@pytest.mark.parametrize("name", sorted(NEEDS_A_SERVER))
def test_an_unreachable_server_is_one_line_and_exit_2(name: str, tmp_path: Path) -> None:
    port = closed_port()
    result = minwon_hub(
        COMMANDS[name], tmp_path,
        MINWON__BROKER__URL=f"amqp://guest:s3cret@127.0.0.1:{port}/%2F",
        MINWON__BROKER__MANAGEMENT_URL=f"http://127.0.0.1:{port}",
        MINWON__BROKER__CONNECT_TIMEOUT="2",
        MINWON__LEDGER__URL=f"postgresql+psycopg://minwon:s3cret@127.0.0.1:{port}/x",
    )
    assert_one_line(result)
    assert "s3cret" not in result.stderr


def test_production_refuses_the_outbox_in_one_line(tmp_path: Path) -> None:
    result = minwon_hub(["run"], tmp_path, MINWON__HUB__ENVIRONMENT="production",
                        MINWON__CHANNELS__EMAIL__PROVIDERS='["smtp"]',
                        MINWON__CHANNELS__PUSH__PROVIDERS='["sns"]')
    assert_one_line(result, "channels.sms.providers (the defaults): the 'outbox' provider "
                    "never reaches a citizen and is refused in production")


def test_config_check_lists_every_problem(tmp_path: Path) -> None:
    (tmp_path / "minwon.toml").write_text(
        "[hub]\nenvironment = 'production'\n[ledger]\nhash_key = 'in-the-file'\n", "utf-8")
    result = minwon_hub(["config", "check"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "minwon-hub: ledger.hash_key is a secret and must not be written in minwon.toml: "
        "remove it and set MINWON__LEDGER__HASH_KEY in the environment",
    ]
    assert "in-the-file" not in result.stdout + result.stderr


def test_config_check_prints_the_effective_configuration_masked(tmp_path: Path) -> None:
    import tomllib

    result = minwon_hub(["config", "check"], tmp_path,
                        MINWON__BROKER__URL="amqp://hub:pw-1@rabbit:5672/minwon",
                        MINWON__PROVIDERS__SMTP__PASSWORD="pw-2",
                        MINWON__LEDGER__HASH_KEY="pw-3-long-enough-key",
                        MINWON__ORGS__GUMI__NAME="구미시")
    assert result.returncode == 0, result.stderr
    assert not any(s in result.stdout for s in ("pw-1", "pw-2", "pw-3"))
    printed = tomllib.loads(result.stdout)
    assert printed["broker"]["url"] == "amqp://hub:***@rabbit:5672/minwon"
    assert printed["providers"]["smtp"]["password"] == "***"
    assert printed["ledger"]["hash_key"] == "***"
    assert printed["worker"]["concurrency"] == 128
    assert "hash_key = \"***\"  # MINWON__LEDGER__HASH_KEY" in result.stdout


def test_version(tmp_path: Path) -> None:
    result = minwon_hub(["--version"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("minwon-hub ") and result.stdout.split()[1][0].isdigit()
