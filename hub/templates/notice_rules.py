"""What a notice must (and must not) say, checked on rendered samples.

``templates check`` and the hot reload render every template against its
samples (:mod:`hub.templates.check`); these rules look at what came out:

* **구제절차** (errors): a ``case.answered`` SMS or e-mail is rendered once more
  for each outcome that is not ``accepted``, with a marker as ``answer.reason``;
  the notice must show the reason and the 구제절차: 이의신청 within 60 days
  (민원 처리에 관한 법률 §35), 행정심판 and 행정소송 within 90 days (법 §27).
  Push is exempt: a lock screen shows no outcome (see below); the link, the SMS
  and the e-mail carry it.
* **Complete e-mail** (errors): the HTML part is a whole document with
  ``<!DOCTYPE html>``, ``<html lang="ko">`` and a non-empty ``<title>``.
* **Deadlines** (errors, on the template source): a deadline field written with
  ``kdate``/``kdatetime``/``ktime``, which show a deadline stored at 00:00 as the
  next day; ``deadline``/``deadline_day`` show it as the previous day 24:00.
* **Lock screen** (warnings): a push title or body that shows a value from the
  event other than the case number, the kind of complaint, links and dates
  (a name, a phone number, the title, the answer, a reason, 보완 items ...).
* **Deadline on a day off** (warnings): a sample whose deadline ends on a
  Saturday, Sunday or public holiday (법 §19 does not count them; an upstream
  that sets such a deadline has counted wrong, and the notice would repeat it).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.templates.filters import NOT_ACCEPTED, WorkingCalendar, deadline_day, deadline_end
from hub.templates.layout import TemplateFile
from hub.templates.rendering import Rendered

#: Put in ``answer.reason`` to see that a template states the reason. ASCII, so
#: that it survives every channel's character policy unchanged.
REASON_MARKER = "REASON-CHECK-7Q3"

#: Words a not-accepted answer must carry, and what each stands for.
REDRESS: tuple[tuple[str, str], ...] = (
    ("이의신청", "이의신청 (법 §35)"),
    ("60일", "the 60 days of the 이의신청"),
    ("행정심판", "행정심판"),
    ("행정소송", "행정소송"),
    ("90일", "the 90 days of 행정심판 and 행정소송"),
)

#: Fields of ``data`` a lock screen may show (dotted paths; a key alone matches
#: at any depth).
LOCK_SCREEN_SAFE_PATHS = frozenset({"org", "case.id", "case.kind", "case.url", "answer.outcome"})
LOCK_SCREEN_SAFE_KEYS = frozenset({"url", "push_token", "channels", "days_left"})


@dataclass(frozen=True)
class Variant:
    """A sample changed to exercise a rule, and the rule's test of the result."""

    label: str
    event: Mapping[str, Any]
    problem: Callable[[Rendered], str | None]


def _all_text(rendered: Rendered) -> str:
    return "\n".join(part for part in (rendered.subject, rendered.body, rendered.html) if part)


def _redress_problem(rendered: Rendered) -> str | None:
    text = _all_text(rendered)
    missing = [] if REASON_MARKER in text else ["answer.reason"]
    missing += [what for word, what in REDRESS if word not in text]
    if not missing:
        return None
    return (
        "an answer that is not accepted must state its reason and the 구제절차 "
        "(이의신청 60일, 법 §35; 행정심판·행정소송 90일, 법 §27); missing: " + ", ".join(missing)
    )


def variants(template: TemplateFile, event: Mapping[str, Any]) -> Iterator[Variant]:
    """The changed samples a template is also rendered with."""
    if template.event_type != "case.answered" or template.channel == "push":
        return
    if not isinstance(event.get("data", {}).get("answer"), Mapping):
        return
    for outcome in NOT_ACCEPTED:
        changed = copy.deepcopy(dict(event))
        changed["data"]["answer"].update(outcome=outcome, reason=REASON_MARKER)
        yield Variant(f"answer.outcome={outcome}", changed, _redress_problem)


