"""Korean twins of the template checker's English messages, for editors (the studio,
``templates check --korean``).

The checker (:mod:`hub.templates.check`, :mod:`hub.templates.rendering`) writes one
English line per problem for operators; :func:`in_korean` says the same in Korean,
keeping the line number (``3번째 줄``) first. A message with no twin yet is shown as
``템플릿 오류: <English>`` rather than lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_LINE = re.compile(r"^line (\d+): (.*)$", re.S)
_SAMPLE = re.compile(r"^(\S+\.json)(?: \((\w+)\))?: (.*)$", re.S)

_Twin = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]

_TWINS: list[_Twin] = [
    (re.compile(r"^unknown variable '(.+?)'"),
     lambda m: f"알 수 없는 변수 '{m[1]}' 입니다. 쓸 수 있는 것: event, case, citizen, "
               "recipient, org 와 이벤트의 다른 데이터 필드 (오른쪽 '필드' 목록)"),
    (re.compile(r"^no field '(.+?)' here"),
     lambda m: f"여기에는 '{m[1]}' 필드가 없습니다. 철자를 확인하세요. 없을 수도 있는 "
               "필드라면 {% if ... is defined %} 또는 |default('...') 를 쓰세요"),
    (re.compile(r"^missing block (.+?); a (\w+) template has (.*)$"),
     lambda m: f"{{% block {m[1]} %}} 블록이 없습니다. {_channel(m[2])} 템플릿에는 "
               f"{_blocks(m[3])} 블록이 있어야 합니다"),
    (re.compile(r"^unknown block (.+?); a (\w+) template has (.*)$"),
     lambda m: f"알 수 없는 블록 {m[1]} 입니다. {_channel(m[2])} 템플릿의 블록은 "
               f"{_blocks(m[3])} 입니다"),
    (re.compile(r"^SMS body is (\d+) bytes; LMS allows at most (\d+)"),
     lambda m: f"문자 본문이 {m[1]}바이트입니다. LMS는 최대 {m[2]}바이트입니다. 줄여 주세요"),
    (re.compile(r"^characters SMS cannot carry are written in the template: (.*)$", re.S),
     lambda m: f"문자(SMS)로 보낼 수 없는 글자가 있습니다: {m[1]}. 이모지 등은 휴대폰에 "
               "'?'로 보이거나 빠집니다. 지워 주세요"),
    (re.compile(r"^blocked by the sandbox: (.*)$", re.S),
     lambda m: f"보안상 허용되지 않는 표현입니다 ({m[1]}). 템플릿은 데이터를 읽기만 할 수 "
               "있습니다"),
    (re.compile(r"^include, import and extends are not available"),
     lambda m: "include, import, extends 는 쓸 수 없습니다. 템플릿은 파일 하나로 씁니다"),
    (re.compile(r"^the (e-mail subject|e-mail text|SMS body|push body) is empty"),
     lambda m: {"e-mail subject": "메일 제목", "e-mail text": "메일 본문",
                "SMS body": "문자 본문", "push body": "푸시 본문"}[m[1]]
     + "이 비어 있습니다"),
    (re.compile(r"^statements nested too deeply"),
     lambda m: "if/for 문이 너무 깊이 겹쳐 있습니다 (수백 단계). 겹치지 말고 차례로 "
               "쓰세요"),
    (re.compile(r"^not UTF-8 text \(byte (\d+)\)"),
     lambda m: f"UTF-8 글자가 아닙니다 ({m[1]}번째 바이트). UTF-8로 저장하세요"),
    (re.compile(r"^no samples: add a CloudEvent JSON file under (.*)$"),
     lambda m: f"견본(sample)이 없습니다. {m[1]} 에 CloudEvent JSON 파일을 추가하세요"),
    (re.compile(r"^names no recipient for this event type"),
     lambda m: "이 이벤트 유형의 수신자가 견본에 없습니다"),
    (re.compile(r"^unexpected end of template.*?'(\w+)'", re.S),
     lambda m: f"템플릿이 끝났는데 닫히지 않은 태그가 있습니다 ('{m[1]}' 이(가) 필요합니다). "
               "{% if %} 에는 {% endif %}, {% block %} 에는 {% endblock %}"),
    (re.compile(r"^unexpected end of template"),
     lambda m: "템플릿이 끝났는데 닫히지 않은 태그가 있습니다"),
    (re.compile(r"^Encountered unknown tag '(\w+)'.*innermost block that needs to be "
                r"closed is '(\w+)'", re.S),
     lambda m: f"문법 오류: {{% {m[2]} %}} 을(를) 닫는 {{% end{m[2]} %}} 이(가) 빠졌습니다 "
               f"('{m[1]}' 보다 먼저 와야 합니다)"),
    (re.compile(r"^Encountered unknown tag '(\w+)'"),
     lambda m: f"알 수 없는 태그 '{m[1]}' 입니다 (철자 확인, 또는 닫는 태그의 짝 확인)"),
    (re.compile(r"^unexpected '(.+?)'"),
     lambda m: f"문법 오류: 여기에 '{m[1]}' 이(가) 올 수 없습니다 (괄호나 {{{{ }}}} 짝 확인)"),
    (re.compile(r"^expected token '(.+?)', got '(.+?)'"),
     lambda m: f"문법 오류: '{m[1]}' 이(가) 와야 하는데 '{m[2]}' 이(가) 있습니다"),
    (re.compile(r"^no filter named '(.+?)'", re.I),
     lambda m: f"'{m[1]}' 라는 필터가 없습니다. 쓸 수 있는 필터는 오른쪽 목록에 있습니다"),
    (re.compile(r"^the e-mail HTML must be a whole document"),
     lambda m: "메일 HTML은 완전한 문서여야 합니다: <!DOCTYPE html> 로 시작하세요"),
    (re.compile(r"^the e-mail HTML must say its language"),
     lambda m: '메일 HTML에 언어를 적으세요: <html lang="ko">'),
    (re.compile(r"^the e-mail HTML must have a <title>"),
     lambda m: "메일 HTML에 <title> 이 있어야 합니다 (메일 프로그램이 보여 줍니다)"),
    (re.compile(r"^with answer\.outcome=(\w+): an answer that is not accepted must state "
                r"its reason and the 구제절차.*missing: (.*)$", re.S),
     lambda m: f"처리결과가 {m[1]} 일 때(받아들이지 않은 답변)는 사유와 구제절차(이의신청 "
               f"60일, 행정심판·행정소송 90일)를 알려야 합니다. 빠진 것: {m[2]}"),
    (re.compile(r"^a push is read on the lock screen.*this one shows (.*)$", re.S),
     lambda m: f"푸시는 잠금 화면에 보입니다. 기관, 알림 종류, 민원 번호만 보이게 하고 "
               f"자세한 내용은 링크 뒤에 두세요. 지금 보이는 것: {m[1]}"),
    (re.compile(r"^(\S+)\|(\w+) shows a deadline at 00:00 as the next day; write (\S+)"),
     lambda m: f"{m[1]}|{m[2]} 는 00:00 기한을 다음 날로 보여 줍니다. {m[3]} 을(를) 쓰세요 "
               "(전날 24:00)"),
    (re.compile(r"^(\S+) ends on a day off \((.+?)\)"),
     lambda m: f"견본의 {m[1]} 이(가) 쉬는 날({m[2]})에 끝납니다. 법 §19는 근무일로 셉니다"),
    (re.compile(r"^over the template budget: (.*)$", re.S),
     lambda m: f"실행 한도를 넘었습니다 (반복이 끝나지 않거나 너무 깁니다): {m[1]}"),
    (re.compile(r"^unknown channel '(.+?)'"),
     lambda m: f"알 수 없는 채널 '{m[1]}' 입니다 (sms, email, push)"),
]

_CHANNELS = {"sms": "문자(SMS)", "email": "메일", "push": "푸시"}
_BLOCKS = {"body": "body(본문)", "subject": "subject(제목)", "text": "text(텍스트 본문)",
           "html": "html(HTML 본문)", "title": "title(제목)"}


def _channel(name: str) -> str:
    return _CHANNELS.get(name, name)


def _blocks(text: str) -> str:
    names = re.findall(r"[a-z]+", text.replace("optionally", "").replace("and", ""))
    return ", ".join(_BLOCKS.get(n, n) for n in names)


@dataclass(frozen=True)
class Problem:
    """One problem, for the editor: the line (when known), the sample it came from,
    the Korean message and the English original."""

    message: str
    line: int | None = None
    sample: str | None = None
    english: str = ""

    def __str__(self) -> str:
        where = f"{self.line}번째 줄: " if self.line else ""
        sample = f"[견본 {self.sample}] " if self.sample else ""
        return sample + where + self.message


def in_korean(english: str) -> Problem:
    """The Korean twin of one checker message."""
    text = english.strip()
    sample = None
    found = _SAMPLE.match(text)
    if found:
        sample, text = found[1].rsplit("/", 1)[-1], found[3]
    line = None
    found = _LINE.match(text)
    if found:
        line, text = int(found[1]), found[2]
    for pattern, say in _TWINS:
        match = pattern.search(text)
        if match:
            return Problem(say(match), line, sample, english)
    return Problem(f"템플릿 오류: {text}", line, sample, english)
