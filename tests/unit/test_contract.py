"""The published contract: the event and status schemas are valid JSON Schemas that document
every field with a description and an example, and the AsyncAPI document is valid (the
official parser) and agrees with the schemas, the topology and the hub's reason codes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
import yaml
from jsonschema import Draft7Validator

from hub import catalogue
from hub.binding import read_event
from hub.jobs import Job, Recipient
from hub.status import status_event
from hub.topology import DEAD_QUEUE, EVENTS_EXCHANGE, REJECTED_QUEUE, STATUS_EXCHANGE
from tests.upstream import NODE_DIR, ROOT, node_modules

SCHEMAS = ROOT / "hub" / "schemas"
ASYNCAPI = ROOT / "docs" / "asyncapi.yaml"


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text("utf-8"))
    return loaded


def fields(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every documented field: each entry of a ``properties`` map, anywhere."""
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            if isinstance(sub, dict):
                yield f"{path}.{name}".lstrip("."), sub
        for key, sub in node.items():
            if key == "properties" and isinstance(sub, dict):
                for name, child in sub.items():
                    yield from fields(child, f"{path}.{name}".lstrip("."))
            elif key in ("then", "definitions", "items") or key == "allOf":
                yield from fields(sub, path if key != "definitions" else "#")
            elif isinstance(sub, dict) and key not in ("properties", "if"):
                yield from fields(sub, path)
    elif isinstance(node, list):
        for item in node:
            yield from fields(item, path)


@pytest.mark.parametrize("name", ["event.schema.json", "status.schema.json"])
def test_the_schemas_are_valid_json_schemas_with_a_real_id(name: str) -> None:
    schema = load(name)
    Draft7Validator.check_schema(schema)
    assert schema["$id"].startswith("urn:minwon-hub:schema:")
    assert "example" not in schema["$id"]
    assert schema["description"]


FIELD_KEYS = ("type", "$ref", "enum", "const", "allOf")


@pytest.mark.parametrize("name", ["event.schema.json", "status.schema.json"])
def test_every_field_is_described_with_an_example_that_fits_it(name: str) -> None:
    schema = load(name)
    documented = [(path, sub) for path, sub in fields(schema)
                  if any(k in sub for k in FIELD_KEYS)]
    assert len(documented) > 20
    missing = [path for path, sub in documented
               if not sub.get("description") or "examples" not in sub]
    assert missing == []
    for _path, sub in documented:
        check = fastjsonschema.compile({**sub, "definitions": schema.get("definitions", {})},
                                       formats={"date-time": lambda v: "T" in v})
        for example in sub["examples"]:
            check(example)


def test_every_event_type_has_its_payload_described() -> None:
    schema = load("event.schema.json")
    for event_type in catalogue.EVENT_TYPES:
        branches = catalogue.type_branches(schema, event_type)
        for branch in branches:
            assert branch.get("description"), event_type
        for key in catalogue.payload_fields(event_type)[3 if "citizen" in
                                                        catalogue.payload_fields(event_type)
                                                        else 2:]:
            node = next(b["properties"]["data"]["properties"][key] for b in branches
                        if key in b["properties"]["data"].get("properties", {}))
            assert node["description"] and node["examples"], (event_type, key)


def test_the_event_schema_examples_are_valid_events() -> None:
    from minwon_client.schema import validate

    examples = load("event.schema.json")["examples"]
    assert examples
    for example in examples:
        validate(example)
        read_event(json.dumps(example).encode())


def job() -> Job:
    return Job(notification_id="n-1", event_id="ev-1", event_type="case.answered",
               case_id="2026-0001234", org="gumi", channel="sms", template="case.answered",
               critical=False,
               recipient=Recipient(role="citizen", key="citizen", name="홍길동",
                                   address="010-1234-5678", fields={}),
               event={}, data={}, rule="case.answered:citizen")


@pytest.mark.parametrize("status", ["sent", "failed", "deferred", "dead", "skipped"])
def test_the_status_events_the_hub_publishes_meet_their_schema(status: str) -> None:
    validate = fastjsonschema.compile(load("status.schema.json"))
    publish = status_event(job(), status, attempt=2, provider="nhn", reason="r",
                           retry_at="2026-11-24T06:10:00+00:00",
                           now=datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    event = json.loads(publish.body)
    validate(event)
    assert event["type"] == publish.routing_key == f"notification.{status}"
    assert event["data"]["recipient"]["address"] != "010-1234-5678"  # masked
    for example in load("status.schema.json")["examples"]:
        validate(example)


# -- AsyncAPI -----------------------------------------------------------------------------------

def asyncapi() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_text("utf-8"))
    return loaded


def test_the_asyncapi_document_is_valid_for_the_official_parser() -> None:
    node_modules()
    done = subprocess.run(["node", "check-asyncapi.mjs", str(ASYNCAPI)], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid: AsyncAPI 3.0.0, 4 channels, 4 operations, 5 messages" in done.stdout


def test_the_asyncapi_document_is_broken_by_a_broken_reference(tmp_path: Path) -> None:
    node_modules()
    docs = tmp_path / "docs"
    docs.mkdir()
    (tmp_path / "hub").symlink_to(ROOT / "hub")
    text = ASYNCAPI.read_text("utf-8").replace("status.schema.json", "no-such.schema.json")
    (docs / "asyncapi.yaml").write_text(text, "utf-8")
    done = subprocess.run(["node", "check-asyncapi.mjs", str(docs / "asyncapi.yaml")],
                          cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "INVALID" in done.stdout


def test_the_asyncapi_addresses_are_the_hub_s_topology() -> None:
    channels = asyncapi()["channels"]
    assert {c["address"] for c in channels.values()} == {
        EVENTS_EXCHANGE, STATUS_EXCHANGE, REJECTED_QUEUE, DEAD_QUEUE}


def test_the_asyncapi_rejection_codes_are_the_hub_s() -> None:
    from hub import events

    doc = events.EventRejected.__doc__ or ""
    codes = asyncapi()["components"]["schemas"]["rejectedHeaders"]["properties"][
        "x-hub-reason-code"]["enum"]
    for code in codes:
        assert code == "internal" or f"``{code}``" in doc, code


def test_the_asyncapi_examples_are_read_by_the_hub_in_their_mode() -> None:
    messages = asyncapi()["components"]["messages"]
    (structured,) = messages["caseEventStructured"]["examples"]
    event = read_event(json.dumps(structured["payload"]).encode(), {},
                       messages["caseEventStructured"]["contentType"])
    assert event.type == "case.answered"
    (binary,) = messages["caseEventBinary"]["examples"]
    event = read_event(json.dumps(binary["payload"]).encode(), binary["headers"],
                       messages["caseEventBinary"]["contentType"])
    assert event.type == "case.received"
    assert catalogue.EVENT_TYPES  # the examples' types are the schema's
    headers = fastjsonschema.compile(asyncapi()["components"]["schemas"]["binaryModeHeaders"])
    headers(binary["headers"])
