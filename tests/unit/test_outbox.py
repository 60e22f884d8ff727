"""The outbox provider: one JSON record per notice in <dir>/<channel>.jsonl, with the
fields DESIGN.md lists; look-ups across instances; reserved recipients fail on purpose."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from channels import load_provider
from channels.base import LookupResult, Message, PermanentError, Provider, Receipt, TransientError
from channels.outbox import OutboxProvider

#: The fields DESIGN.md promises in every outbox record.
DESIGN_FIELDS = {"notification_id", "event_id", "event_type", "case_id", "org", "channel", "to",
                 "kind", "subject", "body", "template", "template_version", "attempt", "sent_at"}

SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def accepted(provider: Provider, notification_id: str) -> bool:
    """Whether the provider's look-up says it accepted ``notification_id``."""
    found: LookupResult | None = provider.lookup(notification_id, SINCE)
    return found is not None and found.accepted


def message(notification_id: str = "n-1", *, channel: str = "sms", to: str = "010-1234-5678",
            **extra: Any) -> Message:
    fields: dict[str, Any] = {
        "notification_id": notification_id, "event_id": "ev-1", "event_type": "case.received",
        "case_id": "2026-0001234", "org": "gumi", "channel": channel, "to": to,
        "body": "[구미시] 홍길동님 민원이 접수되었습니다.", "kind": "SMS",
        "template": f"case.received/{channel}.j2", "template_version": "abc123", "attempt": 2,
        "sender": "0544802114",
    }
    fields.update(extra)
    return Message(**fields)


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.fixture
def provider(tmp_path: Path) -> Any:
    p = OutboxProvider({"dir": str(tmp_path / "out")}, channel="sms")
    yield p
    p.close()


def test_a_send_writes_one_record_with_every_field(provider: OutboxProvider,
                                                   tmp_path: Path) -> None:
    # When a message is sent
    receipt = provider.send(message())
    # Then one line in <dir>/sms.jsonl holds it, with every field DESIGN.md lists
    assert receipt == Receipt("outbox", "n-1")
    (record,) = records(tmp_path / "out" / "sms.jsonl")
    assert set(record) >= DESIGN_FIELDS
    assert record["notification_id"] == "n-1"
    assert (record["event_id"], record["event_type"], record["case_id"], record["org"]) == (
        "ev-1", "case.received", "2026-0001234", "gumi")
    assert (record["channel"], record["to"], record["kind"]) == ("sms", "010-1234-5678", "SMS")
    assert record["subject"] is None
    assert record["body"] == "[구미시] 홍길동님 민원이 접수되었습니다."
    assert (record["template"], record["template_version"], record["attempt"]) == (
        "case.received/sms.j2", "abc123", 2)
    assert datetime.fromisoformat(record["sent_at"]).tzinfo is not None
    # And the Korean text is written as text, not escapes
    assert "홍길동" in (tmp_path / "out" / "sms.jsonl").read_text("utf-8")


def test_an_email_keeps_its_subject_and_html(tmp_path: Path) -> None:
    p = OutboxProvider({"dir": str(tmp_path)}, channel="email")
    try:
        p.send(message(channel="email", to="hong@example.kr", kind=None,
                       subject="[구미시] 민원 접수", html="<p>접수</p>"))
    finally:
        p.close()
    (record,) = records(tmp_path / "email.jsonl")
    assert (record["subject"], record["html"], record["kind"]) == (
        "[구미시] 민원 접수", "<p>접수</p>", None)


def test_records_are_appended_one_per_line(provider: OutboxProvider, tmp_path: Path) -> None:
    for i in range(3):
        provider.send(message(f"n-{i}"))
    assert [r["notification_id"] for r in records(tmp_path / "out" / "sms.jsonl")] == [
        "n-0", "n-1", "n-2"]


