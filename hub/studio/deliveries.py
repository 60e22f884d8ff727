"""The studio's calls into the rest of the hub: a case's story from the ledger (masked
as ``trace`` shows it), the dead letters on ``hub.dead`` (:mod:`hub.admin.dlq`), their
replay, and the "send a test to me" through the channel's real provider chain."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from hub import metrics
from hub.jobs import Job, Recipient
from hub.ledger import SENT, CaseStory, NoticeRecord
from hub.ledger.privacy import address_hash
from hub.ledger.schema import notices
from hub.studio.accounts import User
from hub.trace import Step, timeline

if TYPE_CHECKING:
    from hub.studio.app import StudioContext

_HASH = re.compile(r"^[0-9a-f]{64}$")
_PHONE = re.compile(r"^(?:\+82[\s-]?|0)[\d\s()\-.]{7,16}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
TEST_CASE = "studio-test"  # the case id test sends are recorded under


def looks_like_address(text: str) -> bool:
    return bool(_EMAIL.match(text) or _PHONE.match(text))


@dataclass
class Found:
    """What a look-up found: a case's story, or the notices to one address."""

    query_kind: str  # "case" | "address" | "hash"
    case_id: str | None = None
    steps: list[Step] = field(default_factory=list)
    notices: list[NoticeRecord] = field(default_factory=list)
    events: int = 0


def _org_story(story: CaseStory, org: str | None) -> CaseStory:
    if org is None:
        return story
    return CaseStory(story.case_id, [e for e in story.events if e.org == org],
                     [n for n in story.notices if n.org == org])


def lookup(ctx: StudioContext, query: str, org: str | None) -> Found:
    """A case id, a phone number / e-mail address, or its keyed hash (64 hex digits,
    as ``trace`` and the opt-out list show it); a case the ledger knows wins over an
    address of the same spelling. ``org`` limits what is shown."""
    ledger = ctx.ledger
    story = _org_story(ledger.case_story(query), org)
    if story.events or story.notices or not (_HASH.match(query) or looks_like_address(query)):
        return Found("case", story.case_id, timeline(story), story.notices,
                     len(story.events))
    digest = query if _HASH.match(query) else address_hash(query, ledger.hash_key)
    with ledger.engine.connect().execution_options(ledger_read=True) as conn:
        ids = list(conn.execute(
            select(notices.c.id).where(notices.c.recipient_hash == digest)
            .order_by(notices.c.created_at.desc()).limit(200)).scalars())
    found = [n for n in (ledger.notice(i) for i in ids) if n is not None]
    found = [n for n in found if org is None or n.org == org]
    return Found("hash" if _HASH.match(query) else "address", notices=found)


def dead_letters(ctx: StudioContext, org: str | None,
                 ids: set[str] | None = None) -> list[Any]:
    from hub.admin.dlq import Filter, collect
    from hub.topology import DEAD_QUEUE

    where = Filter(org=org, ids=frozenset(ids or ()))
    return collect(ctx.broker_url, DEAD_QUEUE, where, limit=200)


def replay(ctx: StudioContext, notice_id: str, org: str | None) -> str:
    """Put one parked notice back on its channel queue; says what happened (English,
    for the audit log; the page translates the outcome)."""
    from hub.admin.dlq import Filter, Replay
    from hub.topology import DEAD_QUEUE

    result = Replay(ctx.broker_url, ctx.ledger).run(
        DEAD_QUEUE, Filter(org=org, ids=frozenset({notice_id})), limit=1)
    if result.replayed:
        return "replayed"
    if result.already_sent:
        return "already_sent"
    if result.in_progress:
        return "in_progress"
    if result.refused:
        return "refused"
    if result.not_replayable:
        return "not_replayable"
    return "not_found"


def send_test(ctx: StudioContext, user: User, org: str, event_type: str, channel: str,
              path: str, render: dict[str, Any], address: str) -> str:
    """Send the first sample's notice to the user's own address through the channel's
    provider chain; recorded in the ledger under case ``studio-test`` with the reason
    "test", counted in ``minwon_studio_test_sends_total``."""
    from channels.base import Message, SendError

    org_key = org if org != "_" else user.org
    profile = ctx.org_profile(org_key)
    notification_id = f"test-{uuid.uuid4().hex}"
    job = Job(
        notification_id=notification_id, event_id=notification_id, event_type=event_type,
        case_id=TEST_CASE, org=org_key, channel=channel, template=path, critical=False,
        recipient=Recipient("editor", "editor", user.name, address),
        event={"id": notification_id, "type": event_type, "source": "studio"}, data={},
        rule="studio-test",
    )
    subject = render.get("subject")
    message = Message(
        notification_id=notification_id, event_id=notification_id, event_type=event_type,
        case_id=TEST_CASE, org=org_key, channel=channel, to=address,
        body=("[시험] " + render["body"]) if channel != "email" else render["body"],
        subject=("[시험] " + subject) if channel == "email" and subject else subject,
        html=render.get("html"), kind=render.get("kind"),
        sender=profile.get("email_from") if channel == "email" else profile.get("sms_sender"),
        recipient_name=user.name, template=path, extra={"test": True},
    )
    try:
        receipt = ctx.sender_factory(channel).send(message)
    except SendError as exc:
        metrics.STUDIO_TEST_SENDS.labels(channel, "failed").inc()
        ctx.ledger.record(job, "failed", attempt=1, reason=f"test send failed: {exc}")
        return f"failed: {exc}"
    metrics.STUDIO_TEST_SENDS.labels(channel, "sent").inc()
    ctx.ledger.record(job, SENT, attempt=1, provider=receipt.provider,
                      message_id=receipt.message_id,
                      reason=f"test send from the studio by {user.name}")
    return f"sent via {receipt.provider}"


def now() -> datetime:
    return datetime.now(UTC)
