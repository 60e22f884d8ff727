"""The parking lots, for operators: list, show, replay and purge what is on ``hub.dead``
(notices that failed for good) and ``hub.rejected`` (case events the router refused).

Reading a parking lot
---------------------
One pass takes messages with ``basic.get`` (acknowledgements on) and never more than
the queue held when the pass began (its depth from a passive ``queue.declare``). A
message that does not match the filter, or that the pass leaves alone, stays
*unacknowledged* until the pass ends; closing the channel then returns every such
message to the queue, and the pass waits until the queue counts them again (so the
next command sees them all). So a pass never sees one message twice (an unacked message is
not delivered again on the same channel), stops even while workers keep parking new
ones, and a crash at any point returns everything not yet acknowledged. Only what a
pass acknowledges leaves the queue: what ``replay`` republished (after the broker
confirmed the copy) and what ``purge`` deletes. Run one pass at a time: messages held
by one pass are invisible to another.

Replay and why an interrupted replay loses nothing and duplicates nothing
-----------------------------------------------------------------------
For each matching notice, in this order:

1. ``ledger.notice(id)``: if the ledger says ``sent``, the notice went out already
   (a copy from an earlier, interrupted replay was delivered): the parked copy is
   acknowledged and nothing is published. If it says ``sending``, a worker holds it
   right now: it is left parked for a later replay.
2. ``ledger.record(job, "queued", attempt=1, reason="dlq replay")``: a ``dead``
   notice would otherwise claim as DONE in the worker and never be sent.
3. publish to ``hub.notify`` with the channel as routing key, mandatory, persistent,
   ``x-hub-attempt: 1``, the parking headers removed; wait for the broker's confirm.
4. only then acknowledge the parked message (:meth:`Replay.acknowledge`).

Interrupted before 3 is confirmed: the parked message was never acknowledged, so it
returns to ``hub.dead`` (nothing lost; the ledger says ``queued`` until the next
replay). Interrupted after the confirm but before 4: the notice is on its channel
queue *and* still on ``hub.dead``. Replaying it again publishes a second copy, or, if
the first was sent meanwhile, drops the parked copy at step 1. With two copies on the
channel queue the worker's ledger claim lets one through (NEW), and the other claims
BUSY (re-delayed) while the first is being sent and DONE once it is ``sent``: acked
without a send. So each notice is sent once.

The one window this leaves: a rerun that reads the ledger (step 1) just before a
worker claims the first copy, and records ``queued`` (step 2) just after, re-opens the
claim while that send is in flight. That needs a stale copy from an interrupted replay
to be delivered within the same milliseconds as its rerun; with the workers stopped,
or once the first copy was handled, it cannot happen.

A rejected event is replayed by republishing it to ``minwon.events`` (routing key: its
type) with confirms, then acknowledging it: the router checks it again (it is rejected
again if it is still invalid), and the ledger's notification ids keep a replayed
event's notices from going out twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.binding import binary_attributes, message_mode
from hub.confirms import ConfirmingPublisher, PublishFailed
from hub.events import EventRejected
from hub.jobs import (
    ATTEMPT,
    CHANNEL,
    FAILED_AT,
    ORIGIN,
    REASON,
    REASON_CODE,
    REJECTED_AT,
    Job,
)
from hub.ledger import DEAD, QUEUED, SENDING, SENT, Ledger
from hub.masking import mask_address, mask_data, mask_name, mask_text
from hub.topology import DEAD_QUEUE, EVENTS_EXCHANGE, NOTIFY_EXCHANGE, REJECTED_QUEUE
from hub.transport import connect

log = logging.getLogger(__name__)


#: Short names of the parking lots (``--queue``).
QUEUES: dict[str, str] = {"dead": DEAD_QUEUE, "rejected": REJECTED_QUEUE}

#: Headers that describe the parking, removed from a replayed message.
PARKING_HEADERS = frozenset({REASON, REASON_CODE, CHANNEL, ORIGIN, FAILED_AT, REJECTED_AT})
#: Headers RabbitMQ adds when it dead-letters or redelivers; removed on replay too.
BROKER_HEADER_PREFIXES = ("x-death", "x-first-death-", "x-last-death-", "x-delivery-count")

REPLAY_REASON = "dlq replay"
CLOUDEVENTS_JSON = "application/cloudevents+json"


# -- one parked message ----------------------------------------------------------------
def _aware(moment: Any) -> datetime | None:
    """An aware UTC datetime from an ISO string or a datetime (py-amqp gives naive UTC)."""
    if isinstance(moment, str) and moment:
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(moment, datetime):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _decode_job(body: bytes) -> Job | None:
    try:
        return Job.decode(body)
    except Exception:  # not a hub job (malformed_job): shown, never replayed
        return None


def _decode_event(body: bytes, headers: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The rejected event as far as it can be read: the body (structured mode), or the
    ``ce-*`` headers with the body as ``data`` (binary mode)."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        obj = None
    if message_mode(headers, None) == "binary":
        try:
            return {**binary_attributes(headers), "data": obj}
        except EventRejected:
            return None
    return obj if isinstance(obj, Mapping) else None


def _first_death(headers: Mapping[str, Any]) -> tuple[str | None, str | None, Any]:
    """(reason, queue, time) of RabbitMQ's own dead-lettering (e.g. ``delivery_limit``
    after too many redeliveries), from ``x-first-death-*`` and ``x-death``."""
    reason = _text(headers.get("x-first-death-reason"))
    queue = _text(headers.get("x-first-death-queue"))
    when = None
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[-1], Mapping):
        first = deaths[-1]  # newest first: the last entry is the first death
        reason = reason or _text(first.get("reason"))
        queue = queue or _text(first.get("queue"))
        when = first.get("time")
    return reason, queue, when


@dataclass(frozen=True)
class Parked:
    """One message on a parking lot, with what operators filter and read by.

    ``id`` is the notice's ``notification_id`` (``hub.dead``; taken from the body, the
    message id may be absent) or the event's ``id`` (``hub.rejected``). ``reason_code``
    is ``x-hub-reason-code`` (``permanent``, ``credentials``, ``attempts_exhausted``,
    ``template_error``, ``malformed_job``; for events ``bad_json``, ``invalid`` ...), or
    RabbitMQ's own reason (``delivery_limit``) for a message the broker dead-lettered.
    """

    queue: str
    body: bytes
    headers: Mapping[str, Any]
    message_id: str | None = None
    id: str | None = None
    channel: str | None = None
    org: str | None = None
    event_type: str | None = None
    case_id: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    failed_at: datetime | None = None
    attempt: int | None = None
    origin: str | None = None
    job: Job | None = None
    event: Mapping[str, Any] | None = None

    @classmethod
    def from_message(
        cls, queue: str, body: bytes | str, headers: Mapping[str, Any] | None,
        message_id: str | None = None,
    ) -> Parked:
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        headers = dict(headers or {})
        code = _text(headers.get(REASON_CODE))
        reason = _text(headers.get(REASON))
        death_reason, death_queue, death_time = _first_death(headers)
        if code is None and death_reason:
            code = death_reason
            reason = reason or f"dead-lettered by RabbitMQ ({death_reason}) from {death_queue}"
        common: dict[str, Any] = {
            "queue": queue, "body": raw, "headers": headers, "message_id": message_id,
            "reason_code": code, "reason": reason,
            "origin": _text(headers.get(ORIGIN)) or death_queue,
        }
        if queue == REJECTED_QUEUE:
            event = _decode_event(raw, headers)
            data = event.get("data") if event else None
            data = data if isinstance(data, Mapping) else {}
            case = data.get("case")
            return cls(
                **common,
                id=message_id or _text(event.get("id") if event else None),
                org=_text(data.get("org")),
                event_type=_text(event.get("type") if event else None),
                case_id=_text(case.get("id")) if isinstance(case, Mapping) else None,
                failed_at=_aware(headers.get(REJECTED_AT)) or _aware(death_time),
                event=event,
            )
        job = _decode_job(raw)
        channel = _text(headers.get(CHANNEL))
        if channel is None and death_queue and death_queue.startswith(f"{NOTIFY_EXCHANGE}."):
            channel = death_queue[len(NOTIFY_EXCHANGE) + 1:]
        return cls(
            **common,
            id=job.notification_id if job else message_id,
            channel=job.channel if job else channel,
            org=job.org if job else None,
            event_type=job.event_type if job else None,
            case_id=job.case_id if job else None,
            failed_at=_aware(headers.get(FAILED_AT)) or _aware(death_time),
            attempt=_int(headers.get(ATTEMPT)),
            job=job,
        )

    # -- what may be shown (masked) ---------------------------------------------------
    @property
    def recipient(self) -> str | None:
        """``role name <address>``, masked; None when the message is not a job."""
        if self.job is None:
            return None
        r = self.job.recipient
        name = mask_name(r.name) or ""
        address = mask_address(self.job.channel, r.address) or ""
        return " ".join(p for p in (r.role, name, f"<{address}>" if address else "") if p)

    @property
    def event_id(self) -> str | None:
        if self.job is not None:
            return self.job.event_id
        return self.id if self.queue == REJECTED_QUEUE else None

    @property
    def masked_reason(self) -> str | None:
        return mask_text(self.reason) if self.reason else self.reason

    def masked_body(self) -> Any:
        """The body as JSON with personal data masked (text when it is not JSON)."""
        try:
            return mask_data(json.loads(self.body))
        except (ValueError, UnicodeDecodeError):
            return mask_text(self.body.decode("utf-8", "replace"))

    def masked_headers(self) -> dict[str, Any]:
        return {k: mask_data(_jsonable(v)) for k, v in sorted(self.headers.items())}

    def summary(self) -> dict[str, Any]:
        """The fields ``dlq list --json`` prints (masked)."""
        out: dict[str, Any] = {
            "id": self.id,
            "queue": self.queue,
            "channel": self.channel,
            "org": self.org,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "case_id": self.case_id,
            "reason_code": self.reason_code,
            "reason": self.masked_reason,
            "failed_at": self.failed_at.isoformat() if self.failed_at else None,
            "attempt": self.attempt,
        }
        if self.queue == DEAD_QUEUE:
            out["recipient"] = self.recipient
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# -- filters ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Filter:
    """Which parked messages a command acts on. Every given criterion must hold.

    * ``reason``: equal to the reason code, or a substring of the reason text (case
      does not matter);
    * ``channel``, ``org``: equal (from the job; ``org`` from ``data.org`` of an event);
    * ``older_than`` / ``newer_than``: seconds since it was parked (``x-hub-failed-at``,
      ``x-hub-rejected-at``, else RabbitMQ's ``x-death`` time); a message whose time is
      unknown matches neither;
    * ``ids``: its id (notification id / event id) or message id is one of them.
    """

    reason: str | None = None
    channel: str | None = None
    org: str | None = None
    older_than: float | None = None
    newer_than: float | None = None
    ids: frozenset[str] = frozenset()

    def matches(self, parked: Parked, now: datetime) -> bool:
        if self.ids and not ({parked.id, parked.message_id} & self.ids):
            return False
        if self.reason is not None:
            wanted = self.reason.lower()
            code = (parked.reason_code or "").lower()
            if code != wanted and wanted not in (parked.reason or "").lower():
                return False
        if self.channel is not None and parked.channel != self.channel:
            return False
        if self.org is not None and parked.org != self.org:
            return False
        if self.older_than is not None or self.newer_than is not None:
            if parked.failed_at is None:
                return False
            age = now - parked.failed_at
            if self.older_than is not None and age < timedelta(seconds=self.older_than):
                return False
            if self.newer_than is not None and age > timedelta(seconds=self.newer_than):
                return False
        return True

    @property
    def empty(self) -> bool:
        return self == Filter()


# -- passes over a parking lot ---------------------------------------------------------
@dataclass
class Pass:
    """One pass over a parking lot: see the module docstring. Use :func:`open_pass`."""

    connection: Any
    channel: Any
    queue: str
    depth: int
    seen: int = 0
    matched: int = 0
    acked: int = 0
    _publisher: ConfirmingPublisher | None = field(default=None, repr=False)

    def messages(
        self, where: Filter, *, limit: int | None = None, now: datetime | None = None,
        progress: Callable[[Pass], None] | None = None,
    ) -> Iterator[tuple[Parked, int]]:
        """(message, delivery tag) of each match, at most ``limit``, reading at most the
        depth the queue had at the start. A message not acknowledged through
        :meth:`ack` goes back to the queue when the pass ends. ``progress`` is called
        after each message read (once the caller has handled a match)."""
        now = now or datetime.now(UTC)
        while self.seen < self.depth and (limit is None or self.matched < limit):
            message = self.channel.basic_get(self.queue, no_ack=False)
            if message is None:
                return
            self.seen += 1
            parked = Parked.from_message(
                self.queue, message.body, message.headers,
                (message.properties or {}).get("message_id"),
            )
            if where.matches(parked, now):  # else held unacked: returns at the pass's end
                self.matched += 1
                yield parked, message.delivery_tag
            if progress is not None:
                progress(self)

    def ack(self, tag: int) -> None:
        self.channel.basic_ack(tag)
        self.acked += 1

    def give_back(self, timeout: float = 5.0) -> bool:
        """End the pass: close the channel, which returns every message not
        acknowledged, and wait until the queue counts them as ready again (a quorum
        queue applies the return a moment after the close), so that the next command
        sees them. False when they were not all back within ``timeout``."""
        self.channel.close()
        expected = self.seen - self.acked
        if expected <= 0:
            return True
        wanted = self.depth - self.acked
        deadline = time.monotonic() + timeout
        while True:
            channel = self.connection.channel()
            try:
                _, ready, _ = channel.queue_declare(self.queue, passive=True)
            finally:
                channel.close()
            if ready >= wanted:
                return True
            if time.monotonic() >= deadline:
                log.warning("%s: %d of %d messages not back yet after %.0fs",
                            self.queue, wanted - ready, expected, timeout)
                return False
            time.sleep(0.05)

    @property
    def publisher(self) -> ConfirmingPublisher:
        if self._publisher is None:
            self._publisher = ConfirmingPublisher(self.connection, self.channel, confirms=True)
        return self._publisher

    def publish(
        self, body: bytes, *, exchange: str, routing_key: str, headers: Mapping[str, Any],
        message_id: str | None, content_type: str, timeout: float = 30.0,
    ) -> str | None:
        """Publish (mandatory, persistent) and wait for the broker's answer: None when
        confirmed, else the reason it was refused. Raises :class:`PublishFailed` when no
        answer comes within ``timeout`` (the copy may or may not be on the queue)."""
        outcome: list[str | None] = []
        self.publisher.publish(
            body, exchange=exchange, routing_key=routing_key, headers=headers,
            message_id=message_id, content_type=content_type, mandatory=True,
            callback=lambda ok, reason: outcome.append(None if ok else reason or "refused"),
        )
        self.publisher.wait(timeout)
        return outcome[0] if outcome else "no answer from the broker"


@contextmanager
def open_pass(url: str, queue: str, *, connect_timeout: float = 10) -> Iterator[Pass]:
    """A pass over ``queue`` on the broker at ``url``. On exit (or a crash) the
    connection closes and every message not acknowledged returns to the queue."""
    # No heartbeats: a pass is short and never idle (a frame per message); a connection
    # dropped anyway returns every unacknowledged message, which is the safe side.
    conn = connect(url, heartbeat=0, connect_timeout=connect_timeout)
    try:
        channel = conn.channel()
        _, depth, _ = channel.queue_declare(queue, passive=True)
        current = Pass(conn, channel, queue, int(depth))
        try:
            yield current
        finally:
            try:
                current.give_back()
            except Exception:  # closing the connection below returns them all the same
                log.debug("giving back %s failed", queue, exc_info=True)
    finally:
        try:
            conn.close()
        except Exception:  # the broker or socket went away: it requeues anyway
            log.debug("closing the dlq connection failed", exc_info=True)


# -- the commands ----------------------------------------------------------------------
def collect(url: str, queue: str, where: Filter, *, limit: int | None = None,
            now: datetime | None = None) -> list[Parked]:
    """The matching messages, left where they are (``list``, ``show``)."""
    with open_pass(url, queue) as p:
        return [parked for parked, _ in p.messages(where, limit=limit, now=now)]


#: Called after each message a pass has read (with the pass: ``seen`` of ``depth``, ``acked``).
ProgressHook = Callable[["Pass"], None]


def purge(url: str, queue: str, where: Filter, *, limit: int | None = None,
          now: datetime | None = None, progress: ProgressHook | None = None) -> list[Parked]:
    """Delete the matching messages (at most ``limit``); returns what was deleted."""
    deleted = []
    with open_pass(url, queue) as p:
        for parked, tag in p.messages(where, limit=limit, now=now, progress=progress):
            p.ack(tag)
            deleted.append(parked)
            log.info("dlq purge: %s %s (%s)", queue, parked.id, parked.reason_code)
    return deleted


def replay_headers(headers: Mapping[str, Any], *, attempt: int | None) -> dict[str, Any]:
    """``headers`` without the parking and the broker's dead-letter headers; with
    ``x-hub-attempt`` set to ``attempt`` (kept out when None)."""
    out = {
        k: v for k, v in headers.items()
        if k not in PARKING_HEADERS and not k.startswith(BROKER_HEADER_PREFIXES)
    }
    out.pop(ATTEMPT, None)
    if attempt is not None:
        out[ATTEMPT] = attempt
    return out


@dataclass
class ReplayResult:
    replayed: list[Parked] = field(default_factory=list)
    already_sent: list[Parked] = field(default_factory=list)  # parked copy removed
    in_progress: list[Parked] = field(default_factory=list)  # left parked
    not_replayable: list[Parked] = field(default_factory=list)  # left parked
    refused: list[tuple[Parked, str]] = field(default_factory=list)  # left parked

    @property
    def left(self) -> int:
        return len(self.in_progress) + len(self.not_replayable) + len(self.refused)


class Replay:
    """Puts matching parked messages back: notices on their channel queue, events on
    ``minwon.events``. Hooks (``acknowledge``, ``replayed``) do nothing special by
    default; tests override ``acknowledge`` to interrupt a replay at its worst moment.
    """

    def __init__(self, url: str, ledger: Ledger, *, confirm_timeout: float = 30.0,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.url = url
        self.ledger = ledger
        self.confirm_timeout = confirm_timeout
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- hooks ---------------------------------------------------------------------
    def acknowledge(self, p: Pass, parked: Parked, tag: int) -> None:
        """Remove the parked message, once its copy is confirmed."""
        p.ack(tag)

    def replayed(self, parked: Parked) -> None:
        """Called after each message is replayed (and acknowledged)."""
        log.info("dlq replay: %s %s (%s) back to %s", parked.queue, parked.id,
                 parked.reason_code, parked.channel or EVENTS_EXCHANGE)

    # -- the pass ------------------------------------------------------------------
    def run(self, queue: str, where: Filter, *, limit: int | None = None,
            progress: ProgressHook | None = None) -> ReplayResult:
        result = ReplayResult()
        with open_pass(self.url, queue) as p:
            for parked, tag in p.messages(where, limit=limit, now=self.clock(),
                                          progress=progress):
                if queue == REJECTED_QUEUE:
                    self._event(p, parked, tag, result)
                else:
                    self._notice(p, parked, tag, result)
        return result

    def _notice(self, p: Pass, parked: Parked, tag: int, result: ReplayResult) -> None:
        job = parked.job
        if job is None:
            result.not_replayable.append(parked)
            return
        current = self.ledger.notice(job.notification_id)
        if current is not None and current.status == SENT:
            self.acknowledge(p, parked, tag)  # sent by an earlier replay's copy
            result.already_sent.append(parked)
            return
        if current is not None and current.status == SENDING:
            result.in_progress.append(parked)
            return
        self.ledger.record(job, QUEUED, attempt=1, reason=REPLAY_REASON)
        refused = p.publish(
            parked.body, exchange=NOTIFY_EXCHANGE, routing_key=job.channel,
            headers=replay_headers(parked.headers, attempt=1),
            message_id=job.notification_id, content_type="application/json",
            timeout=self.confirm_timeout,
        )
        if refused is not None:
            # Definitely not on the channel queue: the ledger goes back to what it was.
            self.ledger.record(job, DEAD, attempt=parked.attempt or 1,
                               reason=f"dlq replay refused: {refused}")
            result.refused.append((parked, refused))
            return
        self.acknowledge(p, parked, tag)
        result.replayed.append(parked)
        self.replayed(parked)

    def _event(self, p: Pass, parked: Parked, tag: int, result: ReplayResult) -> None:
        event = parked.event or {}
        etype = event.get("type")
        refused = p.publish(
            parked.body, exchange=EVENTS_EXCHANGE,
            routing_key=etype[:255] if isinstance(etype, str) and etype else "invalid",
            headers=replay_headers(parked.headers, attempt=None),
            message_id=parked.id,
            # a binary-mode event goes back as it came: data in the body, typed as JSON
            content_type=("application/json" if message_mode(parked.headers, None) == "binary"
                          else CLOUDEVENTS_JSON),
            timeout=self.confirm_timeout,
        )
        if refused is not None:
            result.refused.append((parked, refused))
            return
        self.acknowledge(p, parked, tag)
        result.replayed.append(parked)
        self.replayed(parked)


# -- rendering -------------------------------------------------------------------------
def _local(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def _cut(text: str | None, width: int) -> str:
    text = " ".join((text or "-").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def list_rows(items: list[Parked], tz: str, *, reason_width: int = 60) -> tuple[
        list[str], list[list[str]]]:
    """Headers and rows of ``dlq list`` (no recipients; reasons masked)."""
    if items and items[0].queue == REJECTED_QUEUE:
        headers = ["ID", "TYPE", "ORG", "CASE", "CODE", "REASON", "REJECTED AT"]
        rows = [[p.id or "-", p.event_type or "-", p.org or "-", p.case_id or "-",
                 p.reason_code or "-", _cut(p.masked_reason, reason_width),
                 _local(p.failed_at, tz)] for p in items]
        return headers, rows
    headers = ["ID", "CHANNEL", "ORG", "EVENT", "CASE", "CODE", "REASON", "FAILED AT",
               "ATTEMPTS"]
    rows = [[p.id or "-", p.channel or "-", p.org or "-", p.event_type or "-",
             p.case_id or "-", p.reason_code or "-", _cut(p.masked_reason, reason_width),
             _local(p.failed_at, tz), "-" if p.attempt is None else str(p.attempt)]
            for p in items]
    return headers, rows


def render_show(parked: Parked, tz: str) -> str:
    """Everything about one message, personal data masked."""
    fields: list[tuple[str, Any]] = [
        ("id", parked.id),
        ("queue", parked.queue),
        ("channel", parked.channel),
        ("org", parked.org),
        ("event type", parked.event_type),
        ("event id", parked.event_id if parked.job else None),
        ("case", parked.case_id),
        ("recipient", parked.recipient),
        ("reason code", parked.reason_code),
        ("reason", parked.masked_reason),
        ("parked at", _local(parked.failed_at, tz) if parked.failed_at else None),
        ("attempts", parked.attempt),
        ("origin", parked.origin),
    ]
    width = max(len(k) for k, _ in fields)
    lines = [f"{k.ljust(width)}  {v}" for k, v in fields if v is not None]
    lines.append("headers:")
    lines.append(json.dumps(parked.masked_headers(), ensure_ascii=False, indent=2))
    lines.append("body:")
    body = parked.masked_body()
    lines.append(body if isinstance(body, str)
                 else json.dumps(body, ensure_ascii=False, indent=2))
    return "\n".join(lines)


def show_json(parked: Parked) -> str:
    return json.dumps({**parked.summary(), "origin": parked.origin,
                       "headers": parked.masked_headers(), "body": parked.masked_body()},
                      ensure_ascii=False, indent=2)


__all__ = [
    "PARKING_HEADERS",
    "QUEUES",
    "Filter",
    "Parked",
    "Pass",
    "PublishFailed",
    "Replay",
    "ReplayResult",
    "collect",
    "list_rows",
    "open_pass",
    "purge",
    "render_show",
    "replay_headers",
    "show_json",
]
