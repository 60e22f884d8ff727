"""Case events: CloudEvents 1.0 as JSON, validated with precise reasons.

:func:`parse_event` takes the raw bytes of a structured-mode message (and
:func:`hub.binding.read_event` a message in either content mode) and returns a
:class:`CaseEvent`, or raises :class:`EventRejected` whose ``code`` is a short,
stable reason code (a metric label) and whose ``reason`` names the field and what
was wrong (a header on ``hub.rejected``). The JSON Schema in
``hub/schemas/event.schema.json`` is the contract; upstream systems may validate
against the same file before publishing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.catalogue import EVENT_TYPES, event_schema
from minwon_client import schema as contract

__all__ = [
    "EVENT_TYPES",
    "CaseEvent",
    "EventRejected",
    "event_from_object",
    "parse_event",
    "read_json",
    "schema",
    "validate",
]


DEFAULT_MAX_BYTES = 256 * 1024
CONTENT_TYPE = "application/cloudevents+json"

#: Deepest nesting of objects and arrays an event may have (a real one has 4 or 5).
MAX_DEPTH = 32
#: Most digits an integer may have (JSON interop stops at 2**53; 64-bit ids fit).
MAX_INT_DIGITS = 20

#: Fields that name things (ids, keys, the case id): no control characters at all.
_ID_FIELDS: tuple[tuple[str, ...], ...] = (("id",), ("source",), ("subject",),
                                            ("data", "case", "id"))
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: What no string may hold anywhere: NUL (PostgreSQL refuses it) and lone surrogates
#: (not encodable as UTF-8, so no job could be written).
_BAD_CHAR = re.compile(r"[\x00\ud800-\udfff]")
#: JSON escapes that can produce those characters; without one, no string holds them.
_BAD_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class EventRejected(Exception):
    """An event the hub will not route. ``code`` is one of ``too_large``, ``not_utf8``,
    ``bad_json``, ``too_deep``, ``bad_number``, ``bad_text``, ``not_an_object``,
    ``unknown_type``, ``invalid``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CaseEvent:
    id: str
    type: str
    source: str
    time: str | None
    subject: str | None
    data: Mapping[str, Any]
    raw: Mapping[str, Any]

    @property
    def org(self) -> str:
        return str(self.data["org"])

    @property
    def case_id(self) -> str | None:
        case = self.data.get("case")
        return str(case["id"]) if isinstance(case, Mapping) and "id" in case else self.subject

    def envelope(self) -> dict[str, Any]:
        """The CloudEvents attributes without ``data`` (the template's ``event``)."""
        return {k: v for k, v in self.raw.items() if k != "data"}


def schema() -> dict[str, Any]:
    """The event JSON Schema, as a dict."""
    return event_schema()


def validate(obj: Any) -> None:
    """Raise :class:`EventRejected` unless ``obj`` is a valid case event (the contract's
    own check, :func:`minwon_client.schema.validate`, which upstream clients run too)."""
    try:
        contract.validate(obj)
    except contract.InvalidEvent as exc:
        raise EventRejected(exc.code, exc.reason) from None


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise EventRejected("bad_number", f"a number of {digits} digits "
                            f"(at most {MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise EventRejected("bad_number", f"a number out of range ({len(text)} characters)")
    return value


def _parse_constant(name: str) -> Any:
    raise EventRejected("bad_number", f"{name} is not a JSON number")


def _where(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) or "(event)"


def _check_tree(obj: Any, *, deep: bool, chars: bool) -> None:
    """Walk the document once (iteratively: no recursion to exhaust) for nesting
    deeper than :data:`MAX_DEPTH` and for strings (values or keys) holding NUL or a
    lone surrogate."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(obj, ())]
    while stack:
        node, path = stack.pop()
        if deep and len(path) > MAX_DEPTH:
            raise EventRejected("too_deep", f"nested deeper than {MAX_DEPTH} levels "
                                f"at {_where(path[:3])}...")
        if isinstance(node, dict):
            for key, value in node.items():
                if chars and _BAD_CHAR.search(key):
                    raise EventRejected("bad_text", f"{_where(path)}: a key holds "
                                        "NUL or a lone surrogate")
                stack.append((value, (*path, key)))
        elif isinstance(node, list):
            stack.extend((value, (*path, i)) for i, value in enumerate(node))
        elif chars and isinstance(node, str) and _BAD_CHAR.search(node):
            raise EventRejected("bad_text", f"{_where(path)}: holds NUL or a lone surrogate")


def _check_ids(obj: Mapping[str, Any]) -> None:
    for path in _ID_FIELDS:
        node: Any = obj
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, str) and _CONTROL.search(node):
            raise EventRejected("bad_text", f"{_where(path)}: holds a control character")


def decode_json(text: str) -> Any:
    """JSON text to a document within the hub's bounds; raise :class:`EventRejected`."""
    try:
        obj = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                         parse_constant=_parse_constant)
    except json.JSONDecodeError as exc:
        raise EventRejected(
            "bad_json", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise EventRejected("too_deep", f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # a number Python will not convert
        raise EventRejected("bad_number", f"a number out of range ({exc})"[:200]) from None
    # Cheap screens first: a walk is needed only when brackets or escapes allow harm.
    deep = text.count("{") + text.count("[") > MAX_DEPTH
    chars = _BAD_ESCAPE.search(text) is not None or _BAD_CHAR.search(text) is not None
    if deep or chars:
        _check_tree(obj, deep=deep, chars=chars)
    return obj


def read_json(body: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """A message body as a JSON document within the hub's bounds (size, UTF-8, nesting,
    numbers, characters); raise :class:`EventRejected`."""
    size = len(body) if isinstance(body, bytes) else len(body.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise EventRejected("too_large", f"body is {size} bytes, over the limit of {max_bytes}")
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventRejected(
                "not_utf8", f"body is not UTF-8 (byte {exc.start}: {exc.reason})"
            ) from None
    else:
        text = body
    return decode_json(text)


def event_from_object(obj: Any) -> CaseEvent:
    """Validate a decoded event (attributes and ``data``); raise :class:`EventRejected`."""
    validate(obj)
    _check_ids(obj)
    return CaseEvent(
        id=obj["id"],
        type=obj["type"],
        source=obj["source"],
        time=obj.get("time"),
        subject=obj.get("subject"),
        data=obj["data"],
        raw=obj,
    )


def parse_event(body: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CaseEvent:
    """Decode, parse and validate one event in structured mode (the whole event is the
    body); raise :class:`EventRejected`. :func:`hub.binding.read_event` reads either mode."""
    return event_from_object(read_json(body, max_bytes=max_bytes))
