"""Case events: every type's minimal event parses; every kind of bad input is rejected
with a stable code and a reason that names the field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hub.events import EVENT_TYPES, CaseEvent, EventRejected, parse_event, schema, validate

CASE: dict[str, Any] = {
    "id": "2026-0001234",
    "title": "도로 파손 신고",
    "department": "도로철도과",
    "officer": {"name": "김담당"},
}
CITIZEN: dict[str, Any] = {"name": "홍길동"}

#: What each event type needs beyond org and case (DESIGN.md, the event model).
EXTRA: dict[str, dict[str, Any]] = {
    "case.received": {"citizen": CITIZEN},
    "case.assigned": {"citizen": CITIZEN},
    "case.transferred": {"citizen": CITIZEN, "transfer": {"to_agency": "경상북도"}},
    "case.supplement_requested": {
        "citizen": CITIZEN,
        "supplement": {"items": ["신분증 사본"], "due_at": "2026-11-30T18:00:00+09:00"},
    },
    "case.extended": {
        "citizen": CITIZEN,
        "extension": {"reason": "현장 조사", "new_due_at": "2026-12-05T18:00:00+09:00"},
    },
    "case.progress": {"citizen": CITIZEN, "progress": {"note": "현장 확인 중"}},
    "case.answered": {
        "citizen": CITIZEN, "answer": {"summary": "보수하겠습니다.", "outcome": "accepted"}
    },
    "survey.requested": {"citizen": CITIZEN, "survey": {"url": "https://e.kr/s/1"}},
    "case.due_soon": {"reminder": {"days_left": 0}},  # and case.due_at (minimal() adds it)
    "case.praised": {"praise": {"employee": {"name": "이친절"}}},
    "case.flagged": {"flag": {"reason": "폭언", "supervisors": [{"name": "박과장"}]}},
    "case.overdue": {"overdue": {"head": {"name": "정과장"}}},  # and case.due_at
}


def minimal(event_type: str, **envelope: Any) -> dict[str, Any]:
    """The smallest valid event of ``event_type``."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"ev-{event_type}",
        "source": "/gumi/yescall",
        "type": event_type,
        "data": {"org": "gumi", "case": copy.deepcopy(CASE), **copy.deepcopy(EXTRA[event_type])},
    }
    if event_type in ("case.due_soon", "case.overdue"):  # these name the deadline
        event["data"]["case"]["due_at"] = "2026-11-26T18:00:00+09:00"
    event.update(envelope)
    return event


def body(event: Any) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


def rejected(raw: bytes | str, **kwargs: Any) -> EventRejected:
    with pytest.raises(EventRejected) as info:
        parse_event(raw, **kwargs)
    return info.value


def test_the_table_of_extras_covers_every_event_type() -> None:
    assert set(EXTRA) == set(EVENT_TYPES)
    assert len(EVENT_TYPES) == 12


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_minimal_event_of_every_type_parses(event_type: str) -> None:
    # Given the smallest event the type allows
    raw = minimal(event_type)
    # When it is parsed
    event = parse_event(body(raw))
    # Then every attribute comes through
    assert isinstance(event, CaseEvent)
    assert (event.id, event.type, event.source) == (raw["id"], event_type, "/gumi/yescall")
    assert event.time is None and event.subject is None
    assert event.org == "gumi"
    assert event.data == raw["data"]


@pytest.mark.parametrize(
    ("event_type", "missing", "reason"),
    [
        ("case.received", "citizen", "data: must contain ['citizen']"),
        ("case.assigned", "citizen", "data: must contain ['citizen']"),
        ("case.transferred", "transfer", "data: must contain ['transfer']"),
        ("case.supplement_requested", "supplement", "data: must contain ['supplement']"),
        ("case.extended", "extension", "data: must contain ['extension']"),
        ("case.progress", "progress", "data: must contain ['progress']"),
        ("case.answered", "answer", "data: must contain ['answer']"),
        ("survey.requested", "survey", "data: must contain ['survey']"),
        ("case.due_soon", "reminder", "data: must contain ['reminder']"),
        ("case.praised", "praise", "data: must contain ['praise']"),
        ("case.flagged", "flag", "data: must contain ['flag']"),
    ],
)
def test_an_event_without_its_type_specific_part_is_invalid(
    event_type: str, missing: str, reason: str
) -> None:
    # Given a minimal event of the type without the part the type needs
    raw = minimal(event_type)
    del raw["data"][missing]
    # When it is parsed
    exc = rejected(body(raw))
    # Then it is invalid, and the reason names the missing part
    assert exc.code == "invalid"
    assert exc.reason.startswith(reason), exc.reason


