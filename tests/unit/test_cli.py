"""The `minwon-hub` console script: every command of DESIGN.md's interface parses, and
the commands that need no running hub behave."""

from __future__ import annotations

import argparse
import json
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub import cli
from hub.topology import ROUTER_QUEUE, Topology
from hub.transport import connect


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No MINWON_* variables, no ./minwon.toml, and the root logger restored after
    main() has set up JSON logging."""
    for name in list(os.environ):
        if name.startswith("MINWON"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield tmp_path
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.captureWarnings(False)


DESIGN_COMMANDS = ["demo", "run", "router", "worker", "publish", "templates", "trace", "ledger"]


def test_every_command_of_the_interface_is_there() -> None:
    assert set(DESIGN_COMMANDS) <= set(commands())


@pytest.mark.parametrize(
    ("argv", "func", "attributes"),
    [
        (["demo"], "cmd_demo", {"outbox": None, "keep": False}),
        (["demo", "--outbox", "/tmp/o", "--keep"], "cmd_demo", {"outbox": "/tmp/o", "keep": True}),
        (["run"], "cmd_run", {}),
        (["router"], "cmd_router", {}),
        (["worker", "--channel", "sms"], "cmd_worker", {"channel": "sms"}),
        (["publish", "a.json", "b.jsonl"], "cmd_publish",
         {"files": ["a.json", "b.jsonl"], "url": None}),
        (["publish", "-", "--url", "memory://"], "cmd_publish", {"files": ["-"], "url": "memory://"}),
        (["--config", "x.toml", "-v", "run"], "cmd_run", {"config": "x.toml", "verbose": True}),
    ],
)
def test_core_commands_parse(argv: list[str], func: str, attributes: dict[str, Any]) -> None:
    args = cli.build_parser().parse_args(argv)
    assert args.func is getattr(cli, func)
    for name, value in attributes.items():
        assert getattr(args, name) == value


@pytest.mark.parametrize(
    "argv",
    [
        ["templates", "check"],
        ["templates", "preview", "case.received", "sms"],
        ["templates", "preview", "case.answered", "email", "--org", "gumi", "--sample", "s.json"],
        ["trace", "2026-0001234"],
        ["ledger", "purge", "--older-than", "30"],
    ],
)
def test_extension_commands_parse(argv: list[str]) -> None:
    args = cli.build_parser().parse_args(argv)
    assert callable(args.func)


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(found[0].choices) if found else set()


@pytest.mark.parametrize(
    ("command", "expected"),
    [("status", set()), ("dlq", {"list", "show", "replay", "purge"}),
     ("templates", {"check", "preview"}), ("ledger", {"purge"})],
)
def test_command_groups_have_their_subcommands(command: str, expected: set[str]) -> None:
    found = commands()
    if command not in found:  # status and dlq come with hub.admin.cli
        pytest.skip(f"`{command}` is not implemented yet")
    assert expected <= subcommands(found[command])


@pytest.mark.parametrize(
    "argv",
    [[], ["worker"], ["publish"], ["nonsense"], ["trace"], ["worker", "--channel"]],
)
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(argv)
    assert info.value.code == 2
    assert "usage: minwon-hub" in capsys.readouterr().err


def test_a_worker_for_an_unknown_channel_exits_2(clean: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["worker", "--channel", "fax"]) == 2
    assert "unknown channel 'fax'; configured: sms, email, push" in capsys.readouterr().err


def test_a_missing_configuration_file_exits_2(clean: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--config", str(clean / "nope.toml"), "run"]) == 2
    assert capsys.readouterr().err.startswith("minwon-hub: configuration file ")


ROOT = Path(__file__).resolve().parents[2]


def sample_event(event_id: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (ROOT / "templates" / "case.received" / "samples" / "full.json").read_text("utf-8"))
    event["id"] = event_id
    return event


def routed(ids: list[str]) -> list[tuple[str, str]]:
    arrived = []
    with connect("memory://") as conn:
        channel = conn.channel()
        while (message := channel.basic_get(ROUTER_QUEUE, no_ack=True)) is not None:
            arrived.append((message.properties.get("message_id"),
                            message.delivery_info.get("routing_key")))
    return [a for a in arrived if a[0] in ids]


def test_publish_sends_every_event_of_a_file(clean: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # Given the hub's queues on the in-memory transport, and a JSON-lines file of two events
    with connect("memory://") as conn:
        Topology.build(["sms"], ["1s"], quorum_queues=False).declare(conn.channel())
    ids = [f"cli-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    path = clean / "events.jsonl"
    path.write_text("".join(json.dumps(sample_event(i)) + "\n" for i in ids), "utf-8")
    # When they are published
    assert cli.main(["publish", str(path), "--url", "memory://"]) == 0
    # Then both are reported and waiting on hub.router, under their event type
    assert f"{path}: published 2, confirmed 2, failed 0, invalid 0" in capsys.readouterr().out
    assert routed(ids) == [(i, "case.received") for i in ids]


def test_publish_reports_each_invalid_event_and_fails(clean: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # Given a file with a good event between an incomplete one, a deep one and a non-JSON line
    with connect("memory://") as conn:
        Topology.build(["sms"], ["1s"], quorum_queues=False).declare(conn.channel())
    good = f"cli-{uuid.uuid4().hex[:8]}"
    path = clean / "events.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "bad-1", "type": "case.received"}),
        json.dumps(sample_event(good)),
        "[" * 5000 + "]" * 5000,
        "not json",
    ]) + "\n", "utf-8")
    # When the file is published
    assert cli.main(["publish", str(path), "--url", "memory://"]) == 1
    # Then the good event went out, each bad one is named with its reason, none published
    out, err = capsys.readouterr()
    assert f"{path}: published 1, confirmed 1, failed 0, invalid 3" in out
    assert f"{path}: event 1 'bad-1': " in err
    assert f"{path}: event 3 (no id): " in err
    assert f"{path}: event 4 (no id): bad_json" in err
    assert routed([good, "bad-1"]) == [(good, "case.received")]


def test_publish_of_a_missing_file_fails(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["publish", str(clean / "nope.json"), "--url", "memory://"]) == 1
    assert "nope.json" in capsys.readouterr().err
