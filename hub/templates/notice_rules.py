"""What a notice must (and must not) say, checked on rendered samples.

``templates check`` and the hot reload render every template against its
samples (:mod:`hub.templates.check`); these rules look at what came out:

* **구제절차** (errors): a ``case.answered`` SMS or e-mail is rendered once more
  for each outcome that is not ``accepted``, with a marker as ``answer.reason``;
  the notice must show the reason and the 구제절차: 이의신청 within 60 days
  (민원 처리에 관한 법률 §35), 행정심판 and 행정소송 within 90 days (법 §27).
  Push is exempt: a lock screen shows no outcome (see below); the link, the SMS
  and the e-mail carry it.
* **Contents** (errors): an SMS or e-mail states what the law asks of its kind of
  notice (:func:`missing_contents`, the table in docs/templates.ko.md): the unit, the
  official and a contact (시행령 §31), the case number and deadline of a 접수,
  the reason and both dates of an extension (시행령 §21), ... Each is looked
  up in the rendered text from the sample's own values.
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

from hub.templates.filters import (
    NOT_ACCEPTED,
    OUTCOMES,
    WorkingCalendar,
    deadline,
    deadline_day,
    deadline_end,
    phone,
)
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
    """What is wrong with the form of one rendered notice."""
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


# ------------------------------------------------------------------ contents

#: A requirement: what the notice must say, its basis, and the texts that say it
#: (any one will do), from the sample's values.
Need = tuple[str, str, tuple[str, ...]]


def _dates(value: Any) -> tuple[str, ...]:
    """Every way a template may write the deadline ``value``."""
    try:
        return tuple(deadline(value, s) for s in ("long", "official", "compact")) + tuple(
            deadline_day(value, s) for s in ("long", "official", "short", "compact")
        )
    except ValueError:
        return ()


def _common(data: Mapping[str, Any], profile: Mapping[str, Any]) -> list[Need]:
    case = data.get("case") or {}
    officer = case.get("officer") or {}
    contacts = tuple(
        phone(v) for v in (officer.get("phone"), profile.get("callcenter"),
                           profile.get("internal_phone")) if v
    )
    return [
        ("the responsible unit (case.department)", "시행령 §31", (str(case.get("department")),)),
        ("the official's name (case.officer.name)", "시행령 §31", (str(officer.get("name")),)),
        ("a contact number", "시행령 §31", contacts),
    ]


def _by_type(event_type: str, data: Mapping[str, Any]) -> list[Need]:
    case = data.get("case") or {}
    due = case.get("due_at")
    needs: list[Need] = []
    if event_type in ("case.received", "case.assigned", "case.due_soon", "case.overdue") and due:
        needs.append(("the deadline (case.due_at)", "법 §17, 시행령 §6", _dates(due)))
    if event_type == "case.received":
        needs.append(("the case number (case.id)", "법 §9", (str(case.get("id")),)))
    if event_type == "case.transferred":
        transfer = data.get("transfer") or {}
        needs.append(("the agency it went to", "법 §16", (str(transfer.get("to_agency")),)))
        if transfer.get("phone"):
            needs.append(("how to reach that agency", "시행령 §13",
                          (phone(transfer["phone"]),)))
    if event_type == "case.supplement_requested":
        supplement = data.get("supplement") or {}
        for item in supplement.get("items") or ():
            needs.append((f"the item to supply ({item})", "법 §22", (str(item),)))
        needs.append(("the 보완 deadline", "시행령 §24", _dates(supplement.get("due_at"))))
        needs.append(("that the deadline may be extended on request", "시행령 §24", ("연장",)))
        needs.append(("that missing it may lead to 반려", "시행령 §25", ("반려",)))
    if event_type == "case.extended":
        extension = data.get("extension") or {}
        needs.append(("the reason", "시행령 §21", (str(extension.get("reason")),)))
        needs.append(("the new deadline", "시행령 §21", _dates(extension.get("new_due_at"))))
        if due:
            needs.append(("the previous deadline", "시행령 §21", _dates(due)))
    if event_type == "case.progress":
        progress = data.get("progress") or {}
        needs.append(("the progress (progress.note)", "시행령 §23", (str(progress.get("note")),)))
        expected = progress.get("expected_at") or due
        if expected:
            needs.append(("the 처리예정일", "시행령 §23", _dates(expected)))
    if event_type == "case.answered":
        answer = data.get("answer") or {}
        needs.append(("the answer (answer.summary)", "법 §27", (str(answer.get("summary")),)))
        if answer.get("outcome") in OUTCOMES and answer["outcome"] != "other":
            needs.append(("the outcome", "법 §27", (OUTCOMES[answer["outcome"]],)))
    if event_type == "survey.requested":
        needs.append(("the survey link", "법 §26", (str((data.get("survey") or {}).get("url")),)))
    return needs


def missing_contents(
    template: TemplateFile,
    event: Mapping[str, Any],
    profile: Mapping[str, Any],
    rendered: Rendered,
) -> list[str]:
    """What ``rendered``, an SMS or e-mail of ``event``, fails to say (a push says
    none of it: its details are behind the link)."""
    if rendered.channel == "push":
        return []
    data = event.get("data") or {}
    return [
        f"the notice must state {what} ({basis})"
        for what, basis, says in _common(data, profile) + _by_type(template.event_type, data)
        if not any(s and s in rendered.body for s in says)
    ]
