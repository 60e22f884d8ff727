"""`minwon-hub templates check` and `minwon-hub templates preview`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hub.cli import main

ROOT = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped templates, named by MINWON__TEMPLATES__DIR."""
    copy = tmp_path / "templates"
    shutil.copytree(ROOT, copy)
    monkeypatch.delenv("MINWON_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINWON__TEMPLATES__DIR", str(copy))
    monkeypatch.setenv("MINWON__ORGS__GUMI__NAME", "구미시")
    monkeypatch.setenv("MINWON__ORGS__GUMI__CALLCENTER", "054-480-2114")
    return copy


def test_check_passes_over_the_shipped_templates(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["templates", "check"]) == 0
    out = capsys.readouterr().out
    assert "37 templates: 37 ok, 0 with errors" in out
    line = next(x for x in out.splitlines() if "case.received/sms.j2" in x)
    # ok, version, kind, bytes, samples and unsafe characters on one line
    assert line.startswith("ok ")
    assert " LMS " in line and " bytes " in line and "3 samples" in line
    assert line.endswith("unsafe: none")


def test_check_fails_on_a_literal_unsafe_character(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder / "case.received" / "sms.j2"
    path.write_text(
        path.read_text(encoding="utf-8").replace("접수되었습니다.", "접수😀"), encoding="utf-8"
    )
    assert main(["templates", "check"]) == 1
    out = capsys.readouterr().out
    assert "ERROR  case.received/sms.j2" in out
    assert "U+1F600" in out and "in template: 😀" in out


def test_check_reports_each_kind_of_problem(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a syntax error, a sample the template fails, a stray file and a missing channel
    (folder / "case.progress" / "push.j2").write_text("{% block title %}{{ x {% endblock %}")
    sample = json.loads((folder / "case.answered/samples/full.json").read_text("utf-8"))
    sample["data"]["answer"] = {"summary": "가" * 1200, "outcome": "accepted"}
    (folder / "case.answered/samples/huge.json").write_text(json.dumps(sample))
    (folder / "stray.j2").write_text("x")
    (folder / "case.flagged" / "email.j2").unlink()
    # When the check runs / Then it fails and names each
    assert main(["templates", "check"]) == 1
    out = capsys.readouterr().out
    assert "ERROR  case.progress/push.j2" in out and "line 1" in out
    assert "case.answered/samples/huge.json (citizen): SMS body is" in out
    assert "ERROR  stray.j2: not where templates go" in out
    assert "ERROR  case.flagged/email.j2: missing" in out


def test_check_rejects_a_sample_the_hub_would_reject(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = json.loads((folder / "case.received/samples/full.json").read_text("utf-8"))
    del sample["data"]["case"]["department"]
    (folder / "case.received/samples/bad.json").write_text(json.dumps(sample))
    assert main(["templates", "check"]) == 1
    assert "is not an event the hub accepts" in capsys.readouterr().out


def test_preview_sms_prints_kind_bytes_subject_and_body(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["templates", "preview", "case.received", "sms"]) == 0
    out = capsys.readouterr().out
    body = (
        "[구미시] 홍길동님 민원이 접수되었습니다.\n접수번호: 2026-0001234\n"
        "처리기한: 11. 26.(목) 18:00\n담당: 도로철도과 김담당 054-480-0000\n"
        "문의: 구미시 민원콜센터 054-480-2114"
    )
    assert f"kind:     LMS, {len(body.encode('cp949'))} bytes (limit 2000)" in out
    assert "subject:  [구미시] 민원 접수 안내  (23 bytes, limit 40)" in out
    assert f"\n{body}\n" in out
    assert "template: case.received/sms.j2 (version " in out


def test_preview_of_an_unknown_event_type_names_the_type_not_the_samples(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["templates", "preview", "case.recieved", "sms"]) == 1
    err = capsys.readouterr().err
    assert "unknown event type 'case.recieved'; did you mean case.received?" in err
    assert "samples" not in err
    assert main(["templates", "preview", "zzz", "sms"]) == 1
    assert "known: case.received, " in capsys.readouterr().err


def test_preview_uses_the_organisation_override_and_its_sample(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = folder / "orgs/gumi/case.answered/samples/urgent.json"
    assert main(["templates", "preview", "case.answered", "sms", "--sample", str(sample)]) == 0
    out = capsys.readouterr().out
    assert "template: orgs/gumi/case.answered/sms.j2" in out
    assert "kind:     LMS" in out and "subject:  [구미시] 민원 처리결과" in out
    assert "곧 만족도 조사 문자를 보내 드립니다. 문의: 구미시 민원콜센터 054-480-2114" in out
    # the same notice for another organisation falls back to the default
    assert main(["templates", "preview", "case.answered", "sms", "--org", "pohang"]) == 0
    out = capsys.readouterr().out
    assert "template: case.answered/sms.j2" in out and "[pohang]" in out


def test_preview_email_writes_the_html_and_says_where(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mail.html"
    args = ["templates", "preview", "case.extended", "email", "--html-out", str(target)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "subject:  [구미시] 민원 처리기간 연장 안내 (2026-0001234)" in out
    assert "새 처리기한(처리완료 예정일): 2026년 12월 10일(목) 오후 6시" in out
    assert f"HTML part written to {target.resolve()}" in out
    html = target.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<strong>2026년 12월 10일(목) 오후 6시" in html


def test_preview_of_a_notice_with_two_recipients_shows_each(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["templates", "preview", "case.assigned", "push"]) == 0
    out = capsys.readouterr().out
    assert "to:       citizen 홍길동" in out and "to:       officer 김담당" in out
    assert main(["templates", "preview", "case.assigned", "push", "--role", "officer"]) == 0
    assert "citizen" not in capsys.readouterr().out.split("org:")[1]


def test_preview_shows_the_file_on_disk_even_when_it_is_broken(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "case.received" / "push.j2").write_text("{% block title %}{{ x {% endblock %}")
    assert main(["templates", "preview", "case.received", "push"]) == 1
    assert "case.received/push.j2: line 1" in capsys.readouterr().err


def test_check_refuses_a_template_that_runs_away_on_a_sample(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an sms template that loops without end (it would hang a check without a budget)
    path = folder / "case.received" / "sms.j2"
    path.write_text(path.read_text("utf-8").replace(
        "{% block body %}", "{% block body %}{% for a in range(100000) %}"
        "{% for b in range(100000) %}{% endfor %}{% endfor %}", 1), "utf-8")
    # When the check runs / Then it stops and names the budget, in English and Korean
    assert main(["templates", "check"]) == 1
    out = capsys.readouterr().out
    assert "ERROR  case.received/sms.j2" in out
    assert "over the template budget: loops ran over 10,000 steps" in out
    assert "반복이 10,000회를 넘었습니다" in out


def test_check_warns_when_an_sms_turns_lms_for_some_samples(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an SMS that fits 90 bytes with a short case title, and a sample with a long one
    (folder / "case.received" / "sms.j2").write_text(
        "{% block body %}{{ case.id }} {{ case.title }} 접수, 기한 "
        "{{ case.due_at|deadline('compact') }} {{ case.department }} {{ case.officer.name }} "
        "{{ org.callcenter|phone }}{% endblock %}", "utf-8")
    samples = folder / "case.received" / "samples"
    event = json.loads((samples / "full.json").read_text("utf-8"))
    for old in samples.glob("*.json"):
        old.unlink()
    event["data"]["case"]["title"] = "파손"
    (samples / "short-title.json").write_text(json.dumps(event, ensure_ascii=False), "utf-8")
    event["data"]["case"]["title"] = "아파트 단지 앞 횡단보도 신호등 고장"
    (samples / "zz-long-title.json").write_text(json.dumps(event, ensure_ascii=False), "utf-8")
    # When the templates are checked
    assert main(["templates", "check"]) == 0, capsys.readouterr().out  # a warning only
    out = capsys.readouterr().out
    # Then the line says LMS/SMS and the warning names the sample that turns LMS
    line = next(x for x in out.splitlines() if "case.received/sms.j2" in x)
    assert line.startswith("warn ") and " LMS/SMS " in line
    warning = next(x for x in out.splitlines() if "turns LMS" in x)
    assert "warning: an SMS for some samples turns LMS for others (over 90 bytes: " in warning
    assert "zz-long-title.json (" in warning
    assert "short-title.json" not in warning  # it stays an SMS
