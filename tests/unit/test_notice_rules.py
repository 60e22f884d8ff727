"""What a notice must say (and not show): the rules `templates check` enforces on
rendered samples, and the shipped templates rendered against them."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from hub.events import EventRejected, validate
from hub.templates.check import CheckResult, check_all
from hub.templates.context import context_from_event, sample_recipients
from hub.templates.environment import make_environments
from hub.templates.errors import MissingFact
from hub.templates.filters import WorkingCalendar, outcome
from hub.templates.rendering import Rendered, compile_template, render_compiled

ROOT = Path(__file__).resolve().parents[2] / "templates"
PROFILES: dict[str, dict[str, Any]] = {
    "gumi": {"key": "gumi", "name": "구미시", "callcenter": "054-480-2114", "url": "",
             "internal_unit": "민원여권과", "internal_phone": "054-480-6000"},
    "pohang": {"key": "pohang", "name": "포항시", "callcenter": "054-270-8282", "url": "",
               "internal_unit": "민원봉사과", "internal_phone": "054-270-2114"},
}
ENVS = make_environments(WorkingCalendar())


def load(path: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / path).read_text(encoding="utf-8"))
    return event


def render(folder: Path, template: str, event: dict[str, Any]) -> Rendered:
    channel = template.rsplit("/", 1)[-1].removesuffix(".j2")
    compiled = compile_template(ENVS, template, (folder / template).read_bytes())
    (recipient,) = sample_recipients(event, channel)[:1]
    return render_compiled(compiled, context_from_event(event, recipient, PROFILES["gumi"]))


def check(folder: Path) -> dict[str, CheckResult]:
    report = check_all(folder, ENVS, PROFILES.__getitem__)
    return {r.template.path: r for r in report.results}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy_ = tmp_path / "templates"
    shutil.copytree(ROOT, copy_)
    return copy_


# ---------------------------------------------------------------- the event


def test_an_answer_states_its_outcome_and_a_refusal_its_reason() -> None:
    event = load("case.answered/samples/refused.json")
    validate(event)
    # Given a refusal without a reason / Then the hub refuses the event
    without = copy.deepcopy(event)
    del without["data"]["answer"]["reason"]
    with pytest.raises(EventRejected, match="reason"):
        validate(without)
    without["data"]["answer"]["outcome"] = "partly_accepted"
    with pytest.raises(EventRejected, match="reason"):
        validate(without)
    # an answer without an outcome, or with an unknown one, is refused too
    no_outcome = copy.deepcopy(event)
    del no_outcome["data"]["answer"]["outcome"]
    with pytest.raises(EventRejected, match="outcome"):
        validate(no_outcome)
    no_outcome["data"]["answer"]["outcome"] = "rejected"
    with pytest.raises(EventRejected):
        validate(no_outcome)
    # "other" and "accepted" need no reason
    for value in ("other", "accepted"):
        without["data"]["answer"]["outcome"] = value
        validate(without)


def test_outcome_filter_names_each_outcome_and_refuses_unknown_ones() -> None:
    assert outcome("refused") == "불수용"
    assert outcome("partly_accepted") == "일부 수용"
    assert outcome("accepted") == "수용"
    with pytest.raises(ValueError, match="unknown answer outcome"):
        outcome("rejected")


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "template",
    ["case.answered/sms.j2", "case.answered/email.j2", "orgs/gumi/case.answered/sms.j2"],
)
@pytest.mark.parametrize("sample", ["refused.json", "partly.json"])
def test_a_refused_answer_shows_the_reason_and_the_redress(template: str, sample: str) -> None:
    event = load(f"case.answered/samples/{sample}")
    rendered = render(ROOT, template, event)
    for text in (rendered.body, rendered.html or rendered.body):
        assert event["data"]["answer"]["reason"] in text
        assert "이의신청" in text and "60일" in text
        assert "행정심판" in text and "행정소송" in text and "90일" in text
        assert "구미시에" in text  # where the 이의신청 goes


def test_an_accepted_answer_does_not_talk_of_redress() -> None:
    event = load("case.answered/samples/full.json")
    for template in ("case.answered/sms.j2", "case.answered/email.j2"):
        rendered = render(ROOT, template, event)
        assert "이의신청" not in rendered.body
        assert "처리결과: 수용" in rendered.body


def test_check_fails_an_answer_template_without_the_redress(folder: Path) -> None:
    # Given an SMS template that states the answer but neither reason nor 구제절차
    (folder / "case.answered/sms.j2").write_text(
        "{% block body %}[{{ org.name }}] 민원({{ case.id }}) 처리결과: {{ answer.summary }} "
        "담당 {{ case.department }} {{ case.officer.name }} {{ org.callcenter }}{% endblock %}",
        encoding="utf-8",
    )
    # When checked / Then it fails, for each outcome that is not accepted
    result = check(folder)["case.answered/sms.j2"]
    assert not result.ok
    text = "\n".join(result.errors)
    for value in ("refused", "partly_accepted", "other"):
        assert f"answer.outcome={value}: an answer that is not accepted" in text
    assert "missing: answer.reason, 이의신청 (법 §35), the 60 days" in text


def test_check_fails_an_answer_template_that_drops_the_reason_only(folder: Path) -> None:
    path = folder / "case.answered/email.j2"
    source = path.read_text(encoding="utf-8")
    path.write_text(source.replace("{{ answer.reason }}", "(생략)"), encoding="utf-8")
    result = check(folder)["case.answered/email.j2"]
    assert any(e.endswith("missing: answer.reason") for e in result.errors), result.errors


# ---------------------------------------------------------------- e-mail documents


def test_every_shipped_email_is_a_whole_korean_document() -> None:
    results = check(ROOT)
    emails = [r for path, r in results.items() if path.endswith("email.j2")]
    assert emails
    for result in emails:
        for render_ in result.renders:
            html = render_.rendered.html
            assert html is not None and html.startswith("<!DOCTYPE html>"), result.template.path
            assert '<html lang="ko">' in html and "<title>[" in html
            assert html.rstrip().endswith("</html>")


def test_check_fails_an_email_html_that_is_a_fragment(folder: Path) -> None:
    path = folder / "case.received/email.j2"
    source = path.read_text(encoding="utf-8")
    start = source.index("{% block html %}") + len("{% block html %}")
    end = source.index("{% endblock %}", start)
    path.write_text(source[:start] + "<div>{{ case.id }}</div>" + source[end:], encoding="utf-8")
    errors = check(folder)["case.received/email.j2"].errors
    assert "the e-mail HTML must be a whole document: begin with <!DOCTYPE html>" in errors
    assert 'the e-mail HTML must say its language: <html lang="ko">' in errors
    assert "the e-mail HTML must have a <title> (mail clients show it)" in errors


# ---------------------------------------------------------------- lock screens


def test_answer_push_shows_only_org_kind_and_case_number() -> None:
    event = load("case.answered/samples/refused.json")
    rendered = render(ROOT, "case.answered/push.j2", event)
    shown = f"{rendered.subject}\n{rendered.body}"
    assert "구미시" in shown and "처리결과" in shown and "2026-0002468" in shown
    answer = event["data"]["answer"]
    for detail in (answer["summary"], answer["reason"], event["data"]["case"]["title"],
                   event["data"]["citizen"]["name"]):
        assert detail not in shown


def test_check_warns_on_a_push_that_shows_details(folder: Path) -> None:
    (folder / "case.answered/push.j2").write_text(
        "{% block title %}{{ recipient.name }}님 민원{% endblock %}"
        "{% block body %}{{ case.title }}: {{ answer.summary }}{% endblock %}",
        encoding="utf-8",
    )
    result = check(folder)["case.answered/push.j2"]
    assert result.ok  # a warning, not an error
    (warning,) = {w.split("this one shows ")[0] for w in result.warnings}
    assert "lock screen" in warning
    shown = " ".join(result.warnings)
    assert "citizen.name" in shown and "case.title" in shown and "answer.summary" in shown


# ---------------------------------------------------------------- dates


def test_a_midnight_deadline_shows_as_the_previous_day_24_00() -> None:
    # Given an extension to 00:00 on 1 January in Seoul (a holiday, 신정)
    event = load("case.extended/samples/midnight.json")
    assert event["data"]["extension"]["new_due_at"] == "2026-12-31T15:00:00Z"
    # Then every channel names 31 December, 24:00, and never 1 January
    sms = render(ROOT, "case.extended/sms.j2", event)
    assert "새 기한: 12. 31.(목) 24:00" in sms.body
    email = render(ROOT, "case.extended/email.j2", event)
    assert "2026년 12월 31일(목) 24:00" in email.body
    assert email.html is not None and "2026년 12월 31일(목) 24:00" in email.html
    for text in (sms.body, email.body, email.html):
        assert "1월 1일" not in text and "1. 1." not in text and "오전 12시" not in text


def test_a_reminder_names_the_date_not_a_count_of_days() -> None:
    event = load("case.due_soon/samples/d3.json")
    event["data"]["reminder"]["days_left"] = 3  # whatever upstream counted
    event["data"]["case"]["due_at"] = "2026-11-26T18:00:00+09:00"
    for template in ("case.due_soon/sms.j2", "case.due_soon/push.j2", "case.due_soon/email.j2"):
        rendered = render(ROOT, template, event)
        text = f"{rendered.subject}\n{rendered.body}"
        assert "11. 26.(목) 18:00" in text or "2026년 11월 26일(목) 오후 6시" in text, template
        assert "D-" not in text, template


def test_check_refuses_date_filters_on_deadlines(folder: Path) -> None:
    path = folder / "case.extended/sms.j2"
    source = path.read_text(encoding="utf-8")
    path.write_text(
        source.replace("extension.new_due_at|deadline('compact')", "extension.new_due_at|kdate"),
        encoding="utf-8",
    )
    errors = check(folder)["case.extended/sms.j2"].errors
    (error,) = [e for e in errors if "shows a deadline at 00:00" in e]
    assert error.startswith("line ") and "new_due_at|kdate shows a deadline at 00:00" in error
    assert "write new_due_at|deadline_day" in error
    # and the midnight sample shows that the notice names the wrong day
    assert any("midnight.json" in e and "the new deadline" in e for e in errors), errors


def test_check_warns_on_a_sample_deadline_on_a_day_off(folder: Path) -> None:
    sample = load("case.extended/samples/full.json")
    sample["data"]["extension"]["new_due_at"] = "2027-01-01T18:00:00+09:00"  # 신정
    (folder / "case.extended/samples/holiday.json").write_text(
        json.dumps(sample, ensure_ascii=False), encoding="utf-8"
    )
    result = check(folder)["case.extended/sms.j2"]
    assert result.ok
    assert any(
        "holiday.json: extension.new_due_at ends on a day off (2027년 1월 1일(금))" in w
        for w in result.warnings
    ), result.warnings


# ---------------------------------------------------------------- missing facts


@pytest.mark.parametrize("missing", ["callcenter", "internal_phone"])
def test_a_notice_needing_a_fact_the_profile_lacks_fails_with_missing_fact(
    missing: str,
) -> None:
    template = "case.received/sms.j2" if missing == "callcenter" else "case.due_soon/sms.j2"
    event = load(template.split("/")[0] + "/samples/" + (
        "full.json" if missing == "callcenter" else "d3.json"))
    channel = "sms"
    compiled = compile_template(ENVS, template, (ROOT / template).read_bytes())
    (recipient,) = sample_recipients(event, channel)[:1]
    profile = {**PROFILES["gumi"], missing: ""}
    with pytest.raises(MissingFact) as info:
        render_compiled(compiled, context_from_event(event, recipient, profile))
    assert info.value.code == "missing_fact"
    assert f"org.{missing}" in info.value.reason and f"[orgs.gumi] {missing}" in info.value.reason
    assert info.value.template == template
    # a placeholder never stands in for it
    del profile[missing]
    with pytest.raises(MissingFact):
        render_compiled(compiled, context_from_event(event, recipient, profile))


def test_without_an_officer_phone_the_call_centre_is_labelled_as_such() -> None:
    event = load("case.answered/samples/minimal.json")  # the officer has no phone
    rendered = render(ROOT, "case.answered/sms.j2", event)
    assert "담당: 건설과 이서연\n" in rendered.body
    assert "문의: 구미시 민원콜센터 054-480-2114" in rendered.body


# ---------------------------------------------------------------- case.overdue


def test_an_overdue_case_reaches_the_department_head_on_every_channel() -> None:
    from hub.catalogue import address_fields
    from hub.events import parse_event
    from hub.rules import load_rules

    event = load("case.overdue/samples/full.json")
    jobs = [job for job, _ in load_rules().jobs(
        parse_event(json.dumps(event).encode()), address_fields())]
    assert sorted((j.recipient.role, j.channel, j.recipient.name) for j in jobs) == [
        ("head", "email", "정과장"), ("head", "push", "정과장"), ("head", "sms", "정과장")]
    sms = render(ROOT, "case.overdue/sms.j2", event)
    assert "정과장님, 처리기한이 지난 민원이 있습니다." in sms.body
    assert "민원(2026-0001234) 처리기한 11. 26.(목) 18:00" in sms.body
    assert "문의: 민원여권과 054-480-6000" in sms.body
    # an overdue event without its head, or without the deadline, is refused
    for drop in ("overdue", "case.due_at"):
        broken = copy.deepcopy(event)
        node = broken["data"]
        *parents, last = drop.split(".")
        for part in parents:
            node = node[part]
        del node[last]
        with pytest.raises(EventRejected):
            validate(broken)


# ---------------------------------------------------------------- contents per notice


@pytest.mark.parametrize(
    ("template", "drop", "message"),
    [
        ("case.extended/sms.j2", "사유: {{ extension.reason }}\n", "the reason (시행령 §21)"),
        ("case.extended/email.j2", "- 종전 처리기한: {{ case.due_at|deadline }}\n",
         "the previous deadline (시행령 §21)"),
        ("case.received/sms.j2", "접수번호: {{ case.id }}\n", "the case number (case.id) (법 §9)"),
        ("case.supplement_requested/sms.j2",
         " 기한까지 보완하지 않으시면 민원이 반려될 수 있습니다.",
         "that missing it may lead to 반려 (시행령 §25)"),
        ("case.progress/sms.j2", "처리예정일: {{ progress.expected_at|deadline('compact') }}\n",
         "the 처리예정일 (시행령 §23)"),
        ("case.due_soon/sms.j2", " 처리기한 {{ case.due_at|deadline('compact') }}",
         "the deadline (case.due_at)"),
    ],
)
def test_check_fails_a_notice_that_drops_what_the_law_asks(
    folder: Path, template: str, drop: str, message: str
) -> None:
    path = folder / template
    source = path.read_text(encoding="utf-8")
    assert drop in source
    path.write_text(source.replace(drop, "\n" if drop.endswith("\n") else ""), encoding="utf-8")
    errors = check(folder)[template].errors
    assert any(f"the notice must state {message}" in e for e in errors), errors


def test_check_fails_a_notice_without_the_unit_the_official_or_a_contact(folder: Path) -> None:
    (folder / "case.progress/sms.j2").write_text(
        "{% block body %}[{{ org.name }}] 민원({{ case.id }}) 진행상황: {{ progress.note }} "
        "처리예정일 {% if progress.expected_at is defined %}"
        "{{ progress.expected_at|deadline('compact') }}{% endif %}{% endblock %}",
        encoding="utf-8",
    )
    errors = "\n".join(check(folder)["case.progress/sms.j2"].errors)
    assert "the responsible unit (case.department) (시행령 §31)" in errors
    assert "the official's name (case.officer.name) (시행령 §31)" in errors
    assert "a contact number (시행령 §31)" in errors


# ---------------------------------------------------------------- addresses


def test_texts_to_an_officer_go_to_the_mobile_when_one_is_given() -> None:
    from hub.catalogue import address_fields
    from hub.events import parse_event
    from hub.rules import load_rules

    event = load("case.due_soon/samples/d3.json")
    officer = event["data"]["case"]["officer"]
    assert officer["phone"] == "054-480-0000" and officer["mobile"] == "010-0000-0000"

    def sms_address(e: dict[str, Any]) -> str:
        jobs = [job for job, _ in load_rules().jobs(
            parse_event(json.dumps(e).encode()), address_fields())]
        (job,) = [j for j in jobs if j.channel == "sms"]
        return job.recipient.address

    # the office line is what citizens' notices show; the reminder goes to the mobile
    assert sms_address(event) == "010-0000-0000"
    # without a mobile, to the phone given
    del officer["mobile"]
    assert sms_address(event) == "054-480-0000"
