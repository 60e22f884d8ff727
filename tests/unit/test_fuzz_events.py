"""Fuzzing event parsing: whatever bytes arrive on ``hub.router``, ``parse_event`` either
returns a :class:`CaseEvent` or raises :class:`EventRejected` (its only documented
error), quickly; and the router turns any event that parses into jobs without
raising anything else (an unexpected exception would crash the consuming loop and
send the message round until the broker's delivery limit)."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.events import CaseEvent, EventRejected, parse_event
from hub.router import Router
from hub.rules import load_rules

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SAMPLES = sorted(TEMPLATES.glob("*/samples/*.json"))
FUZZ = settings(max_examples=150, deadline=timedelta(seconds=1),
                suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=20,
)
_ROUTER: list[Router] = []


def router() -> Router:
    if not _ROUTER:
        _ROUTER.append(Router(load_rules(None),
                              {"sms": "phone", "email": "email", "push": "push_token"},
                              max_event_bytes=256 * 1024))
    return _ROUTER[0]


def sample(index: int) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SAMPLES[index % len(SAMPLES)].read_text("utf-8"))
    return loaded


def parse_or_reject(body: bytes | str) -> CaseEvent | None:
    """parse_event's result, or None when it rejected the body; anything else fails."""
    try:
        return parse_event(body)
    except EventRejected as exc:
        assert exc.code in {"too_large", "not_utf8", "bad_json", "too_deep", "bad_number",
                            "bad_text", "not_an_object", "unknown_type", "invalid"}
        assert exc.reason
        return None


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += paths(value, (*prefix, i))
    return found


def set_path(doc: Any, path: tuple[Any, ...], value: Any, *, delete: bool = False) -> None:
    node = doc
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


def test_the_samples_are_there() -> None:
    assert len(SAMPLES) >= 11


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_parse_or_are_rejected(body: bytes) -> None:
    parse_or_reject(body)


@FUZZ
@given(json_values)
def test_arbitrary_json_documents_parse_or_are_rejected(doc: Any) -> None:
    parse_or_reject(json.dumps(doc).encode())


@FUZZ
@given(st.integers(min_value=0), st.data())
def test_mutated_valid_events_parse_or_are_rejected_and_route(index: int, data: Any) -> None:
    # Given a valid sample event with one value replaced or removed
    event = copy.deepcopy(sample(index))
    path = data.draw(st.sampled_from(paths(event)))
    if data.draw(st.booleans()) and not isinstance(path[-1], int):
        set_path(event, path, None, delete=True)
    else:
        set_path(event, path, data.draw(json_values))
    body = json.dumps(event, ensure_ascii=data.draw(st.booleans())).encode()
    # When it is parsed / Then it is an event or a rejection, nothing else
    parsed = parse_or_reject(body)
    if parsed is not None:
        # and an event that parses is routed without any other exception
        try:
            publishes = router().route(body)
        except EventRejected:
            return
        assert all(p.body for p in publishes)


@FUZZ
@given(st.integers(min_value=0), st.text(max_size=200), st.data())
def test_arbitrary_text_in_any_string_field_parses_or_is_rejected(
        index: int, text: str, data: Any) -> None:
    event = copy.deepcopy(sample(index))
    strings = [p for p in paths(event) if isinstance(_get(event, p), str)]
    path = data.draw(st.sampled_from(strings))
    set_path(event, path, text)
    body = json.dumps(event, ensure_ascii=False).encode()
    if parse_or_reject(body) is not None:
        try:
            router().route(body)
        except EventRejected:
            pass


@FUZZ
@given(st.binary(min_size=1, max_size=64))
def test_invalid_utf8_inside_a_valid_event_is_rejected(junk: bytes) -> None:
    body = json.dumps(sample(0), ensure_ascii=False).encode()
    cut = len(body) // 2
    corrupted = body[:cut] + b"\xff" + junk + body[cut:]
    assert parse_or_reject(corrupted) is None


def test_a_body_over_the_limit_is_rejected_before_parsing() -> None:
    body = b"{" + b" " * (256 * 1024) + b"}"
    try:
        parse_event(body)
    except EventRejected as exc:
        assert exc.code == "too_large"
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("a body over the limit was accepted")


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc
