"""The router: one case event in, one notification job per (recipient, channel) out.

An invalid event goes to ``hub.rejected`` with its reason in the headers and is
acked: it is kept for an operator, never retried in a loop. A valid event is acked
only after every one of its jobs is confirmed by the broker.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from hub import metrics
from hub.binding import binary_id, read_event
from hub.consumer import Publish, Settlement, Stage
from hub.events import EventRejected
from hub.jobs import ATTEMPT, NOT_BEFORE, REASON, REASON_CODE, REJECTED_AT
from hub.masking import mask_text
from hub.rules import Rules
from hub.topology import NOTIFY_EXCHANGE, REJECTED_QUEUE, ROUTER_QUEUE

log = logging.getLogger(__name__)

#: Distinct event sources that get their own metric series; later ones count as OTHER.
MAX_SOURCES = 50
OTHER_SOURCE = "(other)"


class EventSink(Protocol):
    """Where the router notes each event for ``trace`` (the ledger). Must not block:
    the ledger queues the write."""

    def record_event(self, event: Mapping[str, Any], *, status: str = "routed",
                     reason: str | None = None) -> None: ...


class _NoSink:
    def record_event(self, event: Mapping[str, Any], *, status: str = "routed",
                     reason: str | None = None) -> None:
        return None


class Router(Stage):
    queue_name = ROUTER_QUEUE

    def __init__(
        self,
        rules: Rules,
        address_fields: Mapping[str, str],
        *,
        max_event_bytes: int,
        sink: EventSink | None = None,
        clock: Any = None,
    ) -> None:
        self.rules = rules
        self.address_fields = dict(address_fields)
        self.max_event_bytes = max_event_bytes
        self.sink: EventSink = sink or _NoSink()
        self.clock = clock or (lambda: datetime.now(UTC))
        self._sources: dict[str, str] = {}

    def route(self, body: bytes, headers: Mapping[str, Any] | None = None,
              content_type: str | None = None) -> list[Publish]:
        """The publishes one event calls for (structured or binary mode, see
        :mod:`hub.binding`); raises :class:`EventRejected`."""
        event = read_event(body, headers, content_type, max_bytes=self.max_event_bytes)
        metrics.child(metrics.EVENTS_RECEIVED, event.type, self._source_label(event.source)).inc()
        now = self.clock()
        publishes = []
        for job, rule in self.rules.jobs(event, self.address_fields):
            job_headers: dict[str, Any] = {ATTEMPT: 1}
            if rule.delay > 0:
                job_headers[NOT_BEFORE] = (now + timedelta(seconds=rule.delay)).isoformat()
            publishes.append(Publish(
                exchange=NOTIFY_EXCHANGE, routing_key=job.channel, body=job.encode(),
                headers=job_headers, message_id=job.notification_id,
            ))
            metrics.child(metrics.NOTICES_ROUTED, job.channel).inc()
        if not publishes:
            log.warning("event %s (%s) calls for no notice", event.id, event.type)
        self.sink.record_event(event.raw, status="routed")
        return publishes

    def _source_label(self, source: str) -> str:
        """The metric label for an event ``source``: the first :data:`MAX_SOURCES`
        sources seen (short, masked) keep their own series, any other is ``(other)``:
        an upstream system sending a new source with every event must not grow the
        metrics without bound."""
        label = self._sources.get(source)
        if label is None:
            label = OTHER_SOURCE
            if len(self._sources) < MAX_SOURCES and len(source) <= 64:
                label = mask_text(source)
                self._sources[source] = label
        return label

    def handle(self, body: bytes, headers: dict[str, Any], delivery_tag: int,
               redelivered: bool) -> Settlement:
        return self.handle_message(body, headers, None, delivery_tag, redelivered)

    def handle_message(self, body: bytes, headers: dict[str, Any], content_type: str | None,
                       delivery_tag: int, redelivered: bool) -> Settlement:
        try:
            return Settlement(delivery_tag, self.route(body, headers, content_type))
        except EventRejected as exc:
            return Settlement(delivery_tag, [self.rejection(body, headers, exc, content_type)])

    def on_error(self, body: bytes, headers: dict[str, Any], delivery_tag: int,
                 exc: BaseException) -> Settlement:
        """An unexpected error routing this event (a bug): keep it on ``hub.rejected``
        with the code ``internal`` for an operator to replay once fixed."""
        rejected = EventRejected("internal", f"internal error: {type(exc).__name__}")
        return Settlement(delivery_tag, [self.rejection(body, headers, rejected)])

    def rejection(self, body: bytes, headers: Mapping[str, Any], exc: EventRejected,
                  content_type: str | None = None) -> Publish:
        """``hub.rejected`` keeps the message as it came (body, headers, content type:
        a binary-mode event stays replayable) with the reason added."""
        metrics.child(metrics.EVENTS_REJECTED, exc.code).inc()
        # Reasons name fields, not values; masked all the same (a key may be anything).
        reason = mask_text(exc.reason[:1000].encode("utf-8", "backslashreplace").decode())
        log.warning("event rejected: %s: %s", exc.code, reason)
        keep = {k: v for k, v in headers.items() if not k.startswith("x-hub-")}
        keep.update({
            REASON: reason,
            REASON_CODE: exc.code,
            REJECTED_AT: self.clock().isoformat(),
        })
        event_id = _peek_id(body, headers)
        if event_id:
            self.sink.record_event({"id": event_id}, status="rejected", reason=reason)
        return Publish(exchange="", routing_key=REJECTED_QUEUE, body=body, headers=keep,
                       message_id=event_id,
                       content_type=content_type or "application/octet-stream")


_CLEAN_ID = re.compile(r"[^\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,200}")


def _peek_id(body: bytes, headers: Mapping[str, Any]) -> str | None:
    """The event id of a rejected message, when it can be had cheaply and is fit to be a
    message id (printable, encodable, at most 200 characters): from the ``ce-id``
    header of a binary-mode event, else from the body."""
    header = binary_id(headers)
    if header is not None:
        return header if _CLEAN_ID.fullmatch(header) else None
    if len(body) > 64 * 1024:
        return None
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) and _CLEAN_ID.fullmatch(value) else None
