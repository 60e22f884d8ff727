"""The channel worker: dedupe, policy, render, send, record, ack.

Many sends are in flight at once (``concurrency`` threads, bounded by the
prefetch). Each delivery is processed in a send thread and ends in exactly one
outcome, published and confirmed before the delivery is acked:

========== ============================================================ ======================
outcome    what happens                                                  status event
========== ============================================================ ======================
sent       provider accepted; recorded in the ledger                     notification.sent
duplicate  the ledger says it was settled already; acked, nothing sent   (none)
deferred   not before a later time (rule delay, quiet hours): hops       notification.deferred
           through the delay tiers, attempt not counted
retried    transient failure after quick retries: next delay tier,       notification.failed
           attempt + 1
dead       permanent failure, template error, attempts used up: parked  notification.dead
           on ``hub.dead`` with the reason in ``x-hub-reason``
skipped    policy says no (no address for the channel, ...)              notification.skipped
========== ============================================================ ======================
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from channels import get_channel
from channels.base import (
    CredentialsError,
    JobContext,
    LookupResult,
    Message,
    PermanentError,
    Receipt,
    SendError,
    TransientError,
)
from hub import metrics
from hub.consumer import ConsumingLoop, Publish, Settlement, Stage
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
)
from hub.ledger import ClaimState, Ledger
from hub.ledger.guard import LedgerGuard, LedgerUnavailable
from hub.policy import Decision
from hub.retry import RetryPolicy
from hub.status import status_event
from hub.templates import Rendered, TemplateError, TemplateStore
from hub.templates.context import context_from_event
from hub.topology import DEAD_QUEUE, RETRY_EXCHANGE, Topology, notify_queue

log = logging.getLogger(__name__)



class Sender(Protocol):
    """A provider or a chain of providers (channels.chain.ProviderChain)."""

    @property
    def supports_lookup(self) -> bool: ...

    def prepare(self, message: Message, context: JobContext) -> Message: ...
    def send(self, message: Message) -> Receipt: ...
    def lookup(self, notification_id: str, sent_after: datetime) -> LookupResult | None: ...


class DeliveryPolicy(Protocol):
    """hub.policy.Policy: quiet hours, skips, rate limits."""

    def decide(self, job: Job, now: datetime) -> Decision: ...
    def acquire(self, org: str, channel: str, max_wait: float | None = None) -> float: ...


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class ChannelWorker(Stage):
    MAX_RATE_WAIT = 1.0  # seconds a send thread may wait for the rate limit; longer: defer

    def __init__(
        self,
        channel: str,
        *,
        address_field: str,
        sender: Sender,
        store: TemplateStore,
        ledger: Ledger,
        retry: RetryPolicy,
        topology: Topology,
        orgs: Callable[[str], Mapping[str, Any]],
        policy: DeliveryPolicy | None = None,
        concurrency: int = 64,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.channel = channel
        self.sender_field = get_channel(channel).sender_field
        self.queue_name = notify_queue(channel)
        self.address_field = address_field
        self.sender = sender
        self.store = store
        self.ledger = ledger
        self.retry = retry
        self.topology = topology
        self.orgs = orgs
        self.policy = policy
        self.concurrency = concurrency
        self.clock = clock or (lambda: datetime.now(UTC))
        self.loop: ConsumingLoop | None = None
        self.pool: ThreadPoolExecutor | None = None
        self._active: set[Any] = set()
        self._lock = threading.Lock()
        self._in_flight = metrics.child(metrics.IN_FLIGHT, channel)
        self.guard = LedgerGuard(ledger, channel)
        self._unrecorded = metrics.child(metrics.LEDGER_UNRECORDED, channel)
        self._local = threading.local()  # the claim token of the send thread's notice

    # -- Stage hooks (loop thread) ---------------------------------------------------------
    def start(self, loop: ConsumingLoop) -> None:
        self.loop = loop
        self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"send-{self.channel}")

    def busy(self) -> int:
        return len(self._active)

    def accepting(self) -> bool:
        """False while the ledger is down: the worker takes no work (readiness)."""
        return self.guard.up

    def begin_stop(self) -> None:
        self.guard.stop()
        if self.pool is not None:
            # Cancel what has not started: those deliveries go back to the queue when
            # the channel closes. What is running finishes and is settled.
            self.pool.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def handle(self, body: bytes, headers: dict[str, Any], delivery_tag: Any,
               redelivered: bool) -> Settlement | None:
        try:
            job = Job.decode(body)
        except Exception as exc:  # not ours, or corrupted: park it with the reason
            metrics.child(metrics.PARKED, self.channel, "malformed_job").inc()
            log.error("malformed job on %s: %s", self.queue_name, exc)
            return Settlement(delivery_tag, [self._dead_publish(
                body, headers, "malformed_job", f"malformed job: {exc}"[:500], None)])
        assert self.pool is not None
        with self._lock:
            self._active.add(delivery_tag)
        self._in_flight.inc()
        future = self.pool.submit(self._process_safely, job, headers, delivery_tag, redelivered)
        future.add_done_callback(functools.partial(self._on_done, tag=delivery_tag))
        return None

    def on_error(self, body: bytes, headers: dict[str, Any], delivery_tag: Any,
                 exc: BaseException) -> Settlement:
        """``handle`` itself failed (a bug): park the notice on ``hub.dead``."""
        metrics.child(metrics.PARKED, self.channel, "internal").inc()
        return Settlement(delivery_tag, [self._dead_publish(
            body, headers, "internal", f"internal error: {type(exc).__name__}", None)])

    def _on_done(self, future: Future[Settlement], tag: Any) -> None:
        if future.cancelled():
            self._release(tag)
            return
        error = future.exception()
        if error is not None:  # even the error path failed: give the delivery back
            log.error("could not settle delivery %s (%s); returning it to the queue", tag, error)
            settlement = Settlement(tag, [], reject=True, requeue=True)
        else:
            settlement = future.result()
        previous = settlement.after

        def after() -> None:
            self._release(tag)
            if previous is not None:
                previous()

        settlement.after = after
        assert self.loop is not None
        self.loop.settle(settlement)

    def _release(self, tag: Any) -> None:
        with self._lock:
            self._active.discard(tag)
        self._in_flight.dec()

    # -- send thread --------------------------------------------------------------------
    def _process_safely(self, job: Job, headers: dict[str, Any], tag: Any,
                        redelivered: bool = False) -> Settlement:
        attempt = _int(headers.get(ATTEMPT), 1)
        self._local.token = None
        try:
            return self.process(job, headers, tag, attempt, redelivered=redelivered)
        except LedgerUnavailable:
            raise  # stopping while the ledger is down: back to the queue, nothing sent
        except Exception as exc:  # a bug must not lose the notice: retry, then park
            log.exception("unexpected error processing %s", job.notification_id)
            error = TransientError(f"unexpected error: {type(exc).__name__}: {exc}",
                                   provider="hub", code="INTERNAL")
            return self._failed(job, headers, tag, attempt, error, token=self._local.token)

    def process(self, job: Job, headers: dict[str, Any], tag: Any, attempt: int, *,
                redelivered: bool = False) -> Settlement:
        now = self.clock()
        claim = self.guard.call(self.ledger.claim, job, attempt)
        assert claim is not None
        if claim.state is ClaimState.DONE:
            if claim.status == "dead" and redelivered:
                # Parked, yet delivered again unacked: the parking publish may never
                # have been confirmed (hub.dead missing?). Park it again rather than
                # ack a job the parking lot might not hold; a second copy is harmless.
                return self._settlement(tag, [self._dead_publish(
                    job.encode(), headers, "redelivered_dead",
                    "parked before; delivered again, parked again", attempt)], "dead", None)
            log.info("notice %s already %s; not sending again", job.notification_id, claim.status)
            return self._settlement(tag, [], "duplicate", None)
        if claim.state is ClaimState.BUSY:
            # Another worker holds the claim (or died holding it: the sweeper frees it).
            return self._settlement(tag, [self._delay_publish(
                job, headers, timedelta(seconds=self.topology.tiers[0].seconds), {})],
                "deferred", None)
        token = self._local.token = claim.token

        not_before = _parse_time(headers.get(NOT_BEFORE))
        if not_before is not None and not_before > now:
            # Too early (rule delay, quiet hours, rate limit): release the claim, hop
            # through a delay tier. The status event goes out once, not at every hop.
            self._record(job, "deferred", token, attempt=attempt,
                         reason=f"not before {not_before.isoformat()}")
            publishes = [self._delay_publish(job, headers, not_before - now,
                                             {NOT_BEFORE: not_before.isoformat(),
                                              DEFERRED_FLAG: 1})]
            if not headers.get(DEFERRED_FLAG):
                publishes.append(status_event(job, "deferred", attempt=attempt,
                                              reason="scheduled", retry_at=not_before.isoformat()))
            return self._settlement(tag, publishes, "deferred", None)

        decision = self._decide(job, now)
        if decision.action == "skip":
            reason = decision.reason or "skipped by policy"
            self._record(job, "skipped", token, attempt=attempt, reason=reason)
            return self._settlement(tag, [status_event(job, "skipped", attempt=attempt,
                                                       reason=reason)], "skipped", None)
        if decision.action == "defer" and decision.until is not None:
            until = decision.until
            self._record(job, "deferred", token, attempt=attempt, reason=decision.reason)
            return self._settlement(tag, [
                self._delay_publish(job, headers, until - now,
                                    {NOT_BEFORE: until.isoformat(), DEFERRED_FLAG: 1}),
                status_event(job, "deferred", attempt=attempt, reason=decision.reason,
                             retry_at=until.isoformat()),
            ], "deferred", None)

        try:
            rendered = self._render(job)
        except TemplateError as exc:
            metrics.child(metrics.TEMPLATE_ERRORS, job.event_type, self.channel).inc()
            return self._dead(job, headers, tag, attempt, exc.code,  # template_budget too
                              f"template error: {exc}", None, token)

        message = self._message(job, rendered, attempt)
        try:
            receipt: Receipt = self.retry.call(lambda: self.sender.send(message))
        except SendError as exc:
            return self._failed(job, headers, tag, attempt, exc, rendered.version, token)
        return self._accepted(job, tag, attempt, receipt, rendered.version, token)

    def _accepted(self, job: Job, tag: Any, attempt: int, receipt: Receipt, version: str,
                  token: str | None) -> Settlement:
        """The provider accepted: record ``sent`` (again and again while the ledger is
        down: never a retry, never a second provider call), then ack with the status
        event. Nothing here may raise into the retry path."""
        self._local.token = None  # from here on, no error becomes a retry
        self._unrecorded.inc()
        try:
            written = self.guard.call(
                self.ledger.record, job, "sent", give_up=True, attempt=attempt,
                provider=receipt.provider, message_id=receipt.message_id,
                template_version=version, token=token)
        finally:
            self._unrecorded.dec()
        if written is None:
            log.error("notice %s was sent but its record could not be written; acking it "
                      "anyway (a redelivery could only send it twice)", job.notification_id)
        elif not written:
            self._fenced("sent", job)
        sent_at = self.clock()
        try:
            event_time = _parse_time(job.event.get("time"))
            if event_time is not None:
                metrics.child(metrics.END_TO_END, self.channel).observe(
                    max(0.0, (sent_at - event_time).total_seconds()))
            publishes = [status_event(
                job, "sent", attempt=attempt, provider=receipt.provider,
                provider_message_id=receipt.message_id, template_version=version,
                now=sent_at)]
        except Exception:  # a status event is not worth a second send
            log.exception("status event of sent notice %s failed", job.notification_id)
            publishes = []
        return self._settlement(tag, publishes, "sent", receipt.provider)

    def _record(self, job: Job, status: str, token: str | None, **kwargs: Any) -> None:
        """A fenced ledger write through the guard (waits while the ledger is down)."""
        if self.guard.call(self.ledger.record, job, status, token=token, **kwargs) is False:
            self._fenced(status, job)

    def _fenced(self, status: str, job: Job) -> None:
        metrics.child(metrics.LEDGER_FENCED, self.channel, status).inc()
        log.warning("record %s of %s refused: the claim had passed on (stale); the job "
                    "goes on as decided", status, job.notification_id)

    # -- steps ----------------------------------------------------------------------------
    def _decide(self, job: Job, now: datetime) -> Decision:
        if not job.recipient.address:
            return Decision.skip(f"recipient has no {self.address_field}")
        if self.policy is None:
            return Decision.send()
        decision = self.policy.decide(job, now)
        if decision.action != "send":
            return decision
        wait = self.policy.acquire(job.org, self.channel)
        if wait > getattr(self.policy, "max_rate_wait", self.MAX_RATE_WAIT):
            return Decision.defer(now + timedelta(seconds=wait), "rate limit")
        if wait > 0:
            time.sleep(wait)
        return decision

    def _render(self, job: Job) -> Rendered:
        org = self.orgs(job.org)
        context = context_from_event(
            {**job.event, "data": job.data},
            job.recipient.as_context(self.address_field),
            org,
        )
        return self.store.render(job.template, self.channel, job.org, context)

    def _message(self, job: Job, rendered: Rendered, attempt: int) -> Message:
        """The rendered notice as a provider message, with what the channel's providers
        add to it (:meth:`~channels.base.Provider.prepare`: 알림톡 variables, links)."""
        org = self.orgs(job.org)
        sender = org.get(self.sender_field) if self.sender_field else None
        message = Message(
            notification_id=job.notification_id,
            event_id=job.event_id,
            event_type=job.event_type,
            case_id=job.case_id,
            org=job.org,
            channel=self.channel,
            to=job.recipient.address,
            body=rendered.body,
            subject=rendered.subject,
            html=rendered.html,
            kind=rendered.kind,
            sender=sender,
            sender_name=org.get("email_from_name") or org.get("name"),
            recipient_name=job.recipient.name,
            template=rendered.template,
            template_version=rendered.version,
            attempt=attempt,
        )
        return self.sender.prepare(message, JobContext(data=job.data, org=org))

    def _failed(self, job: Job, headers: dict[str, Any], tag: Any, attempt: int,
                exc: SendError, version: str | None = None,
                token: str | None = None) -> Settlement:
        provider = exc.provider or None
        if isinstance(exc, CredentialsError):
            return self._dead(job, headers, tag, attempt, "credentials", exc.reason, provider,
                              token)
        if isinstance(exc, PermanentError):
            return self._dead(job, headers, tag, attempt, "permanent", exc.reason, provider,
                              token)
        if self.retry.exhausted(attempt):
            return self._dead(job, headers, tag, attempt, "attempts_exhausted",
                              f"attempts used up ({attempt}): {exc.reason}", provider, token)
        tier = self.retry.tier_for_attempt(attempt)
        retry_at = self.clock() + timedelta(seconds=tier.seconds)
        self._record(job, "retrying", token, attempt=attempt, provider=provider,
                     reason=exc.reason)
        metrics.child(metrics.RETRIES, self.channel, tier.name).inc()
        publish = self._tier_publish(job, headers, tier.name, {ATTEMPT: attempt + 1})
        return self._settlement(tag, [publish, status_event(
            job, "failed", attempt=attempt, provider=provider, reason=exc.reason,
            template_version=version, retry_at=retry_at.isoformat())], "retried", provider)

    def _dead(self, job: Job, headers: dict[str, Any], tag: Any, attempt: int, code: str,
              reason: str, provider: str | None, token: str | None = None) -> Settlement:
        log.warning("notice %s parked (%s): %s", job.notification_id, code, reason)
        self._record(job, "dead", token, attempt=attempt, provider=provider, reason=reason)
        metrics.child(metrics.PARKED, self.channel, code).inc()
        return self._settlement(tag, [
            self._dead_publish(job.encode(), headers, code, reason, attempt),
            status_event(job, "dead", attempt=attempt, provider=provider, reason=reason),
        ], "dead", provider)

    def _settlement(self, tag: Any, publishes: list[Publish], outcome: str,
                    provider: str | None) -> Settlement:
        counter = metrics.child(metrics.NOTICES, self.channel, provider or "none", outcome)
        return Settlement(tag, publishes, after=counter.inc)

    # -- publishes ------------------------------------------------------------------------
    @staticmethod
    def _own_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in headers.items() if k.startswith("x-hub-")}

    def _tier_publish(self, job: Job, headers: Mapping[str, Any], tier: str,
                      extra: Mapping[str, Any]) -> Publish:
        new = self._own_headers(headers)
        new.update(extra)
        new["CC"] = [self.channel]  # dead-lettered back to hub.notify with this key
        return Publish(exchange=RETRY_EXCHANGE, routing_key=tier, body=job.encode(),
                       headers=new, message_id=job.notification_id)

    def _delay_publish(self, job: Job, headers: Mapping[str, Any], wait: timedelta,
                       extra: Mapping[str, Any]) -> Publish:
        tier = self.topology.tier_for(wait.total_seconds())
        return self._tier_publish(job, headers, tier.name, extra)

    def _dead_publish(self, body: bytes, headers: Mapping[str, Any], code: str, reason: str,
                      attempt: int | None) -> Publish:
        new = self._own_headers(headers)
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


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