_DOCTYPE = re.compile(r"^\s*<!doctype html>", re.IGNORECASE)
_HTML_LANG = re.compile(r"<html\b[^>]*\blang=\"ko\"", re.IGNORECASE)
_TITLE = re.compile(r"<title>\s*(?P<text>[^<]*?)\s*</title>", re.IGNORECASE)


def errors(template: TemplateFile, rendered: Rendered) -> list[str]:
    """What is wrong with one rendered notice."""
    found: list[str] = []
    if rendered.channel == "email" and rendered.html is not None:
        html = rendered.html
        if not _DOCTYPE.match(html):
            found.append("the e-mail HTML must be a whole document: begin with <!DOCTYPE html>")
        if not _HTML_LANG.search(html):
            found.append('the e-mail HTML must say its language: <html lang="ko">')
        title = _TITLE.search(html)
        if title is None or not title.group("text"):
            found.append("the e-mail HTML must have a <title> (mail clients show it)")
    return found


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _details(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, text) of every value in ``node`` a lock screen must not show."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if child in LOCK_SCREEN_SAFE_PATHS or key in LOCK_SCREEN_SAFE_KEYS:
                continue
            yield from _details(value, child)
    elif isinstance(node, list):
        for item in node:
            yield from _details(item, f"{path}[]")
    elif isinstance(node, str):
        text = node.strip()
        if len(text) >= 2 and not _is_datetime(text):
            yield path, text


def lock_screen_details(event: Mapping[str, Any], rendered: Rendered) -> set[str]:
    """The fields of ``event`` a push notice shows on a lock screen (dotted paths)."""
    if rendered.channel != "push":
        return set()
    shown = f"{rendered.subject or ''}\n{rendered.body}"
    return {path for path, text in _details(event.get("data") or {}) if text in shown}


def lock_screen_warning(paths: set[str]) -> str:
    return (
        "a push is read on the lock screen: show only the organisation, the kind of "
        "notice and the case number (details behind the link); this one shows "
        + ", ".join(sorted(paths))
    )


#: Deadline fields of ``data`` (dotted paths) and the template names they go by.
DEADLINES = ("case.due_at", "extension.new_due_at", "supplement.due_at", "survey.until")
#: The deadlines the law counts in working days (법 §19; 보완 시행령 §24).
LEGAL_DEADLINES = DEADLINES[:3]
_DEADLINE_NAMES = "|".join(sorted({path.rsplit(".", 1)[-1] for path in DEADLINES}))
_DATE_FILTER_ON_DEADLINE = re.compile(
    rf"\b(?P<field>{_DEADLINE_NAMES})\s*\|\s*(?P<filter>kdate|kdatetime|ktime)\b"
)


def source_errors(source: str) -> list[str]:
    """What is wrong in a template's text itself."""
    found = []
    for match in _DATE_FILTER_ON_DEADLINE.finditer(source):
        line = source.count("\n", 0, match.start()) + 1
        field_, filter_ = match.group("field"), match.group("filter")
        better = "deadline_day" if filter_ == "kdate" else "deadline"
        found.append(
            f"line {line}: {field_}|{filter_} shows a deadline at 00:00 as the next day; "
            f"write {field_}|{better} (the previous day 24:00)"
        )
    return found


def _at(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


_CALENDAR = WorkingCalendar()


def deadlines_off(event: Mapping[str, Any], calendar: WorkingCalendar = _CALENDAR) -> list[str]:
    """The deadlines of ``event`` that end on a day off, described."""
    data = event.get("data") or {}
    found = []
    for path in LEGAL_DEADLINES:
        value = _at(data, path)
        if not isinstance(value, str):
            continue
        try:
            day = deadline_end(value)[0]
        except ValueError:
            continue
        if not calendar.is_working_day(day):
            found.append(
                f"{path} ends on a day off ({deadline_day(value, 'long')}): 법 §19 counts working "
                "days only; check how the deadline was computed"
            )
    return found
