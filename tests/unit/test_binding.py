"""CloudEvents on minwon.events in both content modes (hub.binding).

The conformance cases are the messages the CloudEvents SDK's RabbitMQ binding writes
(``cloudevents.core.bindings.rabbitmq``): whatever it writes in either mode, the hub
reads as the SDK itself reads it back; what the hub refuses names the mode it read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings import rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from dateutil.parser import isoparse

from hub.binding import message_mode, read_event
from hub.catalogue import EVENT_TYPES, address_fields
from hub.events import MAX_DEPTH, EventRejected, parse_event
from hub.router import Router
from hub.rules import load_rules

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "templates").glob("*/samples/*.json"))


def sample(event_type: str = "case.received") -> dict[str, Any]:
    path = next(p for p in SAMPLES if p.parent.parent.name == event_type)
    loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return loaded


def sdk_event(event: dict[str, Any]) -> CloudEvent:
    attributes = {k: v for k, v in event.items() if k != "data"}
    if "time" in attributes:
        attributes["time"] = isoparse(attributes["time"])
    return CloudEvent(attributes=attributes, data=event["data"])


def binary(event: dict[str, Any]) -> tuple[bytes, dict[str, Any], str | None]:
    data = {**event, "datacontenttype": "application/json"}
    message = rabbitmq.to_binary(sdk_event(data), JSONFormat())
    return message.body, dict(message.headers), message.content_type


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_what_the_sdk_writes_in_either_mode_the_hub_reads_as_the_sdk_does(path: Path) -> None:
    event = json.loads(path.read_text("utf-8"))
    ce = sdk_event(event)
    for message in (rabbitmq.to_binary(ce, JSONFormat()),
                    rabbitmq.to_structured(ce, JSONFormat())):
        read = read_event(message.body, message.headers, message.content_type)
        back = rabbitmq.from_rabbitmq(message, JSONFormat())
        want = {k: v for k, v in back.get_attributes().items() if v is not None}
        got = dict(read.envelope())
        assert isoparse(got.pop("time")) == want.pop("time")
        assert got == want
        assert read.data == back.get_data() == event["data"]
        assert (read.id, read.type, read.source) == (event["id"], event["type"], event["source"])


def test_the_mode_follows_the_content_type_then_the_headers() -> None:
    assert message_mode({}, "application/cloudevents+json") == "structured"
    assert message_mode({"ce-specversion": "1.0"}, "application/cloudevents+json") == "structured"
    assert message_mode({"ce-specversion": "1.0"}, "application/json") == "binary"
    assert message_mode({"CE-SpecVersion": "1.0"}, None) == "binary"
    for prefix in ("ce_", "cloudEvents:", "cloudEvents_"):
        assert message_mode({f"{prefix}specversion": "1.0"}, "application/json") == "binary"
    assert message_mode({"traceparent": "x"}, None) == "structured"  # the hub's first producers
    assert message_mode({}, "application/json") == "structured"


@pytest.mark.parametrize("prefix", ["ce-", "ce_", "cloudEvents:", "cloudEvents_", "CE-"])
def test_binary_mode_under_every_binding_prefix(prefix: str) -> None:
    event = sample("case.extended")
    headers = {f"{prefix}{k}": v for k, v in event.items() if k not in ("data", "datacontenttype")}
    headers["traceparent"] = "00-abc-def-01"  # not an attribute: ignored
    charset = "application/json; charset=utf-8"
    read = read_event(json.dumps(event["data"]).encode(), headers, charset)
    assert read.raw == {**event, "datacontenttype": charset}


def test_binary_mode_reads_typed_header_values() -> None:
    event = sample()
    headers: dict[str, Any] = {f"ce-{k}": v for k, v in event.items()
                               if k not in ("data", "datacontenttype")}
    headers["ce-id"] = event["id"].encode()  # a longstr pika could not decode to str
    headers["ce-time"] = datetime(2026, 11, 24, 6, 0)  # an AMQP timestamp (UTC, naive)
    headers["ce-sequence"] = 42  # an extension attribute as an integer
    read = read_event(json.dumps(event["data"]).encode(), headers, "application/json")
    assert read.id == event["id"]
    assert read.time == "2026-11-24T06:00:00+00:00"
    assert read.envelope()["sequence"] == "42"


def rejected(body: bytes, headers: dict[str, Any], content_type: str | None) -> EventRejected:
    with pytest.raises(EventRejected) as info:
        read_event(body, headers, content_type)
    return info.value


def test_rejections_name_the_mode_read() -> None:
    event = sample()
    body, headers, content_type = binary(event)
    del headers["ce-type"]
    exc = rejected(body, headers, content_type)
    assert exc.code == "invalid"
    assert exc.reason == "binary mode: (event): must contain ['type'] properties"

    _body, headers, _ = binary(event)
    broken = {**event["data"]}
    del broken["citizen"]
    exc = rejected(json.dumps(broken).encode(), headers, "application/json")
    assert exc.reason == "binary mode: data: must contain ['citizen'] properties"

    structured = {**event}
    del structured["data"]["citizen"]
    exc = rejected(json.dumps(structured).encode(), {}, "application/cloudevents+json")
    assert exc.reason == "structured mode: data: must contain ['citizen'] properties"

    exc = rejected(body, {**binary(event)[1], "ce-type": "case.recieved"}, "application/json")
    assert (exc.code, exc.reason.split(":")[0]) == ("unknown_type", "binary mode")


@pytest.mark.parametrize(
    ("change", "content_type", "code", "says"),
    [
        ({"ce-specversion": "0.3"}, "application/json", "invalid", "specversion"),
        ({}, "text/plain", "invalid", "content_type 'text/plain': the data must be JSON"),
        ({}, "application/xml", "invalid", "the data must be JSON"),
        ({"ce_id": "twice"}, "application/json", "invalid", "attribute id given by two headers"),
        ({"ce-Not_A-Name": "x"}, "application/json", "invalid", "not a CloudEvents attribute"),
        ({"ce-data": "x"}, "application/json", "invalid", "not a CloudEvents attribute"),
        ({"ce-datacontenttype": "application/json"}, "application/json", "invalid",
         "give it as the message's content_type"),
        ({"ce-subject": ["a", "list"]}, "application/json", "invalid",
         "header ce-subject: must be a string, not list"),
        ({"ce-subject": None}, "application/json", "invalid", "must be a string, not NoneType"),
        ({"ce-subject": True}, "application/json", "invalid", "must be a string, not bool"),
        ({"ce-source": b"\xff\xfe"}, "application/json", "not_utf8", "header ce-source"),
        ({"ce-subject": "x" * 5000}, "application/json", "invalid", "longer than 1000"),
        ({"ce-id": "ev\x00nul"}, "application/json", "bad_text", "id: holds"),
        ({"ce-time": "yesterday"}, "application/json", "invalid", "time"),
    ],
)
def test_binary_mode_refuses_bad_attributes(
    change: dict[str, Any], content_type: str, code: str, says: str
) -> None:
    body, headers, _ = binary(sample())
    exc = rejected(body, {**headers, **change}, content_type)
    assert exc.code == code
    assert exc.reason.startswith("binary mode: ")
    assert says in exc.reason


def test_the_hub_s_bounds_on_data_hold_in_binary_mode() -> None:
    _body, headers, content_type = binary(sample())
    deep = b'{"org": "gumi", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    exc = rejected(deep, headers, content_type)
    assert (exc.code, exc.reason.split(":")[0]) == ("too_deep", "binary mode")
    assert str(MAX_DEPTH) in exc.reason
    exc = rejected(b'{"org": ' + b"9" * 5000 + b"}", headers, content_type)
    assert exc.code == "bad_number"
    exc = rejected(b'{"org": "\\ud800"}', headers, content_type)
    assert exc.code == "bad_text"
    exc = rejected(b"\xff{}", headers, content_type)
    assert exc.code == "not_utf8"
    exc = rejected(b"[1, 2]", headers, content_type)
    assert exc.reason == "binary mode: data: must be object"
    with pytest.raises(EventRejected) as info:
        read_event(b'{"org": "' + b"a" * 300_000 + b'"}', headers, content_type)
    assert info.value.code == "too_large"


def test_thousands_of_attribute_headers_are_refused_quickly() -> None:
    body, headers, content_type = binary(sample())
    many = {**headers, **{f"ce-x{i}": "v" for i in range(5000)}}
    exc = rejected(body, many, content_type)
    assert exc.reason == "binary mode: more than 50 CloudEvents headers"
    fine = {**headers, **{f"ce-x{i}": "v" for i in range(40)}}  # extensions are kept
    assert read_event(body, fine, content_type).envelope()["x39"] == "v"


def test_a_batch_is_refused_with_a_reason() -> None:
    exc = rejected(b"[]", {}, "application/cloudevents-batch+json")
    assert exc.reason.startswith("structured mode: content_type application/cloudevents-batch")


def test_structured_reading_is_parse_event_for_every_type() -> None:
    for event_type in EVENT_TYPES:
        body = json.dumps(sample(event_type)).encode()
        assert read_event(body, {}, "application/cloudevents+json") == parse_event(body)
        assert read_event(body) == parse_event(body)


def test_the_router_routes_binary_and_keeps_a_rejected_binary_event_replayable() -> None:
    now = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    router = Router(load_rules(), address_fields(), max_event_bytes=256 * 1024,
                    clock=lambda: now)
    event = sample("case.assigned")
    body, headers, content_type = binary(event)
    settled = router.handle_message(body, headers, content_type, 7, False)
    structured = router.handle(json.dumps(event).encode(), {}, 8, False)
    assert [(p.routing_key, json.loads(p.body)["recipient"]["role"]) for p in settled.publishes] \
        == [(p.routing_key, json.loads(p.body)["recipient"]["role"])
            for p in structured.publishes]
    assert {p.routing_key for p in settled.publishes} == {"sms", "email", "push"}

    del headers["ce-source"]
    (kept,) = router.handle_message(body, headers, content_type, 9, False).publishes
    assert kept.routing_key == "hub.rejected"
    assert kept.message_id == event["id"]  # from ce-id: the body is only data
    assert kept.content_type == "application/json"  # as it came, so a replay reads it again
    assert kept.headers["ce-type"] == "case.assigned"
    assert kept.headers["x-hub-reason"].startswith("binary mode: (event): must contain")
