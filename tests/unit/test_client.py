"""The light client (clients/python, distribution minwon-client): the typed builder, the
contract check, the messages it writes, and that it stays light."""

from __future__ import annotations

import ast
import inspect
import json
import sys
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import minwon_client
from hub.binding import read_event
from hub.catalogue import payload_fields
from hub.events import EventRejected, parse_event
from minwon_client import EVENT_TYPES, CaseEvent, InvalidEvent
from minwon_client.producer import encode_message

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"
BUILDERS = {
    name: method for name, method in inspect.getmembers(CaseEvent, inspect.ismethod)
    if name not in ("create",) and not name.startswith("_")
}


def sample(event_type: str) -> dict[str, Any]:
    path = sorted((ROOT / "templates" / event_type / "samples").glob("*.json"))[0]
    loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return loaded


def builder_type(name: str) -> str:
    return "survey.requested" if name == "survey_requested" else f"case.{name}"


def test_each_builder_makes_its_schema_type_with_that_type_s_payload() -> None:
    assert len(BUILDERS) >= 11
    for name, method in BUILDERS.items():
        event_type = builder_type(name)
        assert event_type in EVENT_TYPES, name
        params = [p for p in inspect.signature(method).parameters
                  if p not in ("common",)]
        assert tuple(params) == payload_fields(event_type), name


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_type_built_from_its_sample_is_what_the_hub_reads(event_type: str) -> None:
    given = sample(event_type)
    data = dict(given["data"])
    name = event_type.removeprefix("case.").replace(".", "_")
    common = {"id": given["id"], "source": given["source"], "time": given.get("time")}
    if name in BUILDERS:
        event = BUILDERS[name](**data, **common)
    else:  # a type without a typed builder yet: by name
        event = CaseEvent.create(event_type, **data, **common)
    event.validate()
    read = parse_event(json.dumps(event.to_dict()).encode())
    assert (read.type, read.id, read.data) == (event_type, given["id"], given["data"])
    assert "time" in read.raw  # now, when not given
    assert read.subject == given["data"]["case"]["id"]


def test_the_builder_fills_id_source_time_subject_and_writes_datetimes_with_their_zone(
) -> None:
    seoul = ZoneInfo("Asia/Seoul")
    case = {**sample("case.received")["data"]["case"],
            "due_at": datetime(2026, 11, 26, 18, 0, tzinfo=seoul)}
    citizen = {"name": "홍길동", "phone": "010-1234-5678"}
    one = CaseEvent.received(org="gumi", case=case, citizen=citizen)  # type: ignore[arg-type]
    two = CaseEvent.received(org="gumi", case=case, citizen=citizen)  # type: ignore[arg-type]
    assert one.id != two.id and len(one.id) == 36
    assert one.source == "/gumi" and one.subject == case["id"]
    assert one.time is not None and datetime.fromisoformat(one.time).tzinfo is not None
    assert one.data["case"]["due_at"] == "2026-11-26T18:00:00+09:00"
    one.validate()
    with pytest.raises(ValueError, match="has no time zone"):
        CaseEvent.received(org="gumi", citizen=citizen,  # type: ignore[arg-type]
                           case={**case, "due_at": datetime(2026, 11, 26, 18, 0)})


def test_validate_says_what_the_hub_would_say() -> None:
    given = sample("case.extended")
    data = dict(given["data"])
    del data["extension"]
    event = CaseEvent.create("case.extended", **data)
    with pytest.raises(InvalidEvent) as client:
        event.validate()
    with pytest.raises(EventRejected) as hub:
        parse_event(json.dumps(event.to_dict()).encode())
    assert (client.value.code, client.value.reason) == (hub.value.code, hub.value.reason) == (
        "invalid", "data: must contain ['extension'] properties")
    with pytest.raises(InvalidEvent, match="unknown_type"):
        CaseEvent.create("case.recieved", **data).validate()


@pytest.mark.parametrize("mode", ["structured", "binary"])
def test_both_modes_carry_the_same_event(mode: str) -> None:
    given = sample("case.assigned")
    event = CaseEvent.assigned(**given["data"], id=given["id"], source=given["source"],
                               time=given["time"])
    message = encode_message(event, mode)  # type: ignore[arg-type]
    assert message.routing_key == "case.assigned" and message.event_id == given["id"]
    read = read_event(message.body, message.headers or {}, message.content_type)
    assert read.raw == {**given, "datacontenttype": "application/json"}
    if mode == "binary":
        assert message.content_type == "application/json"
        assert message.headers and message.headers["ce-type"] == "case.assigned"
        assert json.loads(message.body) == given["data"]
    else:
        assert message.content_type == "application/cloudevents+json"


def test_encode_message_checks_only_when_asked() -> None:
    assert encode_message(b"{not json").routing_key == "invalid"
    with pytest.raises(InvalidEvent) as info:
        encode_message(b"{not json", check=True)
    assert info.value.code == "not_an_object"
    with pytest.raises(InvalidEvent):
        encode_message({"type": "case.received"}, check=True)


# -- light -----------------------------------------------------------------------------------

def test_the_client_depends_on_pika_and_fastjsonschema_only() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text("utf-8"))["project"]
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower()
             for d in project["dependencies"]}
    assert names == {"pika", "fastjsonschema"}
    assert project["optional-dependencies"] == {"asyncio": ["aio-pika>=9.4"]}
    assert project["name"] == "minwon-client"


def test_the_client_imports_nothing_of_the_hub() -> None:
    allowed = {"minwon_client", "pika", "fastjsonschema", "aio_pika", "aiormq", "__future__"}
    for path in (CLIENT / "minwon_client").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top in sys.stdlib_module_names, (path.name, name)


def test_the_client_ships_the_hub_s_schema_files() -> None:
    shipped = CLIENT / "minwon_client" / "schemas"
    assert shipped.is_symlink() and shipped.resolve() == (ROOT / "hub" / "schemas").resolve()
    from minwon_client.schema import schema_text

    for name in ("event", "status"):
        assert schema_text(name) == (ROOT / "hub/schemas" / f"{name}.schema.json").read_text(
            "utf-8")


def test_the_hub_publishes_with_the_client_s_code() -> None:
    from hub import producer, topology

    assert producer.PikaProducer is minwon_client.PikaProducer
    assert producer.encode is minwon_client.producer.encode
    assert topology.EVENTS_EXCHANGE == minwon_client.EVENTS_EXCHANGE
