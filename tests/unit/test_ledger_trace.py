"""``trace CASE_ID`` and ``ledger purge``: the story of a case as operators read it, and
the commands as ``minwon-hub`` runs them."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.config import DEFAULTS, Config, deep_merge
from hub.ledger import Ledger, open_ledger
from hub.ledger.cli import add_parser
from hub.ledger.privacy import address_hash, normalise_address
from hub.trace import render_json, render_text, timeline
from tests.unit.test_ledger_contract import KEY, T0, FakeClock, make_event, make_job

CASE = "2026-0001234"


def tell_the_story(ledger: Ledger, clock: FakeClock) -> None:
    """case.answered at 15:00 KST: SMS fails once then goes, e-mail goes, push skipped."""
    ledger.record_event(make_event("ev-1", type_="case.answered"))
    clock.advance(seconds=1)
    sms = make_job(1)
    mail = make_job(2, channel="email", address="hong@example.kr")
    push = make_job(3, channel="push", address="")
    ledger.claim(sms, 1)
    ledger.claim(mail, 1)
    clock.advance(seconds=1)
    ledger.record(sms, "retrying", attempt=1, provider="nhn", reason="nhn 500: busy")
    ledger.record(mail, "sent", attempt=1, provider="ses", message_id="ses-1")
    ledger.record(push, "skipped", attempt=1, reason="citizen has no address for channel push")
    clock.advance(seconds=10)
    ledger.claim(sms, 2)
    clock.advance(seconds=1)
    ledger.record(sms, "sent", attempt=2, provider="nhn", message_id="req-9")


@pytest.fixture
def story_ledger(tmp_path: Path) -> tuple[Ledger, str]:
    clock = FakeClock()
    url = f"sqlite:///{tmp_path}/ledger.db"
    ledger = open_ledger(url, hash_key=KEY, clock=clock)
    tell_the_story(ledger, clock)
    ledger.close()
    return open_ledger(url, hash_key=KEY), url


def test_the_timeline_is_in_time_order_with_the_event_first(
    story_ledger: tuple[Ledger, str],
) -> None:
    ledger, _ = story_ledger
    steps = timeline(ledger.case_story(CASE))
    assert [(s.kind, s.status) for s in steps] == [
        ("event", "routed"),
        ("sms", "sending"), ("email", "sending"),
        ("sms", "retrying"), ("email", "sent"), ("push", "skipped"),
        ("sms", "sending"), ("sms", "sent"),
    ]
    assert [s.at for s in steps] == sorted(s.at for s in steps)
    ledger.close()


def test_the_table_shows_korean_time_masked_recipients_and_reasons(
    story_ledger: tuple[Ledger, str],
) -> None:
    ledger, _ = story_ledger
    text = render_text(ledger.case_story(CASE))
    ledger.close()
    assert text.startswith(f"Case {CASE}: 1 event, 3 notices (times Asia/Seoul)")
    assert "2026-11-24 15:00:00  event" in text  # T0 is 06:00 UTC
    assert "홍*동 <010-****-5678>" in text and "홍*동 <h***@example.kr>" in text
    assert "nhn 500: busy" in text and "req-9" in text
    for raw in ("010-1234-5678", "hong@example.kr", "홍길동"):
        assert raw not in text


def test_table_columns_line_up_with_hangul(story_ledger: tuple[Ledger, str]) -> None:
    import unicodedata

    ledger, _ = story_ledger
    lines = render_text(ledger.case_story(CASE)).splitlines()
    ledger.close()

    def col(line: str, needle: str) -> int:
        head = line[: line.index(needle)]
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in head)

    timeline_rows = [line for line in lines if "2026-11-24" in line and " sms " in line]
    positions = {col(line, "sending" if "sending" in line else "s") for line in timeline_rows
                 if "sending" in line}
    assert len(positions) == 1


def test_json_keeps_iso_times_and_masked_recipients_only(
    story_ledger: tuple[Ledger, str],
) -> None:
    ledger, _ = story_ledger
    data = json.loads(render_json(ledger.case_story(CASE)))
    ledger.close()
    assert data["case_id"] == CASE
    assert [e["id"] for e in data["events"]] == ["ev-1"]
    sms = next(n for n in data["notices"] if n["channel"] == "sms")
    assert sms["recipient"] == {"role": "citizen", "masked": "홍*동 <010-****-5678>"}
    assert [h["status"] for h in sms["history"]] == ["sending", "retrying", "sending", "sent"]
    assert sms["history"][0]["at"] == T0.replace(second=1).isoformat()
    assert len(data["timeline"]) == 8
    blob = json.dumps(data, ensure_ascii=False)
    assert "recipient_hash" not in blob and "010-1234-5678" not in blob


def test_an_unknown_case_says_so() -> None:
    ledger = open_ledger("memory://", hash_key=KEY)
    assert render_text(ledger.case_story("nope")) == "Case nope: nothing in the ledger."


# -- the commands ----------------------------------------------------------------------
def run_cli(argv: list[str], url: str) -> int:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    config = Config(deep_merge(DEFAULTS, {"ledger": {"url": url, "hash_key": KEY.decode()}}))
    code: int = args.func(config, args)
    return code


def test_trace_command_prints_the_table(story_ledger: tuple[Ledger, str],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    ledger, url = story_ledger
    ledger.close()
    assert run_cli(["trace", CASE], url) == 0
    out = capsys.readouterr().out
    assert "case.answered" in out and "홍*동 <010-****-5678>" in out


def test_trace_command_prints_json(story_ledger: tuple[Ledger, str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    ledger, url = story_ledger
    ledger.close()
    assert run_cli(["trace", CASE, "--json"], url) == 0
    assert len(json.loads(capsys.readouterr().out)["notices"]) == 3


def test_trace_command_exits_1_for_an_unknown_case(
    story_ledger: tuple[Ledger, str], capsys: pytest.CaptureFixture[str]
) -> None:
    ledger, url = story_ledger
    ledger.close()
    assert run_cli(["trace", "no-such-case"], url) == 1


@pytest.mark.parametrize(("days", "left"), [("30", 3), ("5", 0)])
def test_purge_command_deletes_what_is_older_than_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], days: str, left: int
) -> None:
    # Given the story, told ten days ago
    url = f"sqlite:///{tmp_path}/ledger.db"
    clock = FakeClock(datetime.now(UTC) - timedelta(days=10))
    ledger = open_ledger(url, hash_key=KEY, clock=clock)
    tell_the_story(ledger, clock)
    ledger.close()
    # When purged with --older-than DAYS
    assert run_cli(["ledger", "purge", "--older-than", days], url) == 0
    # Then the notices remain only if they are younger than DAYS
    assert f"older than {days} days" in capsys.readouterr().out
    again = open_ledger(url, hash_key=KEY)
    assert len(again.case_story(CASE).notices) == left
    assert len(again.case_story(CASE).events) == (1 if left else 0)
    again.close()


def test_purge_defaults_to_the_configured_retention(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/l.db"
    clock = FakeClock(datetime.now(UTC) - timedelta(days=401))
    ledger = open_ledger(url, hash_key=KEY, clock=clock)
    ledger.claim(make_job(1), 1)
    clock.now = datetime.now(UTC) - timedelta(days=399)
    ledger.claim(make_job(2), 1)
    ledger.close()
    assert run_cli(["ledger", "purge"], url) == 0
    assert "older than 400 days" in capsys.readouterr().out
    again = open_ledger(url, hash_key=KEY)
    assert (again.notice("notice-1"), again.notice("notice-2") is not None) == (None, True)
    again.close()


# -- the keyed hash -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "normal"),
    [("010-1234-5678", "01012345678"), ("+82 10-1234-5678", "01012345678"),
     ("+821012345678", "01012345678"), ("(054) 480-0000", "0544800000"),
     ("Hong@Example.KR", "hong@example.kr"), (" sim:success ", "sim:success")],
)
def test_addresses_are_normalised_before_hashing(address: str, normal: str) -> None:
    assert normalise_address(address) == normal
    assert address_hash(address, KEY) == address_hash(normal, KEY)


@pytest.mark.parametrize("command", [["trace", CASE], ["ledger", "purge", "--older-than", "5"]])
def test_a_missing_sqlite_ledger_is_said_and_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # Given an empty folder and the default-style relative SQLite URL
    url = f"sqlite:///{tmp_path}/minwon-ledger.db"
    # When trace (or purge) is run there
    assert run_cli(command, url) == 2
    # Then it says where it looked, and leaves no database behind
    err = capsys.readouterr().err
    assert f"no ledger at {tmp_path / 'minwon-ledger.db'}" in err
    assert "MINWON__LEDGER__URL" in err
    assert list(tmp_path.iterdir()) == []
