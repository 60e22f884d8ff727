"""The contract: the event and status-event JSON Schemas, and validation with precise reasons.

The schemas are the files of ``minwon-hub`` itself (``hub/schemas/``), shipped in this
package: what the client checks is what the hub checks. :func:`validate` raises
:class:`InvalidEvent` whose ``code`` is a short reason code and whose ``reason`` names the
field (``data.case: must contain ['officer'] properties``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

__all__ = ["EVENT_TYPES", "InvalidEvent", "event_schema", "status_schema", "validate"]


class InvalidEvent(ValueError):
    """An event that does not meet the contract. ``code``: ``not_an_object``,
    ``unknown_type`` or ``invalid``; ``reason``: the field and what is wrong."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@cache
def schema_text(name: str = "event") -> str:
    """The text of ``<name>.schema.json`` (``event`` or ``status``) as published."""
    return resources.files(__package__).joinpath(f"schemas/{name}.schema.json").read_text("utf-8")


def event_schema() -> dict[str, Any]:
    """The case-event JSON Schema, as a fresh dict."""
    loaded: dict[str, Any] = json.loads(schema_text("event"))
    return loaded


def status_schema() -> dict[str, Any]:
    """The JSON Schema of the status events on ``minwon.notifications``, as a fresh dict."""
    loaded: dict[str, Any] = json.loads(schema_text("status"))
    return loaded


def _applies(branch: Mapping[str, Any], event_type: str) -> bool:
    cond = branch.get("if", {}).get("properties", {}).get("type", {})
    if "const" in cond:
        return bool(cond["const"] == event_type)
    return event_type in cond.get("enum", ())


def type_branches(schema: Mapping[str, Any], event_type: str) -> list[dict[str, Any]]:
    """The ``then`` parts of the schema's per-type branches that apply to ``event_type``."""
    return [b["then"] for b in schema.get("allOf", ()) if _applies(b, event_type)]


#: Every event type of the contract, in the schema's order.
EVENT_TYPES: tuple[str, ...] = tuple(event_schema()["properties"]["type"]["enum"])


def _is_datetime(value: str) -> bool:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None  # RFC 3339 demands an offset


@cache
def _validator(event_type: str) -> Any:
    """A compiled validator specialised for ``event_type`` ("" for none known).

    The schema states per-type requirements as ``if``/``then`` branches, which a
    validator evaluates (and fails) one by one for every event. Specialising keeps
    only the branches that apply, so the common path costs a fraction."""
    schema = event_schema()
    branches = type_branches(schema, event_type)
    schema.pop("allOf", None)
    if branches:
        schema["allOf"] = branches
    return fastjsonschema.compile(schema, formats={"date-time": _is_datetime})


def _field(name: str) -> str:
    # fastjsonschema names the root "data": "data.data.case" -> "data.case"
    if name == "data":
        return "(event)"
    return name[5:] if name.startswith("data.") else name


def validate(event: Any) -> None:
    """Raise :class:`InvalidEvent` unless ``event`` (a structured CloudEvent as a dict)
    meets the contract."""
    if not isinstance(event, dict):
        raise InvalidEvent(
            "not_an_object", f"the event must be a JSON object, not {type(event).__name__}"
        )
    etype = event.get("type")
    if isinstance(etype, str) and etype not in EVENT_TYPES:
        raise InvalidEvent(
            "unknown_type", f"type: {etype!r} is not a known event type ({', '.join(EVENT_TYPES)})"
        )
    try:
        # no known type: the common checks only (no per-type branch applies)
        _validator(etype if etype in EVENT_TYPES else "")(event)
    except fastjsonschema.JsonSchemaValueException as exc:
        name = exc.name or "data"
        what = exc.message
        if what.startswith(name + " "):
            what = what[len(name) + 1 :]
        raise InvalidEvent("invalid", f"{_field(name)}: {what}") from None
