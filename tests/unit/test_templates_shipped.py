"""The templates shipped in templates/: they pass the check and say what 시행령 §31 asks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.events import EVENT_TYPES
from hub.templates.check import CheckResult, check_all
from hub.templates.environment import make_environments
from hub.templates.filters import WorkingCalendar, phone
from hub.templates.rendering import CHANNELS

ROOT = Path(__file__).resolve().parents[2] / "templates"
PROFILES: dict[str, dict[str, Any]] = {
    "gumi": {"key": "gumi", "name": "구미시", "callcenter": "054-480-2114", "url": "",
             "internal_unit": "민원여권과", "internal_phone": "054-480-6000"},
    "pohang": {"key": "pohang", "name": "포항시", "callcenter": "054-270-8282", "url": "",
               "internal_unit": "민원봉사과", "internal_phone": "054-270-2114"},
}


@pytest.fixture(scope="module")
def results() -> list[CheckResult]:
    report = check_all(ROOT, make_environments(WorkingCalendar()), PROFILES.__getitem__)
    assert report.problems == []
    return report.results


def test_every_event_type_has_all_three_channels() -> None:
    for event_type in EVENT_TYPES:
        for channel in CHANNELS:
            assert (ROOT / event_type / f"{channel}.j2").is_file(), (event_type, channel)
        assert list((ROOT / event_type / "samples").glob("*.json")), event_type


def test_every_shipped_template_passes_its_check(results: list[CheckResult]) -> None:
    failed = {r.template.path: r.errors for r in results if not r.ok}
    assert failed == {}
    assert all(r.renders for r in results)


def test_there_is_an_organisation_override_with_its_own_sample(
    results: list[CheckResult],
) -> None:
    overrides = [r for r in results if r.template.org]
    assert [r.template.path for r in overrides] == ["orgs/gumi/case.answered/sms.j2"]
    assert any(s.sample.startswith("orgs/gumi/") for s in overrides[0].renders)


def test_every_notice_names_the_unit_the_official_and_a_contact(
    results: list[CheckResult],
) -> None:
    # 시행령 §31: the responsible unit, the official's name and a contact number. Not on a
    # push: a lock screen shows only the organisation, the kind of notice and the case
    # number; the details are behind its link.
    for result in results:
        if result.template.channel == "push":
            continue
        for render in result.renders:
            event = json.loads((ROOT / render.sample).read_text(encoding="utf-8"))
            case = event["data"]["case"]
            profile = PROFILES[result.template.org or event["data"]["org"]]
            contacts = {phone(case["officer"].get("phone", "")), phone(profile["callcenter"]),
                        phone(profile["internal_phone"])}
            text = render.rendered.body
            where = (result.template.path, render.sample, render.role)
            assert case["department"] in text, where
            assert case["officer"]["name"] in text, where
            assert any(c and c in text for c in contacts), where


def test_no_shipped_template_has_warnings(results: list[CheckResult]) -> None:
    assert {r.template.path: r.warnings for r in results if r.warnings} == {}


def test_case_received_names_the_case_number_and_the_deadline(
    results: list[CheckResult],
) -> None:
    # 접수 notices give the 접수번호 and the 처리기한 (compact date in SMS); with both the
    # text outgrows one SMS (90 bytes) and goes as LMS
    (received,) = [r for r in results if r.template.path == "case.received/sms.j2"]
    full = next(r for r in received.renders if r.sample.endswith("/full.json"))
    assert "접수번호: 2026-0001234" in full.rendered.body
    assert "처리기한: 11. 26.(목) 18:00" in full.rendered.body


def test_no_shipped_sms_template_has_unsafe_characters(results: list[CheckResult]) -> None:
    for result in results:
        assert result.literal_unsafe == (), result.template.path
        assert result.replaced == 0, result.template.path
