"""CloudEvents over AMQP: reading an event in structured or in binary content mode.

* **structured**: the body is the whole event as JSON; the message's content type is
  ``application/cloudevents+json`` (or absent: the hub's first producers set none).
* **binary**: the attributes travel as message headers (``ce-id``, ``ce-type``, ...; also
  the AMQP binding's ``cloudEvents:``/``cloudEvents_`` and Kafka's ``ce_`` prefixes), the
  body is ``data`` alone and the message's content type is the data's
  (``datacontenttype``), here ``application/json``.

A message is read in binary mode when its content type is not a CloudEvents one and it
carries a ``specversion`` header; otherwise in structured mode. Either way the event
meets the same checks (size, UTF-8, JSON bounds, the schema) and a rejection names the
mode it was read in (``binary mode: data: must contain ['citizen'] properties``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from hub.events import (
    DEFAULT_MAX_BYTES,
    CaseEvent,
    EventRejected,
    event_from_object,
    read_json,
)

Mode = Literal["structured", "binary"]

#: Header prefixes of CloudEvents attributes, lower-cased (compared case-insensitively).
PREFIXES: tuple[str, ...] = ("ce-", "ce_", "cloudevents:", "cloudevents_")
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
#: Media types whose data the hub reads in binary mode (parameters such as charset aside).
JSON_TYPES: tuple[str, ...] = ("application/json",)
_NAME = re.compile(r"[a-z0-9]{1,20}")
_MAX_ATTRIBUTE = 1000  # characters; the schema bounds the known ones more tightly
MAX_ATTRIBUTES = 50  # an event has about ten; more is a mistake or an attack


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _attribute_name(header: str) -> str | None:
    lowered = header.lower()
    for prefix in PREFIXES:
        if lowered.startswith(prefix):
            return lowered[len(prefix):]
    return None


def message_mode(headers: Mapping[str, Any], content_type: str | None) -> Mode:
    """Which content mode a message is in (see the module's doc)."""
    if _media_type(content_type).startswith("application/cloudevents"):
        return "structured"
    if any(_attribute_name(str(k)) == "specversion" for k in headers):
        return "binary"
    return "structured"


def binary_id(headers: Mapping[str, Any]) -> str | None:
    """The ``id`` attribute among the headers when it is a string (for a rejection)."""
    for header, value in headers.items():
        if _attribute_name(str(header)) == "id" and isinstance(value, str):
            return value
    return None


def _attribute_value(header: str, value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise EventRejected("not_utf8", f"header {header}: not UTF-8") from None
    elif isinstance(value, datetime):  # an AMQP timestamp (the binding allows it for time)
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    elif isinstance(value, bool) or not isinstance(value, str | int):
        raise EventRejected("invalid", f"header {header}: must be a string, "
                            f"not {type(value).__name__}")
    elif isinstance(value, int):
        value = str(value)
    if len(value) > _MAX_ATTRIBUTE:
        raise EventRejected("invalid", f"header {header}: longer than {_MAX_ATTRIBUTE} "
                            "characters")
    return value


def binary_attributes(headers: Mapping[str, Any]) -> dict[str, str]:
    """The CloudEvents attributes among a message's headers; other headers are ignored."""
    attributes: dict[str, str] = {}
    for header, value in headers.items():
        name = _attribute_name(str(header))
        if name is None:
            continue
        if not _NAME.fullmatch(name) or name == "data":
            raise EventRejected("invalid", f"header {str(header)[:60]!r}: not a CloudEvents "
                                "attribute name (lower-case letters and digits)")
        if name in attributes:
            raise EventRejected("invalid", f"attribute {name} given by two headers")
        if len(attributes) >= MAX_ATTRIBUTES:
            raise EventRejected("invalid", f"more than {MAX_ATTRIBUTES} CloudEvents headers")
        attributes[name] = _attribute_value(str(header), value)
    return attributes


def _read_binary(body: bytes, headers: Mapping[str, Any], content_type: str | None,
                 max_bytes: int) -> CaseEvent:
    media = _media_type(content_type)
    if media and media not in JSON_TYPES:
        raise EventRejected("invalid", f"content_type {content_type!r}: the data must be "
                            f"JSON ({', '.join(JSON_TYPES)})")
    attributes = binary_attributes(headers)
    if "datacontenttype" in attributes:  # the content type is the data's, in this mode
        raise EventRejected("invalid", "datacontenttype: give it as the message's "
                            "content_type in binary mode, not as a header")
    data = read_json(body, max_bytes=max_bytes)
    event: dict[str, Any] = dict(attributes)
    if content_type:
        event["datacontenttype"] = content_type.strip()
    event["data"] = data
    return event_from_object(event)


def read_event(body: bytes, headers: Mapping[str, Any] | None = None,
               content_type: str | None = None, *,
               max_bytes: int = DEFAULT_MAX_BYTES) -> CaseEvent:
    """The event a message carries, in whichever mode; raise :class:`EventRejected`
    whose reason starts with the mode read (``structured mode: ...``)."""
    headers = headers or {}
    mode = message_mode(headers, content_type)
    try:
        if mode == "binary":
            return _read_binary(body, headers, content_type, max_bytes)
        media = _media_type(content_type)
        if media == BATCH_CONTENT_TYPE:
            raise EventRejected("invalid", f"content_type {BATCH_CONTENT_TYPE}: batches are "
                                "not accepted; publish one event per message")
        return event_from_object(read_json(body, max_bytes=max_bytes))
    except EventRejected as exc:
        raise EventRejected(exc.code, f"{mode} mode: {exc.reason}") from None
