"""Fuzzing template rendering: whatever an event's data holds (arbitrary text, Jinja
syntax, control characters, emoji, odd types, missing fields), every shipped template
either renders or raises :class:`TemplateError` (the worker parks the notice), and
does so quickly: never another exception, never a hang."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.templates import Rendered, TemplateError, TemplateStore, context_from_event
from hub.templates.context import sample_recipients

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SAMPLES = sorted(TEMPLATES.glob("*/samples/*.json"))
CHANNELS = ("sms", "email", "push")
ORG = {"key": "gumi", "name": "구미시", "callcenter": "054-480-2114",
       "internal_unit": "민원여권과", "internal_phone": "054-480-6000",
       "url": "https://www.gumi.go.kr", "sms_sender": "0544802114",
       "email_from": "minwon@gumi.example.kr"}
FUZZ = settings(max_examples=150, deadline=timedelta(seconds=1),
                suppress_health_check=[HealthCheck.too_slow])

#: Text an attacker or a clumsy upstream system might put in a field.
nasty_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from([
        "{{ 7 * 7 }}", "{% for x in range(10**9) %}x{% endfor %}", "{{ ''.__class__ }}",
        "{{ config }}", "<script>alert(1)</script>", "\x00\x01\x1b[31m", "😀₩–똠햏뷁",
        "가" * 5000, "\u202e\u200b", "%s%s%n", "${jndi:ldap://x}", "",
        "2026-13-45T99:99:99+09:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00",
    ]),
)
scalars = st.none() | st.booleans() | st.integers() | \
    st.floats(allow_nan=True, allow_infinity=True) | nasty_text
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_STORE: list[TemplateStore] = []


def store() -> TemplateStore:
    if not _STORE:
        _STORE.append(TemplateStore(TEMPLATES, {"gumi": ORG}, reload_interval=0))
    return _STORE[0]


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += paths(value, (*prefix, i))
    return found


def render_or_error(event: dict[str, Any], channel: str) -> list[Rendered]:
    """Render ``event`` for each of its sample recipients on ``channel``; a TemplateError
    is an allowed answer, any other exception fails the test."""
    out = []
    recipients = sample_recipients(event, channel) or [{"name": "홍길동", "role": "citizen"}]
    for recipient in recipients:
        context = context_from_event(event, recipient, ORG)
        try:
            rendered = store().render(str(event.get("type")), channel, "gumi", context)
        except TemplateError as exc:
            assert exc.reason
            continue
        assert isinstance(rendered.body, str) and rendered.body
        out.append(rendered)
    return out


def test_every_sample_renders_on_every_channel_it_has() -> None:
    # The baseline the fuzzing starts from: the untouched samples render.
    rendered = 0
    for path in SAMPLES:
        event = json.loads(path.read_text("utf-8"))
        for channel in CHANNELS:
            if (TEMPLATES / event["type"] / f"{channel}.j2").exists():
                rendered += len(render_or_error(event, channel))
    assert rendered >= len(SAMPLES)


@FUZZ
@given(st.sampled_from(SAMPLES), st.sampled_from(CHANNELS), nasty_text, st.data())
def test_arbitrary_text_in_a_data_field_renders_or_raises_template_error(
        sample: Path, channel: str, text: str, data: Any) -> None:
    # Given a sample event whose string fields (one, or all) are replaced by nasty text
    event = json.loads(sample.read_text("utf-8"))
    strings = [p for p in paths(event["data"]) if isinstance(_get(event["data"], p), str)]
    chosen = strings if data.draw(st.booleans()) else [data.draw(st.sampled_from(strings))]
    for path in chosen:
        _set(event["data"], path, text)
    # When rendered / Then it renders, or raises TemplateError; nothing else
    render_or_error(event, channel)


@FUZZ
@given(st.sampled_from(SAMPLES), st.sampled_from(CHANNELS), values, st.data())
def test_any_value_of_any_type_anywhere_renders_or_raises_template_error(
        sample: Path, channel: str, value: Any, data: Any) -> None:
    event = copy.deepcopy(json.loads(sample.read_text("utf-8")))
    path = data.draw(st.sampled_from(paths(event["data"])))
    if data.draw(st.booleans()) and not isinstance(path[-1], int):
        _delete(event["data"], path)
    else:
        _set(event["data"], path, value)
    render_or_error(event, channel)


@FUZZ
@given(st.sampled_from(CHANNELS), st.text(max_size=30), st.text(max_size=30))
def test_unknown_templates_and_organisations_raise_template_error(
        channel: str, template: str, org: str) -> None:
    context = context_from_event(json.loads(SAMPLES[0].read_text("utf-8")),
                                 {"name": "홍길동", "role": "citizen"}, ORG)
    try:
        store().render(template, channel, org, context)
    except TemplateError:
        pass


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(doc, path[:-1])[path[-1]] = value


def _delete(doc: Any, path: tuple[Any, ...]) -> None:
    del _get(doc, path[:-1])[path[-1]]
