"""The ledger interface: the record of every notice, and the claim that makes a send
happen once.

Life of a notice (``notices.status``), one row per ``notification_id`` (the stable key
of (event, recipient, channel)):

* ``queued``: the router published the job (optional record).
* ``sending``: a worker *claimed* it and is calling a provider (``owner``, ``claimed_at``).
* ``sent``: a provider accepted it. Final: a ``sent`` row never changes status again.
* ``retrying`` / ``deferred`` / ``failed``: not sent yet; the next delivery may claim it.
* ``skipped`` (with reason) / ``dead`` (parked): final unless an operator re-queues the
  job (``dlq replay`` records ``queued`` first, which makes it claimable again).

Every status change is also appended to ``notice_history`` (status, time, attempt,
reason, provider), which is what ``trace`` shows.

**Fencing.** Every claim carries a *token* (:attr:`Claim.token`: this ledger's owner
``host:pid``, a per-process nonce and a counter), kept in the row's ``owner`` column.
The claimant passes it back to :meth:`Ledger.record`, which writes only while the row
is still ``sending`` under that token: a worker whose claim went stale (the sweeper
moved it on, another worker claimed it) has its late record refused, so it can never
overwrite the new holder's state or reopen the notice for a third claim. One
exception keeps facts: a late ``sent`` settles a notice that nobody holds (re-sendable),
and where another worker holds it the refused ``sent`` still lands in the history
(the citizen did get that message).

The base class :class:`Ledger` keeps nothing (every claim is NEW, every hook does
nothing), dramatiq style: subclasses override what they store.
"""

from __future__ import annotations

import enum
import itertools
import os
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.jobs import Job, header_time
from hub.ledger.privacy import address_hash, mask_recipient

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
RETRYING = "retrying"
DEFERRED = "deferred"
SKIPPED = "skipped"
FAILED = "failed"
DEAD = "dead"

#: Every status a notice can have.
STATUSES: frozenset[str] = frozenset(
    {QUEUED, SENDING, SENT, RETRYING, DEFERRED, SKIPPED, FAILED, DEAD}
)
#: A claim on a notice in one of these states succeeds (NEW).
RESENDABLE: frozenset[str] = frozenset({QUEUED, RETRYING, DEFERRED, FAILED})
#: A claim on a notice in one of these states answers DONE: ack without sending.
SETTLED: frozenset[str] = frozenset({SENT, DEAD, SKIPPED})

STALE_REASON = "stale claim (worker died?)"
#: History reason of a ``sent`` refused because the claim had passed to another worker.
LATE_SENT_REASON = "late record: the provider accepted it after the claim had passed on"

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_owner() -> str:
    """Who claims: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time (or datetime) as aware UTC; None when absent or unreadable."""
    moment = header_time(value)
    return None if moment is None else moment.astimezone(UTC)


