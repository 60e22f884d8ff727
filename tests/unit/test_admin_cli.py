"""``minwon-hub status`` and ``dlq`` arguments, and the refusals that need no broker."""

from __future__ import annotations

import pytest

from hub.cli import build_parser, main
from hub.config import load_config


@pytest.mark.parametrize(("argv", "expected"), [
    (["dlq", "list"], {"queue": "dead", "reason": None, "limit": None, "json": False}),
    (["dlq", "list", "--older-than", "1h30m", "--newer-than", "2d"],
     {"older_than": 5400.0, "newer_than": 172800.0}),
    (["dlq", "replay", "--queue", "rejected", "--reason", "too_large", "--limit", "5"],
     {"queue": "rejected", "reason": "too_large", "limit": 5}),
    (["dlq", "purge", "--id", "a", "--id", "b", "--yes"], {"id": ["a", "b"], "yes": True}),
    (["dlq", "show", "n-1", "--channel", "sms"], {"message_id": "n-1", "channel": "sms"}),
    (["status", "--json"], {"json": True}),
])
def test_arguments(argv: list[str], expected: dict[str, object]) -> None:
    args = build_parser().parse_args(argv)
    assert {k: getattr(args, k) for k in expected} == expected


@pytest.mark.parametrize("argv", [
    ["dlq", "list", "--older-than", "yesterday"],
    ["dlq", "list", "--limit", "0"],
    ["dlq", "list", "--queue", "retry"],
    ["dlq", "replay", "--yes"],  # only purge asks
    ["dlq"],
])
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2


def test_channel_filter_on_rejected_events_is_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["dlq", "list", "--queue", "rejected", "--channel", "sms"])
    assert args.func(load_config(environ={}), args) == 2
    assert "--channel does not apply" in capsys.readouterr().err


def test_dlq_needs_rabbitmq(capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINWON__BROKER__URL", "memory://")
    monkeypatch.delenv("MINWON_CONFIG", raising=False)
    monkeypatch.chdir("/")
    assert main(["dlq", "list"]) == 2
    assert "need RabbitMQ" in capsys.readouterr().err
