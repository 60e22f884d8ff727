"""Korean twins of the checker's English messages: every message the checker writes
for a broken template has one (with the line first), and ``templates check --korean``
prints them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hub.cli import main
from hub.templates.korean import in_korean

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("english", "korean"), [
    ("line 3: unknown variable 'nmae' (templates see event, ...)",
     "3번째 줄: 알 수 없는 변수 'nmae'"),
    ("case.received/samples/full.json (citizen): line 2: no field 'nope' here (misspelt?)",
     "[견본 full.json] 2번째 줄: 여기에는 'nope' 필드가 없습니다"),
    ("missing block body; a sms template has body (and optionally subject)",
     "{% block body %} 블록이 없습니다. 문자(SMS) 템플릿에는 body(본문), subject(제목)"),
    ("unknown block foo; a push template has title and body", "알 수 없는 블록 foo"),
    ("SMS body is 2002 bytes; LMS allows at most 2000", "문자 본문이 2002바이트입니다"),
    ("characters SMS cannot carry are written in the template: '😀' (U+1F600)",
     "문자(SMS)로 보낼 수 없는 글자가 있습니다: '😀' (U+1F600)"),
    ("blocked by the sandbox: access to attribute '__class__' of 'str' object is unsafe. "
     "(templates may not ...)", "보안상 허용되지 않는 표현입니다"),
    ("the e-mail subject is empty", "메일 제목이 비어 있습니다"),
    ("line 1: Encountered unknown tag 'endblock'. Jinja was looking for the following tags: "
     "'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.",
     "1번째 줄: 문법 오류: {% if %} 을(를) 닫는 {% endif %} 이(가) 빠졌습니다"),
    ("line 4: unexpected '}'", "4번째 줄: 문법 오류: 여기에 '}' 이(가) 올 수 없습니다"),
    ("line 1: No filter named 'wonn'.", "'wonn' 라는 필터가 없습니다"),
    ('the e-mail HTML must say its language: <html lang="ko">', "메일 HTML에 언어를 적으세요"),
    ("with answer.outcome=rejected: an answer that is not accepted must state its reason "
     "and the 구제절차 (이의신청 60일, 법 §35; 행정심판·행정소송 90일, 법 §27); missing: 이의신청",
     "처리결과가 rejected 일 때"),
    ("a push is read on the lock screen: show only ...; this one shows case.title",
     "지금 보이는 것: case.title"),
])
def test_checker_messages_have_korean_twins(english: str, korean: str) -> None:
    problem = in_korean(english)
    assert korean in str(problem)
    assert not problem.message.startswith("템플릿 오류")
    assert problem.english == english


def test_a_message_without_a_twin_is_kept_in_english() -> None:
    assert str(in_korean("something new")) == "템플릿 오류: something new"


def test_check_prints_the_korean_twins(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    (folder / "case.received/sms.j2").write_text(
        "{% block body %}\n{{ case.nope }}\n{% endblock %}\n", encoding="utf-8")
    assert main(["templates", "check", "--dir", str(folder), "--korean"]) == 1
    out = capsys.readouterr().out
    assert "no field 'nope' here" in out and "2번째 줄: 여기에는 'nope' 필드가 없습니다" in out
