"""The local record of accepted message ids (channels/sentrecord.py)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from channels.sentrecord import SentRecord


def test_an_id_added_by_one_instance_is_found_by_another(tmp_path: Path) -> None:
    # Given a record written by a worker that then died
    SentRecord(tmp_path / "r" / "sens.jsonl").add("notice-1", "RSSA-1")
    # When the replacement's provider reads the same file
    found = SentRecord(tmp_path / "r" / "sens.jsonl").find("notice-1")
    # Then it finds the provider's id, and nothing for another notice
    assert found == "RSSA-1"
    assert SentRecord(tmp_path / "r" / "sens.jsonl").find("notice-2") is None


def test_no_folder_is_made_until_something_is_recorded(tmp_path: Path) -> None:
    record = SentRecord(tmp_path / "nowhere" / "smtp.jsonl")
    assert record.find("x") is None
    assert not (tmp_path / "nowhere").exists()


def test_reads_only_what_was_appended_and_survives_torn_lines_and_truncation(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ses.jsonl"
    reader, writer = SentRecord(path), SentRecord(path)
    writer.add("a", "1")
    assert reader.find("a") == "1"
    with path.open("ab") as fh:  # a line another process is still writing
        fh.write(b'{"n": "b", "id": "2", "t": "')
    assert reader.find("b") is None
    with path.open("ab") as fh:
        fh.write(datetime.now(UTC).isoformat().encode() + b'"}\n')
    assert reader.find("b") == "2"
    path.write_bytes(b"")  # copytruncate rotation
    writer.add("c", "3")
    assert reader.find("c") == "3"
    assert reader.find("a") == "1"  # still known from before the rotation


def test_garbage_lines_are_skipped_and_old_entries_ignored(tmp_path: Path) -> None:
    path = tmp_path / "smtp.jsonl"
    old = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    path.write_text(
        "not json\n" + json.dumps({"n": "old", "id": "0", "t": old}) + "\n"
        + '{"n": "x"}\n' + "\x00\n", encoding="utf-8",
    )
    record = SentRecord(path)
    assert record.find("old") is None
    record.add("new", "9")
    assert record.find("new", since=datetime.now(UTC) - timedelta(minutes=1)) == "9"
    assert record.find("new", since=datetime.now(UTC) + timedelta(hours=1)) is None


def test_concurrent_appends_keep_every_line(tmp_path: Path) -> None:
    path = tmp_path / "sens.jsonl"
    record = SentRecord(path)

    def write(n: int) -> None:
        for i in range(200):
            record.add(f"{n}-{i}", f"id-{n}-{i}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reader = SentRecord(path)
    assert all(reader.find(f"{n}-{i}") == f"id-{n}-{i}" for n in range(4) for i in range(200))


def test_an_unwritable_record_never_fails_the_send_it_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a record folder the worker cannot write (a read-only root filesystem)
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    record = SentRecord(blocked / "sens.jsonl")
    before = REGISTRY.get_sample_value("minwon_sent_record_failures_total") or 0.0
    # When accepted messages are recorded
    record.add("n-1", "RSSA-1")
    record.add("n-2", "RSSA-2")
    # Then nothing raises (the provider did accept them), the failure is counted, logged once
    assert REGISTRY.get_sample_value("minwon_sent_record_failures_total") == before + 2
    assert sum("cannot write the record" in r.getMessage() for r in caplog.records) == 1
    assert record.find("n-1") is None
