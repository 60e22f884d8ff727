"""The latency provider: answers after its latency, records accepted sends, fails while
its flag file exists."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels import load_provider
from channels.base import LookupResult, Message, Provider, TransientError
from channels.latency import LatencyProvider, read_records

SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def accepted(provider: Provider, notification_id: str) -> bool:
    """Whether the provider's look-up says it accepted ``notification_id``."""
    found: LookupResult | None = provider.lookup(notification_id, SINCE)
    return found is not None and found.accepted


def _message(nid: str = "n-1", channel: str = "sms") -> Message:
    return Message(notification_id=nid, event_id="e-1", event_type="case.received",
                   case_id="c-1", org="gumi", channel=channel, to="010-0000-0000",
                   body="본문", attempt=2)


@pytest.mark.parametrize("channel", ["sms", "email", "push"])
def test_registered_under_short_name_latency(channel: str) -> None:
    # Given each channel's spec / When the short name "latency" is loaded
    provider = load_provider(channel, "latency", {"latency_ms": 0})
    # Then it is the latency provider
    assert isinstance(provider, LatencyProvider)


@pytest.mark.parametrize("latency_ms", [0, 30])
def test_answers_after_its_latency(latency_ms: int) -> None:
    provider = LatencyProvider({"latency_ms": latency_ms}, channel="sms")
    started = time.perf_counter()
    receipt = provider.send(_message())
    elapsed = time.perf_counter() - started
    assert receipt.provider == "latency"
    assert receipt.message_id == "n-1"
    assert latency_ms / 1000 <= elapsed < latency_ms / 1000 + 0.05


def test_records_each_accepted_send(tmp_path: Path) -> None:
    # Given a provider recording into a folder
    provider = LatencyProvider({"record": str(tmp_path)}, channel="email")
    # When two sends are accepted
    before = time.time()
    provider.send(_message("n-1", "email"))
    provider.send(_message("n-2", "email"))
    provider.close()
    # Then the folder holds one line per send, with ids, attempt and times
    records = list(read_records(tmp_path))
    assert [r.notification_id for r in records] == ["n-1", "n-2"]
    assert {r.channel for r in records} == {"email"}
    assert all(r.attempt == 2 and r.event_id == "e-1" for r in records)
    assert all(before <= r.called_at <= r.accepted_at <= time.time() for r in records)


def test_fails_transiently_while_flag_exists_and_records_nothing(tmp_path: Path) -> None:
    flag = tmp_path / "down"
    record = tmp_path / "record"
    provider = LatencyProvider({"record": str(record), "fail_flag": str(flag)}, channel="sms")
    flag.touch()
    with pytest.raises(TransientError) as failure:
        provider.send(_message("n-1"))
    assert failure.value.code == "LATENCY-FLAG"
    flag.unlink()
    provider.send(_message("n-2"))
    assert [r.notification_id for r in read_records(record)] == ["n-2"]


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    # Given a record file whose writer was killed mid-line
    (tmp_path / "sms.1.tsv").write_text(
        "n-1\te-1\tsms\t1\t1.0\t1.1\t1\nn-2\te-2\tsms\t1\t1.0", "utf-8")
    # Then only the complete line is read
    assert [r.notification_id for r in read_records(tmp_path)] == ["n-1"]


def test_lookup_finds_what_any_process_accepted(tmp_path: Path) -> None:
    # Given a send accepted by this process and one by an earlier (killed) process
    provider = LatencyProvider({"record": str(tmp_path)}, channel="sms")
    provider.send(_message("n-1"))
    (tmp_path / "sms.999999.tsv").write_text("n-2\te-2\tsms\t1\t1.0\t1.1\t999999\n", "utf-8")
    # Then the look-up knows both, and not a notice nobody sent
    assert accepted(provider, "n-1")
    assert accepted(provider, "n-2")
    assert not accepted(provider, "n-3")
    # And a send recorded after a look-up is found on the next one
    provider.send(_message("n-3"))
    found = provider.lookup("n-3", SINCE)
    assert found is not None and found.provider == "latency"