def _without(path: str) -> Any:
    def change(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = event
        for part in parents:
            node = node[part]
        del node[last]

    return change


def _set(path: str, value: Any) -> Any:
    def change(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = event
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value

    return change


@pytest.mark.parametrize(
    ("event_type", "change", "reason"),
    [
        ("case.received", _without("data.case.id"), "data.case: must contain ['id']"),
        ("case.received", _without("data.case.officer"), "data.case: must contain ['officer']"),
        ("case.received", _without("id"), "(event): must contain ['id']"),
        ("case.received", _without("data"), "(event): must contain ['data']"),
        ("case.received", _set("specversion", "0.3"), "specversion: must be same as const"),
        ("case.received", _set("time", "yesterday"), "time: must be date-time"),
        ("case.received", _set("time", "2026-11-24T15:00:00"), "time: must be date-time"),
        ("case.received", _set("time", "2026-11-24"), "time: must be date-time"),
        ("case.received", _set("data.org", "Gumi"), "data.org: must match pattern"),
        ("case.received", _set("data.case", "2026-0001234"), "data.case: must be object"),
        ("case.received", _set("data.citizen.phone", "전화없음"), "data.citizen.phone"),
        ("case.received", _set("data.citizen.email", "hong"), "data.citizen.email"),
        ("case.received", _set("data.citizen.channels", ["fax"]), "data.citizen.channels[0]"),
        ("case.received", _set("data.case.kind", "민원"), "data.case.kind: must be one of"),
        ("case.received", _set("id", ""), "id: must be longer than or equal to 1"),
        ("case.flagged", _set("data.flag.supervisors", []), "data.flag.supervisors"),
        ("case.flagged", _set("data.flag.supervisors", [{"phone": "010-1234-5678"}]),
         "data.flag.supervisors[0]: must contain ['name']"),
        ("case.flagged", _without("data.flag.supervisors"),
         "data.flag: must contain ['supervisors']"),
        ("case.due_soon", _set("data.reminder.days_left", -1), "data.reminder.days_left"),
        ("case.supplement_requested", _set("data.supplement.items", []),
         "data.supplement.items"),
        ("case.extended", _set("data.extension.new_due_at", "다음 주"),
         "data.extension.new_due_at: must be date-time"),
        ("case.praised", _set("data.praise.employee", {}),
         "data.praise.employee: must contain ['name']"),
    ],
)
def test_an_invalid_event_is_rejected_naming_the_field(
    event_type: str, change: Any, reason: str
) -> None:
    # Given an otherwise minimal event with one thing wrong
    raw = minimal(event_type)
    change(raw)
    # When it is parsed
    exc = rejected(body(raw))
    # Then it is "invalid" and the reason names the field and the fault
    assert exc.code == "invalid"
    assert exc.reason.startswith(reason), exc.reason
    assert str(exc) == f"invalid: {exc.reason}"


@pytest.mark.parametrize(
    "time",
    [
        "2026-11-24T15:00:00+09:00",
        "2026-11-24T06:00:00Z",
        "2026-11-24T06:00:00.123456+00:00",
    ],
)
def test_a_time_with_an_offset_is_accepted(time: str) -> None:
    assert parse_event(body(minimal("case.received", time=time))).time == time


@pytest.mark.parametrize(
    ("raw", "max_bytes", "code", "reason"),
    [
        (b"x" * 11, 10, "too_large", "body is 11 bytes, over the limit of 10"),
        (b'{"id": "\xff\xfe"}', 1000, "not_utf8", "body is not UTF-8 (byte 8: invalid start byte)"),
        (b'{"specversion": "1.0", "id": ', 1000, "bad_json", "not JSON: Expecting value at line 1"),
        (b"", 1000, "bad_json", "not JSON"),
        (b"[1, 2]", 1000, "not_an_object", "the event must be a JSON object, not list"),
        (b'"case.received"', 1000, "not_an_object", "the event must be a JSON object, not str"),
        (b"null", 1000, "not_an_object", "the event must be a JSON object, not NoneType"),
        (b'{"type": "case.unknown"}', 1000, "unknown_type",
         "type: 'case.unknown' is not a known event type (case.received, "),
        (b"{}", 1000, "invalid", "(event): must contain ['data', 'id', 'source', 'specversion', "
         "'type']"),
        (b'{"specversion": "1.0", "id": "e", "source": "/s", "type": 5, "data": {}}', 1000,
         "invalid", "type: must be one of ['case.received'"),
    ],
)
def test_bad_bodies_are_rejected_with_a_stable_code(
    raw: bytes, max_bytes: int, code: str, reason: str
) -> None:
    exc = rejected(raw, max_bytes=max_bytes)
    assert exc.code == code
    assert exc.reason.startswith(reason), exc.reason


def test_a_body_exactly_at_the_limit_is_not_too_large() -> None:
    raw = body(minimal("case.received"))
    assert parse_event(raw, max_bytes=len(raw)).id == "ev-case.received"
    assert rejected(raw, max_bytes=len(raw) - 1).code == "too_large"


def test_the_size_check_comes_before_anything_else() -> None:
    # Given a body that is both oversized and not JSON
    exc = rejected(b"\xff" * 20, max_bytes=10)
    # Then the size is what is reported (it is the cheapest check)
    assert exc.code == "too_large"


def test_a_text_body_is_measured_in_bytes() -> None:
    # Given a text body of 30 Korean characters (90 UTF-8 bytes)
    text = json.dumps({"title": "가" * 30}, ensure_ascii=False)
    assert len(text.encode()) > 60 > len(text)
    # When the limit is 60 bytes
    exc = rejected(text, max_bytes=60)
    # Then it is too large
    assert exc.code == "too_large"


def test_a_text_body_parses_like_bytes() -> None:
    raw = minimal("case.answered")
    assert parse_event(json.dumps(raw, ensure_ascii=False)) == parse_event(body(raw))


@pytest.mark.parametrize(
    ("data_case", "subject", "expected"),
    [
        ({"id": "2026-0000001"}, None, "2026-0000001"),
        ({"id": "2026-0000001"}, "2026-0009999", "2026-0000001"),
        ({}, "2026-0009999", "2026-0009999"),
        (None, None, None),
    ],
)
def test_case_id_is_the_case_id_else_the_subject(
    data_case: dict[str, Any] | None, subject: str | None, expected: str | None
) -> None:
    data: dict[str, Any] = {"org": "gumi"}
    if data_case is not None:
        data["case"] = data_case
    event = CaseEvent(id="e", type="case.received", source="/s", time=None, subject=subject,
                      data=data, raw={})
    assert event.case_id == expected


def test_envelope_is_the_event_without_its_data() -> None:
    # Given an event with every optional attribute
    raw = minimal("case.answered", time="2026-11-24T15:00:00+09:00", subject="2026-0001234",
                  datacontenttype="application/json")
    # When it is parsed
    event = parse_event(body(raw))
    # Then the envelope has every attribute but data, and no more
    assert event.envelope() == {
        "specversion": "1.0",
        "id": "ev-case.answered",
        "source": "/gumi/yescall",
        "type": "case.answered",
        "time": "2026-11-24T15:00:00+09:00",
        "subject": "2026-0001234",
        "datacontenttype": "application/json",
    }
    assert event.case_id == "2026-0001234"
    assert event.raw == raw


def test_validate_accepts_a_dict_and_refuses_anything_else() -> None:
    validate(minimal("case.due_soon"))
    with pytest.raises(EventRejected) as info:
        validate([minimal("case.due_soon")])
    assert info.value.code == "not_an_object"


def test_the_schema_and_the_event_types_agree() -> None:
    # The schema file is the contract upstream systems validate against
    loaded = schema()
    assert loaded["properties"]["type"]["enum"] == list(EVENT_TYPES)
    assert loaded["required"] == ["specversion", "id", "source", "type", "data"]
