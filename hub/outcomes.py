"""What became of one delivered notice, as a value, and the one place that turns it
into effects.

Every step of a channel worker ends a notice in an :class:`Outcome` (it does nothing
itself); the :class:`Recorder` maps each outcome to its ledger write, its status event,
its publishes (delay tier, retry tier, parking lot) and its metrics:

========== ================ ====================================== =======================
outcome    ledger status    publishes                              status event
========== ================ ====================================== =======================
sent       sent             (none)                                 notification.sent
duplicate  (none)           (none)                                 (none)
deferred   deferred         the job through a delay tier           notification.deferred
                                                                   (once per deferral)
retried    retrying         the job through its retry tier,        notification.failed
                            attempt + 1
dead       dead             the job on ``hub.dead`` with reason    notification.dead
skipped    skipped          (none)                                 notification.skipped
========== ================ ====================================== =======================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub import metrics
from hub.consumer import Publish
from hub.jobs import (
    ATTEMPT,
    CHANNEL,
    DEFERRED_FLAG,
    FAILED_AT,
    NOT_BEFORE,
    ORIGIN,
    REASON,
    REASON_CODE,
    Job,
    header_time,
)
from hub.ledger import Write
from hub.status import status_event
from hub.topology import DEAD_QUEUE, RETRY_EXCHANGE, Topology

SENT, DUPLICATE, DEFERRED, RETRIED, DEAD, SKIPPED = (
    "sent", "duplicate", "deferred", "retried", "dead", "skipped")

#: The ledger status each outcome writes (a duplicate writes nothing).
LEDGER_STATUS: dict[str, str] = {
    SENT: "sent", DEFERRED: "deferred", RETRIED: "retrying", DEAD: "dead", SKIPPED: "skipped",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """One notice's outcome. ``record`` False: nothing goes to the ledger (a job
    re-delayed while another worker holds it, a parked job parked again)."""

    kind: str
    attempt: int
    reason: str | None = None  # ledger and status event
    provider: str | None = None
    message_id: str | None = None
    template_version: str | None = None
    code: str | None = None  # dead: the parking reason code (a metric label)
    wait: timedelta | None = None  # deferred / retried: how long before it comes back
    not_before: datetime | None = None  # deferred: kept in the job's headers
    tier: str | None = None  # retried: the retry tier
    retry_at: datetime | None = None  # deferred / retried: for the status event
    announce: bool = True  # deferred: publish notification.deferred
    event_reason: str | None = None  # the status event's reason, when not ``reason``
    record: bool = True


class Recorder:
    """Turns outcomes into ledger writes, publishes and metrics for one channel."""

    def __init__(self, channel: str, queue_name: str, topology: Topology,
                 clock: Callable[[], datetime]) -> None:
        self.channel = channel
        self.queue_name = queue_name
        self.topology = topology
        self.clock = clock

    # -- the ledger ---------------------------------------------------------------------
    def write(self, outcome: Outcome, job: Job, token: str | None) -> Write | None:
        status = LEDGER_STATUS.get(outcome.kind)
        if status is None or not outcome.record:
            return None
        return Write(job, status, outcome.attempt, provider=outcome.provider,
                     message_id=outcome.message_id, reason=outcome.reason,
                     template_version=outcome.template_version, token=token)

    # -- publishes ----------------------------------------------------------------------
    def publishes(self, outcome: Outcome, job: Job, headers: Mapping[str, Any]) -> list[Publish]:
        kind, attempt = outcome.kind, outcome.attempt
        if kind == SENT:
            return [status_event(
                job, "sent", attempt=attempt, provider=outcome.provider,
                provider_message_id=outcome.message_id,
                template_version=outcome.template_version, now=self.clock())]
        if kind == DEFERRED:
            extra: dict[str, Any] = {}
            if outcome.not_before is not None:
                extra = {NOT_BEFORE: outcome.not_before.isoformat(), DEFERRED_FLAG: 1}
            wait = outcome.wait or timedelta(seconds=self.topology.tiers[0].seconds)
            out = [self.delay_publish(job, headers, wait, extra)]
            if outcome.announce:
                out.append(status_event(
                    job, "deferred", attempt=attempt,
                    reason=outcome.event_reason or outcome.reason,
                    retry_at=outcome.retry_at.isoformat() if outcome.retry_at else None))
            return out
        if kind == RETRIED:
            assert outcome.tier is not None
            return [
                self.tier_publish(job, headers, outcome.tier, {ATTEMPT: attempt + 1}),
                status_event(job, "failed", attempt=attempt, provider=outcome.provider,
                             reason=outcome.reason, template_version=outcome.template_version,
                             retry_at=outcome.retry_at.isoformat() if outcome.retry_at
                             else None),
            ]
        if kind == DEAD:
            parked = self.dead_publish(job.encode(), headers, outcome.code or "dead",
                                       outcome.reason or "", attempt)
            if not outcome.record:  # parked again: its status event went out before
                return [parked]
            return [parked, status_event(job, "dead", attempt=attempt,
                                         provider=outcome.provider, reason=outcome.reason)]
        if kind == SKIPPED:
            return [status_event(job, "skipped", attempt=attempt, reason=outcome.reason)]
        return []

    @staticmethod
    def own_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in headers.items() if k.startswith("x-hub-")}

    def tier_publish(self, job: Job, headers: Mapping[str, Any], tier: str,
                     extra: Mapping[str, Any]) -> Publish:
        new = self.own_headers(headers)
        new.update(extra)
        new["CC"] = [self.channel]  # dead-lettered back to hub.notify with this key
        return Publish(exchange=RETRY_EXCHANGE, routing_key=tier, body=job.encode(),
                       headers=new, message_id=job.notification_id)

    def delay_publish(self, job: Job, headers: Mapping[str, Any], wait: timedelta,
                      extra: Mapping[str, Any]) -> Publish:
        tier = self.topology.tier_for(wait.total_seconds())
        return self.tier_publish(job, headers, tier.name, extra)

    def dead_publish(self, body: bytes, headers: Mapping[str, Any], code: str, reason: str,
                     attempt: int | None) -> Publish:
        new = self.own_headers(headers)
        new.update({
            REASON: reason[:1000],
            REASON_CODE: code,
            CHANNEL: self.channel,
            ORIGIN: self.queue_name,
            FAILED_AT: self.clock().isoformat(),
        })
        if attempt is not None:
            new[ATTEMPT] = attempt
        return Publish(exchange="", routing_key=DEAD_QUEUE, body=body, headers=new)

    # -- metrics ------------------------------------------------------------------------
    def count(self, outcome: Outcome, job: Job) -> Callable[[], None]:
        """Counts the outcome now (parked, retries, end to end) and returns what counts
        it as settled once the delivery is acked."""
        if outcome.kind == DEAD:
            metrics.child(metrics.PARKED, self.channel, outcome.code or "dead").inc()
        elif outcome.kind == RETRIED and outcome.tier is not None:
            metrics.child(metrics.RETRIES, self.channel, outcome.tier).inc()
        elif outcome.kind == SENT:
            event_time = header_time(job.event.get("time"))
            if event_time is not None:
                metrics.child(metrics.END_TO_END, self.channel).observe(
                    max(0.0, (self.clock() - event_time).total_seconds()))
        counter = metrics.child(metrics.NOTICES, self.channel, outcome.provider or "none",
                                outcome.kind)
        return counter.inc