def event_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of an ``events`` row, from a CloudEvent (data optional)."""
    data = event.get("data")
    data = data if isinstance(data, Mapping) else {}
    case = data.get("case")
    case_id = case.get("id") if isinstance(case, Mapping) else None
    return {
        "id": str(event.get("id", "")),
        "type": str(event.get("type", "")),
        "case_id": str(case_id or event.get("subject") or "") or None,
        "org": str(data.get("org") or event.get("org") or ""),
        "source": str(event.get("source", "")),
        "time": parse_time(event.get("time")),
    }


class ClaimState(enum.Enum):
    NEW = "new"  # claimed: this worker sends
    DONE = "done"  # already sent / dead / skipped: ack without sending
    BUSY = "busy"  # another (maybe dead) worker holds it: re-delay, no attempt counted


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    status: str | None = None  # the notice's current status when DONE / BUSY
    token: str | None = None  # when NEW: pass it to record() (the fence)


@dataclass(frozen=True, slots=True)
class Write:
    """One ledger write of a notice's outcome (:meth:`Ledger.record_many`): the arguments of
    :meth:`Ledger.record` as a value."""

    job: Job
    status: str
    attempt: int
    provider: str | None = None
    message_id: str | None = None
    reason: str | None = None
    template_version: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    status: str
    at: datetime
    attempt: int
    reason: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class NoticeRecord:
    """One notice as the ledger holds it (recipient masked)."""

    id: str
    event_id: str
    case_id: str | None
    org: str
    channel: str
    event_type: str
    recipient_role: str
    recipient_masked: str
    recipient_hash: str
    template: str
    template_version: str | None
    provider: str | None
    provider_message_id: str | None
    status: str
    attempts: int
    created_at: datetime
    updated_at: datetime
    claimed_at: datetime | None = None
    owner: str | None = None
    recipient_address: str | None = None  # only with ``store_raw_address``
    history: tuple[HistoryEntry, ...] = ()


@dataclass(frozen=True)
class EventRecord:
    """A case event the router took (no personal data)."""

    id: str
    type: str
    case_id: str | None
    org: str
    source: str
    time: datetime | None
    received_at: datetime
    status: str
    reason: str | None = None


@dataclass(frozen=True)
class CaseStory:
    """Everything the ledger knows about one case: what ``trace`` prints."""

    case_id: str
    events: list[EventRecord] = field(default_factory=list)
    notices: list[NoticeRecord] = field(default_factory=list)  # with history


@dataclass(frozen=True)
class PurgeResult:
    notices: int = 0
    history: int = 0
    events: int = 0


class Ledger:
    """Base ledger: stores nothing, every claim is NEW, every hook does nothing.

    Contract for subclasses:

    * :meth:`claim` and :meth:`record` are thread-safe, are called from many send
      threads at once, and return only once the change is durable.
    * Timestamps are timezone-aware UTC, taken from ``clock``.
    """

    def __init__(
        self,
        *,
        hash_key: bytes = b"",
        store_raw_address: bool = False,
        owner: str | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.hash_key = hash_key
        self.store_raw_address = store_raw_address
        self.owner = owner or default_owner()
        self.clock = clock
        # Claim tokens: owner, a nonce of this ledger object (a restarted process may
        # reuse host and pid), a counter. Unique, so a stale holder never matches.
        self._nonce = secrets.token_hex(4)
        self._tokens = itertools.count(1)

    def new_token(self) -> str:
        """A fresh claim token (thread-safe: ``itertools.count`` is atomic in CPython)."""
        return f"{self.owner}/{self._nonce}.{next(self._tokens)}"

    _FIELDS_CACHE_SIZE = 8192

    def notice_fields(self, job: Job) -> dict[str, Any]:
        """The columns of a new notice row that come from the job (masked, hashed).

        Cached per notice: a notice's claim and its outcome record need the same
        columns, and masking plus a keyed hash cost more than the rest of a write."""
        cache: dict[str, dict[str, Any]] = self.__dict__.setdefault("_fields_cache", {})
        found = cache.get(job.notification_id)
        if found is not None:
            return dict(found)
        if len(cache) >= self._FIELDS_CACHE_SIZE:
            cache.clear()
        fields = self._notice_fields(job)
        cache[job.notification_id] = fields
        return dict(fields)

    def _notice_fields(self, job: Job) -> dict[str, Any]:
        address = job.recipient.address or ""
        return {
            "id": job.notification_id,
            "event_id": job.event_id,
            "case_id": job.case_id,
            "org": job.org,
            "channel": job.channel,
            "event_type": job.event_type,
            "recipient_role": job.recipient.role,
            "recipient_masked": mask_recipient(job.recipient.name, address, job.channel),
            "recipient_hash": address_hash(address, self.hash_key) if address else "",
            "recipient_address": address if self.store_raw_address else None,
            "template": job.template,
        }

    # -- the worker's calls ------------------------------------------------------
    def claim(self, job: Job, attempt: int) -> Claim:
        """Take the notice for sending.

        NEW: no row yet, or a re-sendable one (queued/retrying/deferred/failed); the row
        is now ``sending`` with this ledger's ``owner`` and ``claimed_at``.
        DONE: the row is sent / dead / skipped: ack without sending.
        BUSY: the row is ``sending`` (another worker, or a dead one): re-delay without
        counting an attempt; the sweeper resolves stale claims.

        A NEW claim carries its :attr:`Claim.token`, to be passed to :meth:`record`.
        """
        return Claim(ClaimState.NEW, token=self.new_token())

    def record(
        self,
        job: Job,
        status: str,
        *,
        attempt: int,
        provider: str | None = None,
        message_id: str | None = None,
        reason: str | None = None,
        template_version: str | None = None,
        token: str | None = None,
    ) -> bool:
        """Append ``status`` to the notice's history and update its row (creating it
        when missing). A ``sent`` row keeps its status whatever is recorded later.

        With ``token`` (the claimant's, from :meth:`claim`) the write is fenced: it is
        made only while the row is ``sending`` under that token (or, for ``sent``, while
        nobody holds it); otherwise it is refused and False returned (a refused ``sent``
        is still kept in the history). Without a token (operators: ``queued`` before a
        replay) it always writes. True when the row was written."""
        return True

    def claim_many(self, items: Sequence[tuple[Job, int]]) -> list[Claim]:
        """:meth:`claim` for a batch of ``(job, attempt)``, in one transaction where the
        ledger has them; one claim per item, in order. The same notice twice in a batch
        is claimed once (the later item gets BUSY or DONE)."""
        return [self.claim(job, attempt) for job, attempt in items]

    def record_many(self, outcomes: Sequence[Write]) -> list[bool]:
        """:meth:`record` for a batch of outcomes, in one transaction where the ledger
        has them; one answer per outcome, in order (False: refused by the fence)."""
        return [
            self.record(o.job, o.status, attempt=o.attempt, provider=o.provider,
                        message_id=o.message_id, reason=o.reason,
                        template_version=o.template_version, token=o.token)
            for o in outcomes
        ]

    def record_event(
        self, event: Mapping[str, Any], *, status: str = "routed", reason: str | None = None
    ) -> None:
        """Keep a case event (id, type, case id, org, source, time) for ``trace``.
        ``event`` is the CloudEvent (with or without ``data``); one without an id is
        ignored. Unlike claim/record this need not wait for durability (the SQL
        ledger queues it with the next batch): the router must not block on it."""

    # -- operators' and the sweeper's calls ---------------------------------------
    def notice(self, notification_id: str) -> NoticeRecord | None:
        """One notice with its history, or None."""
        return None

    def case_story(self, case_id: str) -> CaseStory:
        """The case's events and notices (with history), in time order."""
        return CaseStory(case_id)

    def find_notices(self, address: str) -> list[NoticeRecord]:
        """Notices sent to ``address`` (found by its keyed hash), newest first."""
        return []

    def counts_since(self, since: datetime) -> dict[tuple[str, str], int]:
        """How many notices, by ``(channel, status)``, last changed at or after
        ``since`` (``status`` is the notice's current one). ``minwon-hub status`` reads
        "sent / failed in the last hour" from it. The default keeps nothing: empty."""
        return {}

    def stale_claims(self, before: datetime) -> list[NoticeRecord]:
        """Notices left in ``sending`` with ``claimed_at`` earlier than ``before``."""
        return []

    def resolve_stale(
        self,
        notice: NoticeRecord,
        status: str,
        *,
        reason: str | None = None,
        provider: str | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Move a stale claim to ``status`` if it is still the same claim (still
        ``sending`` under the same token and ``claimed_at``); True when it was moved.
        ``provider`` and ``message_id`` (settled from a provider's look-up) are kept."""
        return False

    def purge(self, before: datetime) -> PurgeResult:
        """Delete notices (and their history) last updated before ``before``, and
        events received before it that no remaining notice refers to."""
        return PurgeResult()

    def ping(self) -> None:
        """Return when the ledger answers; raise (any exception, with a reason an
        operator can read) when it does not. ``/readyz`` calls it. The base keeps
        nothing and always answers."""

    def close(self) -> None:
        """Flush pending writes and release connections."""

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