def test_concurrent_sends_never_tear_a_line(provider: OutboxProvider, tmp_path: Path) -> None:
    # Given 8 threads sending 50 messages each, long bodies
    def send(t: int) -> None:
        for i in range(50):
            provider.send(message(f"n-{t}-{i}", body="가" * 500))

    threads = [threading.Thread(target=send, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then every line is one whole record
    ids = [r["notification_id"] for r in records(tmp_path / "out" / "sms.jsonl")]
    assert len(ids) == 400 == len(set(ids))


def test_a_record_written_by_another_instance_is_found(tmp_path: Path) -> None:
    # Given one provider (say, a worker process that died) that wrote a notice
    writer = OutboxProvider({"dir": str(tmp_path)}, channel="sms")
    reader = OutboxProvider({"dir": str(tmp_path)}, channel="sms")
    try:
        assert not accepted(reader, "n-1")
        writer.send(message("n-1"))
        # When another instance looks it up
        found = reader.lookup("n-1", SINCE)
        # Then it is found, and a notice never sent is not
        assert found == LookupResult(True, "outbox", "n-1")
        assert not accepted(reader, "n-2")
        # And what is written later is found too
        writer.send(message("n-2"))
        assert reader.lookup("n-2", SINCE) == LookupResult(True, "outbox", "n-2")
    finally:
        writer.close()
        reader.close()


def test_a_torn_last_line_is_read_once_it_is_whole(tmp_path: Path) -> None:
    # Given a file whose last line is being written
    path = tmp_path / "sms.jsonl"
    whole = json.dumps({"notification_id": "n-1"}) + "\n"
    torn = json.dumps({"notification_id": "n-2"})
    path.write_text(whole + torn[:10], "utf-8")
    reader = OutboxProvider({"dir": str(tmp_path)}, channel="sms")
    try:
        assert accepted(reader, "n-1")
        assert not accepted(reader, "n-2")
        # When the line is finished
        with path.open("a", encoding="utf-8") as fh:
            fh.write(torn[10:] + "\n")
        # Then it is found
        assert accepted(reader, "n-2")
    finally:
        reader.close()


def test_a_garbage_line_does_not_stop_look_ups(tmp_path: Path) -> None:
    (tmp_path / "sms.jsonl").write_text(
        'not json\n{"no_id": 1}\n{"notification_id": "n-3"}\n', "utf-8")
    reader = OutboxProvider({"dir": str(tmp_path)}, channel="sms")
    try:
        assert accepted(reader, "n-3")
    finally:
        reader.close()


@pytest.mark.parametrize(
    ("to", "error"),
    [
        ("010-0000-2000", PermanentError),
        ("010-0000-3000", TransientError),
        ("010-0000-1001", TransientError),
    ],
)
def test_a_reserved_failing_recipient_writes_nothing(
    provider: OutboxProvider, tmp_path: Path, to: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        provider.send(message(to=to))
    assert info.value.provider == "outbox"  # type: ignore[attr-defined]
    path = tmp_path / "out" / "sms.jsonl"
    assert not path.exists() or path.read_text("utf-8") == ""
    assert not accepted(provider, "n-1")


def test_a_recipient_failing_once_is_written_on_the_second_try(provider: OutboxProvider,
                                                               tmp_path: Path) -> None:
    with pytest.raises(TransientError):
        provider.send(message(to="010-0000-1001"))
    provider.send(message(to="010-0000-1001", attempt=2))
    (record,) = records(tmp_path / "out" / "sms.jsonl")
    assert record["attempt"] == 2


@pytest.mark.parametrize("channel", ["sms", "email", "push"])
def test_every_channel_has_the_outbox(channel: str, tmp_path: Path) -> None:
    p = load_provider(channel, "outbox", {"dir": str(tmp_path)})
    try:
        assert isinstance(p, OutboxProvider)
        assert p.path == tmp_path / f"{channel}.jsonl"
    finally:
        p.close()


def test_the_folder_is_created(tmp_path: Path) -> None:
    p = OutboxProvider({"dir": str(tmp_path / "a" / "b")}, channel="push")
    p.close()
    assert (tmp_path / "a" / "b").is_dir()
