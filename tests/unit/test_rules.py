"""Routing rules: the packaged file loads; one job per (recipient, channel); stable
notification ids; every mistake in a rules file is refused at load time."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from hub.events import EVENT_TYPES, CaseEvent, parse_event
from hub.jobs import Job, notification_id
from hub.rules import Rule, RulesError, load_rules, parse_rules

FIELDS = {"sms": "phone", "email": "email", "push": "push_token"}
OFFICER = {"name": "김담당", "phone": "054-480-0000", "email": "kim@gumi.example.kr",
           "push_token": "tok-officer"}


def event(event_type: str, event_id: str = "ev-1", **data: Any) -> CaseEvent:
    raw = {
        "specversion": "1.0",
        "id": event_id,
        "source": "/gumi/yescall",
        "type": event_type,
        "time": "2026-11-24T15:00:00+09:00",
        "data": {
            "org": "gumi",
            "case": {"id": "2026-0001234", "title": "도로 파손", "department": "도로철도과",
                     "officer": OFFICER, "due_at": "2026-11-26T18:00:00+09:00"},
            **data,
        },
    }
    return parse_event(json.dumps(raw, ensure_ascii=False).encode())


def citizen(*channels: str, **extra: Any) -> dict[str, Any]:
    person: dict[str, Any] = {"name": "홍길동", "phone": "010-1234-5678",
                              "email": "hong@example.kr", "push_token": "tok-hong"}
    if channels:
        person["channels"] = list(channels)
    person.update(extra)
    return person


def jobs(e: CaseEvent, fields: dict[str, str] = FIELDS) -> list[Job]:
    return [job for job, _ in load_rules().jobs(e, fields)]


def test_the_packaged_rules_load_and_cover_every_event_type() -> None:
    rules = load_rules()
    assert set(rules.by_event) == set(EVENT_TYPES)
    assert rules.recipients == {"citizen": "citizen", "officer": "case.officer",
                                "employee": "praise.employee", "supervisors": "flag.supervisors",
                                "head": "overdue.head"}


@pytest.mark.parametrize(
    ("event_type", "critical"),
    [
        ("case.received", False),
        ("case.transferred", True),
        ("case.supplement_requested", True),
        ("case.extended", True),
        ("case.answered", False),
        ("case.flagged", True),
    ],
)
def test_critical_notices_are_marked_in_the_packaged_rules(event_type: str, critical: bool) -> None:
    assert {r.critical for r in load_rules().for_event(event_type)} == {critical}


def test_one_job_per_recipient_and_channel() -> None:
    # Given a case.assigned event: the citizen (sms, email, push) and the officer (push, email)
    e = event("case.assigned", citizen=citizen())
    # When the rules are applied
    found = jobs(e)
    # Then there is one job per (recipient, channel), in rule order
    assert [(j.recipient.role, j.channel) for j in found] == [
        ("citizen", "sms"), ("citizen", "email"), ("citizen", "push"),
        ("officer", "push"), ("officer", "email"),
    ]
    assert [j.recipient.address for j in found] == [
        "010-1234-5678", "hong@example.kr", "tok-hong", "tok-officer", "kim@gumi.example.kr"]
    # And each job carries the event
    for j in found:
        assert (j.event_id, j.event_type, j.case_id, j.org) == (
            "ev-1", "case.assigned", "2026-0001234", "gumi")
        assert j.template == "case.assigned"
        assert j.event == e.envelope()
        assert j.data == e.data
    assert len({j.notification_id for j in found}) == 5


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        ((), ["sms", "email", "push"]),  # no list: every channel of the rule
        (("sms",), ["sms"]),
        (("email", "sms"), ["sms", "email"]),  # in the rule's order
        (("alimtalk",), []),  # listed, but no rule uses it
    ],
)
def test_the_citizen_gets_only_the_channels_listed(listed: tuple[str, ...],
                                                   expected: list[str]) -> None:
    e = event("case.received", citizen=citizen(*listed))
    found = jobs(e)
    assert [j.channel for j in found] == expected
    for j in found:
        assert "channels" not in j.recipient.fields


def test_the_officer_is_not_filtered_by_the_citizens_channels() -> None:
    e = event("case.assigned", citizen=citizen("sms"))
    officer = [j.channel for j in jobs(e) if j.recipient.role == "officer"]
    assert officer == ["push", "email"]


def test_a_channel_the_hub_does_not_run_gives_no_job() -> None:
    e = event("case.received", citizen=citizen())
    assert [j.channel for j in jobs(e, {"sms": "phone"})] == ["sms"]


def test_a_recipient_without_the_address_still_gets_a_job_with_an_empty_address() -> None:
    # The worker records it as skipped, so the ledger says why nothing was sent
    e = event("case.received", citizen={"name": "홍길동", "phone": "010-1234-5678"})
    found = {j.channel: j.recipient.address for j in jobs(e)}
    assert found == {"sms": "010-1234-5678", "email": "", "push": ""}


def test_each_supervisor_is_a_recipient_with_its_own_key() -> None:
    # Given a flag naming three supervisors
    supervisors = [
        {"name": "박과장", "phone": "010-1111-1111", "email": "a@gumi.example.kr"},
        {"name": "최국장", "phone": "010-2222-2222", "email": "b@gumi.example.kr"},
        {"name": "정팀장", "phone": "010-3333-3333", "email": "c@gumi.example.kr"},
    ]
    e = event("case.flagged", flag={"reason": "폭언", "supervisors": supervisors})
    # When the rules are applied (push, email, sms)
    found = jobs(e)
    # Then each supervisor is a recipient with a distinct key, for each channel
    sms = [j for j in found if j.channel == "sms"]
    assert [j.recipient.key for j in sms] == ["supervisors:0", "supervisors:1", "supervisors:2"]
    assert [j.recipient.address for j in sms] == ["010-1111-1111", "010-2222-2222",
                                                  "010-3333-3333"]
    assert [j.recipient.name for j in sms] == ["박과장", "최국장", "정팀장"]
    assert len(found) == 9
    assert len({j.notification_id for j in found}) == 9
    assert all(j.critical for j in found)


def test_the_praised_employee_and_the_due_soon_officer_are_found() -> None:
    praise = {"employee": {"name": "이친절", "email": "lee@gumi.example.kr",
                           "department": "민원여권과"}}
    found = jobs(event("case.praised", praise=praise))
    assert [(j.recipient.role, j.channel, j.recipient.address) for j in found] == [
        ("employee", "push", ""), ("employee", "email", "lee@gumi.example.kr")]
    assert found[1].recipient.fields["department"] == "민원여권과"
    due = jobs(event("case.due_soon", reminder={"days_left": 1}))
    assert [(j.recipient.role, j.channel) for j in due] == [
        ("officer", "push"), ("officer", "email"), ("officer", "sms")]


def test_notification_ids_are_stable_across_runs_and_distinct_per_channel() -> None:
    # Given the same event applied twice (say, redelivered, or published again)
    first = jobs(event("case.answered", "ev-42", citizen=citizen(),
                       answer={"summary": "보수 완료", "outcome": "accepted"}))
    again = jobs(event("case.answered", "ev-42", citizen=citizen(),
                       answer={"summary": "보수 완료", "outcome": "accepted"}))
    # Then the ids are the same, and derived from (event, recipient, channel) only
    assert [j.notification_id for j in first] == [j.notification_id for j in again]
    assert [j.notification_id for j in first] == [
        notification_id("ev-42", "citizen", c) for c in ("sms", "email", "push")]
    assert len({j.notification_id for j in first}) == 3


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("ev-1", "citizen", "sms"), ("ev-2", "citizen", "sms")),
        (("ev-1", "citizen", "sms"), ("ev-1", "officer", "sms")),
        (("ev-1", "citizen", "sms"), ("ev-1", "citizen", "email")),
        (("ev-1", "supervisors:1", "sms"), ("ev-1", "supervisors:10", "sms")),
    ],
)
def test_notification_ids_differ_when_any_part_differs(a: tuple[str, str, str],
                                                       b: tuple[str, str, str]) -> None:
    assert notification_id(*a) != notification_id(*b)


def test_a_notification_id_is_a_fixed_uuid() -> None:
    # The namespace must never change: ids already in the ledger would no longer match
    assert notification_id("ev-1", "citizen", "sms") == notification_id("ev-1", "citizen", "sms")
    assert len(notification_id("ev-1", "citizen", "sms")) == 36


def test_a_job_survives_encoding() -> None:
    (job, *_) = jobs(event("case.received", citizen=citizen("sms")))
    assert Job.decode(job.encode()) == job
    # every field, including those with defaults, is on the wire
    changed = dataclasses.replace(job, rule="custom", quiet_hours=False, critical=True)
    assert Job.decode(changed.encode()) == changed
    assert set(json.loads(job.encode())) == {f.name for f in dataclasses.fields(Job)}


RECIPIENTS = '[recipients]\ncitizen = "citizen"\nofficer = "case.officer"\n'


def rules_text(rule: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(RECIPIENTS + "[[rules]]\n" + rule)


@pytest.mark.parametrize(
    ("rule", "delay"),
    [
        ('event = "survey.requested"\nrecipient = "citizen"\nchannels = ["sms"]', 0.0),
        ('event = "survey.requested"\nrecipient = "citizen"\nchannels = ["sms"]\ndelay = "1h"',
         3600.0),
        ('event = "survey.requested"\nrecipient = "citizen"\nchannels = ["sms"]\n'
         'delay = "1h30m"', 5400.0),
        ('event = "survey.requested"\nrecipient = "citizen"\nchannels = ["sms"]\ndelay = 90', 90.0),
    ],
)
def test_delays_are_parsed(rule: str, delay: float) -> None:
    (parsed,) = parse_rules(rules_text(rule)).for_event("survey.requested")
    assert parsed.delay == delay


def test_the_packaged_survey_waits_an_hour() -> None:
    (rule,) = load_rules().for_event("survey.requested")
    assert rule.delay == 3600.0


def test_a_rule_gets_its_defaults() -> None:
    rules = parse_rules(rules_text('event = "case.received"\nrecipient = "citizen"\n'
                                   'channels = ["sms"]'))
    assert rules.for_event("case.received") == (Rule(
        name="case.received:citizen", event="case.received", recipient="citizen",
        channels=("sms",), template="case.received", critical=False, quiet_hours=True,
        delay=0.0),)
    assert rules.for_event("case.answered") == ()


def test_a_rule_may_name_its_template_and_turn_quiet_hours_off() -> None:
    rules = parse_rules(rules_text(
        'event = "case.due_soon"\nrecipient = "officer"\nchannels = ["push"]\n'
        'template = "officer.reminder"\nquiet_hours = false\nname = "reminder"'))
    (rule,) = rules.for_event("case.due_soon")
    assert (rule.template, rule.quiet_hours, rule.name) == ("officer.reminder", False, "reminder")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('event = "case.closed"\nrecipient = "citizen"\nchannels = ["sms"]',
         "rule 1: unknown event type 'case.closed'"),
        ('recipient = "citizen"\nchannels = ["sms"]', "rule 1: unknown event type None"),
        ('event = "case.received"\nrecipient = "mayor"\nchannels = ["sms"]',
         "rule 1: recipient 'mayor' is not in [recipients]"),
        ('event = "case.received"\nrecipient = "citizen"\nchannels = "sms"',
         "rule 1: channels must be a non-empty list of channel names"),
        ('event = "case.received"\nrecipient = "citizen"\nchannels = []',
         "rule 1: channels must be a non-empty list"),
        ('event = "case.received"\nrecipient = "citizen"\nchannels = [1]',
         "rule 1: channels must be a non-empty list"),
        ('event = "case.received"\nrecipient = "citizen"', "rule 1: channels must be"),
        ('event = "case.received"\nrecipient = "citizen"\nchannels = ["sms"]\ndelay = "soon"',
         "rule 1: not a duration: 'soon'"),
        ('event = "case.received"\nrecipient = "citizen"\nchannels = ["sms"]\ndelay = "1 hour"',
         "rule 1: not a duration"),
        ('event = "case.received"\nrecipient = "citizen"\nchannels = ["sms"]\nurgent = true',
         "rule 1: unknown keys ['urgent']"),
        ('event = "case.received"\nrecipient = "citizen"\nchannels = ["sms"]\n'
         'chanels = ["email"]\nwhen = "now"', "rule 1: unknown keys ['chanels', 'when']"),
    ],
)
def test_a_broken_rule_is_refused_with_its_reason(rule: str, message: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(rules_text(rule), source="my-rules.toml")
    assert str(info.value).startswith("my-rules.toml: ")
    assert message in str(info.value)


def test_the_number_of_a_broken_rule_is_named() -> None:
    import tomllib

    raw = tomllib.loads(RECIPIENTS + '[[rules]]\nevent = "case.received"\nrecipient = "citizen"\n'
                        'channels = ["sms"]\n[[rules]]\nevent = "case.x"\nrecipient = "citizen"\n'
                        'channels = ["sms"]\n')
    with pytest.raises(RulesError, match=r"rule 2: unknown event type 'case\.x'"):
        parse_rules(raw)


@pytest.mark.parametrize("raw", [{}, {"recipients": {}}, {"rules": []}])
def test_rules_without_recipients_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(RulesError, match=r"\[recipients\] is missing or empty"):
        parse_rules(raw)


def test_a_rules_file_is_read_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(RECIPIENTS + '[[rules]]\nevent = "case.received"\nrecipient = "officer"\n'
                    'channels = ["push"]\n', "utf-8")
    rules = load_rules(path)
    assert [r.recipient for r in rules.for_event("case.received")] == ["officer"]
    e = event("case.received", citizen=citizen())
    assert [(j.recipient.role, j.channel) for j, _ in rules.jobs(e, FIELDS)] == [
        ("officer", "push")]


def test_a_missing_rules_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"rules file .*nope.toml does not exist"):
        load_rules(tmp_path / "nope.toml")


def test_an_error_in_a_rules_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(RECIPIENTS + '[[rules]]\nevent = "case.received"\nrecipient = "x"\n'
                    'channels = ["push"]\n', "utf-8")
    with pytest.raises(RulesError, match=rf"^{path}: rule 1: recipient 'x'"):
        load_rules(path)
