"""``minwon-hub trace CASE_ID``: a case's full story from the ledger.

The case's events and every notice with its status history, merged into one time line
(oldest first), then a summary line per notice. Recipients are shown masked only
(``홍*동 <010-****-5678>``): the raw address and its hash never leave the ledger here,
even when ``ledger.store_raw_address`` is on. Times are shown in the configured time
zone (``policy.timezone``, Asia/Seoul by default); the JSON form keeps ISO 8601 UTC.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub.ledger import CaseStory, Ledger, NoticeRecord

DEFAULT_TZ = "Asia/Seoul"


@dataclass(frozen=True)
class Step:
    """One line of the time line."""

    at: datetime
    kind: str  # "event" or the notice's channel
    subject: str  # event type / notice recipient
    status: str
    ref: str  # event id / notification id
    attempt: int | None = None
    provider: str | None = None
    reason: str | None = None


def timeline(story: CaseStory) -> list[Step]:
    """Events and notice history entries in time order (ties keep events first, then
    the ledger's own order)."""
    steps: list[tuple[datetime, int, int, Step]] = []
    for order, ev in enumerate(story.events):
        steps.append((ev.received_at, 0, order, Step(
            ev.received_at, "event", ev.type, ev.status, ev.id, reason=ev.reason)))
    seq = 0
    for notice in story.notices:
        who = f"{notice.recipient_role} {notice.recipient_masked}".strip()
        for entry in notice.history:
            seq += 1
            steps.append((entry.at, 1, seq, Step(
                entry.at, notice.channel, who, entry.status, notice.id, entry.attempt,
                entry.provider, entry.reason)))
    steps.sort(key=lambda s: (s[0], s[1], s[2]))
    return [s[3] for s in steps]


def trace(ledger: Ledger, case_id: str) -> CaseStory:
    return ledger.case_story(case_id)


# -- rendering -------------------------------------------------------------------
def _width(text: str) -> int:
    """Terminal columns: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [_width(h) for h in headers]
    for row in rows:
        widths = [max(w, _width(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    return "\n".join(lines)


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return "" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _short(ref: str) -> str:
    return ref if len(ref) <= 12 else ref[:8] + "…"


def render_text(story: CaseStory, tz: str = DEFAULT_TZ) -> str:
    zone = ZoneInfo(tz)
    n_ev, n_no = len(story.events), len(story.notices)
    if not n_ev and not n_no:
        return f"Case {story.case_id}: nothing in the ledger."
    head = (f"Case {story.case_id}: {n_ev} event{'s' * (n_ev != 1)}, "
            f"{n_no} notice{'s' * (n_no != 1)} (times {zone.key})")
    steps = [
        [_local(s.at, zone), s.kind, s.subject, s.status,
         "" if s.attempt is None else str(s.attempt), s.provider or "", _short(s.ref),
         s.reason or ""]
        for s in timeline(story)
    ]
    summary = [
        [_short(n.id), n.channel, n.recipient_role, n.recipient_masked, n.template,
         n.status, str(n.attempts), n.provider or "", n.provider_message_id or "",
         _local(n.updated_at, zone)]
        for n in story.notices
    ]
    parts = [head, "", table(
        ["time", "what", "subject", "status", "attempt", "provider", "ref", "reason"], steps)]
    if summary:
        parts += ["", "Notices", table(
            ["notice", "channel", "role", "recipient", "template", "status", "attempts",
             "provider", "message id", "last change"], summary)]
    return "\n".join(parts)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _notice_json(n: NoticeRecord) -> dict[str, Any]:
    return {
        "id": n.id, "event_id": n.event_id, "case_id": n.case_id, "org": n.org,
        "channel": n.channel, "event_type": n.event_type,
        "recipient": {"role": n.recipient_role, "masked": n.recipient_masked},
        "template": n.template, "template_version": n.template_version,
        "provider": n.provider, "provider_message_id": n.provider_message_id,
        "status": n.status, "attempts": n.attempts, "created_at": _iso(n.created_at),
        "updated_at": _iso(n.updated_at),
        "history": [
            {"status": h.status, "at": _iso(h.at), "attempt": h.attempt,
             "reason": h.reason, "provider": h.provider}
            for h in n.history
        ],
    }


def as_json(story: CaseStory) -> dict[str, Any]:
    return {
        "case_id": story.case_id,
        "events": [
            {"id": e.id, "type": e.type, "org": e.org, "source": e.source,
             "time": _iso(e.time), "received_at": _iso(e.received_at),
             "status": e.status, "reason": e.reason}
            for e in story.events
        ],
        "notices": [_notice_json(n) for n in story.notices],
        "timeline": [
            {"at": _iso(s.at), "kind": s.kind, "subject": s.subject, "status": s.status,
             "ref": s.ref, "attempt": s.attempt, "provider": s.provider, "reason": s.reason}
            for s in timeline(story)
        ],
    }


def render_json(story: CaseStory) -> str:
    return json.dumps(as_json(story), ensure_ascii=False, indent=2)
