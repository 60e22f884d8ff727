"""What the producer puts on the wire (encode), and how `publish` reads its files
(read_events). Publishing itself is covered by the pipeline tests."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from hub.producer import BatchResult, KombuProducer, encode, open_producer
from hub.publish_files import read_events

EVENT = {"specversion": "1.0", "id": "ev-1", "source": "/gumi/yescall", "type": "case.received",
         "data": {"org": "gumi", "case": {"title": "도로 파손"}}}


@pytest.mark.parametrize(
    ("event", "key", "event_id"),
    [
        (EVENT, "case.received", "ev-1"),
        ({"id": "ev-2", "type": "case.answered"}, "case.answered", "ev-2"),
        ({"id": "ev-3"}, "invalid", "ev-3"),  # no type: the router rejects it
        ({"type": ""}, "invalid", None),
        ({"type": 5, "id": 7}, "invalid", None),
        ({"type": "x" * 300, "id": "ev-4"}, "x" * 255, "ev-4"),  # AMQP caps keys at 255
        (json.dumps(EVENT).encode(), "case.received", "ev-1"),
        (b'{"id": "ev-5", "type": "case.progress"}', "case.progress", "ev-5"),
        (b"not json at all", "invalid", None),
        (b"\xff\xfe", "invalid", None),
        (b"[1, 2, 3]", "invalid", None),
        (bytearray(b'{"id": "ev-6", "type": "survey.requested"}'), "survey.requested", "ev-6"),
    ],
)
def test_encode_gives_body_routing_key_and_id(event: Any, key: str,
                                              event_id: str | None) -> None:
    body, routing_key, eid = encode(event)
    assert (routing_key, eid) == (key, event_id)
    if isinstance(event, bytes | bytearray):
        assert body == bytes(event)  # raw bytes go out exactly as given
    else:
        assert json.loads(body) == event


def test_encode_keeps_korean_as_utf8() -> None:
    body, _, _ = encode(EVENT)
    assert "도로 파손".encode() in body
    assert b" " not in body.replace("도로 파손".encode(), b"")  # compact separators


@pytest.mark.parametrize(
    ("result", "ok"),
    [
        (BatchResult(published=2, confirmed=2), True),
        (BatchResult(published=2, confirmed=1), False),
        (BatchResult(published=2, confirmed=2, failed=[("ev-1", "nacked")]), False),
        (BatchResult(), True),
    ],
)
def test_a_batch_is_ok_only_when_all_confirmed(result: BatchResult, ok: bool) -> None:
    assert result.ok is ok


def test_open_producer_picks_kombu_for_memory() -> None:
    with open_producer("memory://") as producer:
        assert isinstance(producer, KombuProducer)
        result = producer.publish_batch([])
    assert result == BatchResult()


def write(tmp_path: Path, data: bytes, name: str = "events.json") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


ONE = {"id": "ev-1", "type": "case.received"}
TWO = {"id": "ev-2", "type": "case.answered", "data": {"note": "답변"}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # one JSON object, pretty-printed: one event, as written
        (json.dumps(ONE, indent=2).encode(), [ONE]),
        # a JSON array: each element
        (json.dumps([ONE, TWO], ensure_ascii=False).encode(), [ONE, TWO]),
        (json.dumps([ONE, TWO], indent=2, ensure_ascii=False).encode(), [ONE, TWO]),
        # JSON lines, blank lines and CRLF tolerated
        ((json.dumps(ONE) + "\n\n" + json.dumps(TWO, ensure_ascii=False) + "\r\n").encode(),
         [ONE, TWO]),
        # nothing at all
        (b"", []),
        (b"  \n\n", []),
        (b"[]", []),
    ],
)
def test_read_events(tmp_path: Path, data: bytes, expected: list[Any]) -> None:
    events = list(read_events(write(tmp_path, data)))
    assert [json.loads(e) for e in events] == expected
    assert all(isinstance(e, bytes) for e in events)


def test_a_single_object_is_passed_on_byte_for_byte(tmp_path: Path) -> None:
    data = json.dumps(TWO, indent=2, ensure_ascii=False).encode()
    assert list(read_events(write(tmp_path, b"\n" + data + b"\n"))) == [data]


def test_a_garbage_line_is_passed_on_for_the_router_to_reject(tmp_path: Path) -> None:
    # Given JSON lines with one line that is not JSON
    data = (json.dumps(ONE) + "\nthis is not json\n" + json.dumps(TWO) + "\n").encode()
    # When the file is read
    events = list(read_events(write(tmp_path, data)))
    # Then nothing is skipped: the bad line goes out as it is, between the others
    assert events == [json.dumps(ONE).encode(), b"this is not json", json.dumps(TWO).encode()]


def test_a_json_scalar_is_passed_on(tmp_path: Path) -> None:
    assert list(read_events(write(tmp_path, b"42\n"))) == [b"42"]


def test_standard_input_is_read_for_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BytesIO((json.dumps(ONE) + "\n" + json.dumps(TWO) + "\n").encode())

    monkeypatch.setattr("sys.stdin", Stdin())
    assert [json.loads(e)["id"] for e in read_events("-")] == ["ev-1", "ev-2"]


def test_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        list(read_events(str(tmp_path / "nope.json")))


BOM = b"\xef\xbb\xbf"  # what Windows editors (메모장) put before UTF-8 text


@pytest.mark.parametrize(
    "data",
    [
        BOM + json.dumps(TWO, indent=2, ensure_ascii=False).encode(),
        BOM + (json.dumps(ONE) + "\n" + json.dumps(TWO) + "\n").encode(),
    ],
    ids=["object", "json-lines"],
)
def test_a_byte_order_mark_is_not_passed_on(tmp_path: Path, data: bytes) -> None:
    # When a file saved with a byte-order mark is read
    events = list(read_events(write(tmp_path, data)))
    # Then every event decodes the way the router decodes it (UTF-8, then JSON)
    assert [json.loads(e.decode("utf-8"))["id"] for e in events][-1] == "ev-2"
