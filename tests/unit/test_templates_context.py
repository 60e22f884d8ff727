"""context_from_event: the one place the template context is built."""

from __future__ import annotations

from typing import Any

from hub.jobs import Recipient
from hub.templates.context import context_from_event, sample_recipients

EVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "evt-1",
    "source": "/gumi/yescall",
    "type": "case.transferred",
    "time": "2026-11-24T15:00:00+09:00",
    "data": {
        "org": "gumi",
        "case": {"id": "2026-0001234", "officer": {"name": "김담당", "phone": "054-480-0000"}},
        "citizen": {"name": "홍길동", "phone": "010-1234-5678", "channels": ["sms"]},
        "transfer": {"to_agency": "경상북도", "reason": "소관"},
    },
}
PROFILE = {"key": "gumi", "name": "구미시", "callcenter": "054-480-2114", "url": ""}


def test_context_has_the_documented_keys() -> None:
    recipient = {"name": "홍길동", "role": "citizen", "phone": "010-1234-5678"}
    context = context_from_event(EVENT, recipient, PROFILE)
    assert set(context) == {"event", "case", "citizen", "recipient", "org", "transfer"}
    assert "data" not in context["event"] and context["event"]["id"] == "evt-1"
    assert context["case"] is EVENT["data"]["case"]
    assert context["recipient"] == recipient
    # org is the configured profile, not the key in data.org
    assert context["org"] == PROFILE


def test_data_keys_cannot_shadow_what_the_hub_sets() -> None:
    event = {**EVENT, "data": {**EVENT["data"], "recipient": "x", "event": "y"}}
    context = context_from_event(event, {"name": "n", "role": "citizen"}, PROFILE)
    assert context["recipient"] == {"name": "n", "role": "citizen"}
    assert context["event"]["type"] == "case.transferred"


def test_notices_to_staff_have_no_citizen() -> None:
    event = {**EVENT, "type": "case.due_soon", "data": {"org": "gumi", "case": {}}}
    assert (
        context_from_event(event, {"name": "김담당", "role": "officer"}, PROFILE)["citizen"] is None
    )


def test_the_worker_and_the_checker_build_the_same_recipient() -> None:
    # Given the recipient the router puts in a job (hub.jobs.Recipient)
    citizen = EVENT["data"]["citizen"]
    job_recipient = Recipient(
        role="citizen",
        key="citizen",
        name=citizen["name"],
        address=citizen["phone"],
        fields={k: v for k, v in citizen.items() if k != "channels"},
    )
    # When the checker derives it from a sample
    (from_sample,) = sample_recipients(EVENT, "sms")
    # Then the template sees the same fields
    assert from_sample == job_recipient.as_context("phone")


def test_sample_recipients_follow_who_is_told_of_each_event_type() -> None:
    flagged = {
        **EVENT,
        "type": "case.flagged",
        "data": {
            **EVENT["data"],
            "flag": {
                "reason": "r",
                "supervisors": [{"name": "오팀장", "email": "a@b.kr"}, {"name": "윤과장"}],
            },
        },
    }
    assert [r["role"] for r in sample_recipients(flagged, "email")] == ["supervisors"]
    assigned = {**EVENT, "type": "case.assigned"}
    assert [r["role"] for r in sample_recipients(assigned, "push")] == ["citizen", "officer"]
