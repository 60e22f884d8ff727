"""The channel worker: claim, decide, render, send, record, ack: a batch at a time.

The consuming loop hands deliveries to :meth:`ChannelWorker.handle` as they arrive;
at the end of each loop turn (:meth:`ChannelWorker.tick`) the deliveries of that turn
become one batch, processed in a batch thread:

1. decode (in ``handle``), then **claim the whole batch** in one ledger transaction
   (:meth:`~hub.ledger.Ledger.claim_many`);
2. per notice: already settled, held by another worker, too early, policy, render:
   each step either ends the notice in an :class:`~hub.outcomes.Outcome` or lets it
   through to be sent;
3. **send concurrently** (the send pool, ``concurrency`` threads; quick retries inside);
4. **record every outcome in one transaction** (:meth:`~hub.ledger.Ledger.record_many`,
   fenced by each claim's token), then settle each delivery with the publishes its
   outcome asks for (:class:`~hub.outcomes.Recorder`); the loop acks with ``multiple``
   once those publishes are confirmed.

The worker knows no channel or provider by name: provider payloads come from the
providers' ``prepare`` hook. It knows nothing of retries either: an outcome says
"retried" and the recorder publishes to the tier. Every ledger call goes through the
:class:`~hub.ledger.guard.LedgerGuard`: while the ledger is down nothing is claimed or
sent, and after a provider accepted a notice its ``sent`` record is retried, never
turned into a second send.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
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
from hub.consumer import ConsumingLoop, Settlement, Stage
from hub.jobs import ATTEMPT, DEFERRED_FLAG, NOT_BEFORE, Job, header_time
from hub.ledger import Claim, ClaimState, Ledger, Write
from hub.ledger.guard import LedgerGuard, LedgerUnavailable
from hub.masking import mask_known
from hub.outcomes import DEAD, DEFERRED, DUPLICATE, RETRIED, SENT, SKIPPED, Outcome, Recorder
from hub.policy import Decision
from hub.retry import RetryPolicy
from hub.templates import Rendered, TemplateError, TemplateStore
from hub.templates.context import context_from_event
from hub.topology import Topology, notify_queue

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


@dataclass(slots=True)
class Delivery:
    """One delivered job on its way through a batch."""

    job: Job
    headers: dict[str, Any]
    tag: Any
    attempt: int
    redelivered: bool = False
    token: str | None = None  # the claim's, once claimed
    message: Message | None = None  # set when it is to be sent
    rate_wait: float = 0.0  # seconds to wait for the rate limit before sending
    version: str | None = None  # the template version rendered
    outcome: Outcome | None = None


class ChannelWorker(Stage):
    MAX_RATE_WAIT = 1.0  # seconds a send may wait for the rate limit; longer: defer
    # Batches in progress at once: each waits for its slowest send, so a few small
    # batches must not cap the sends in flight below ``concurrency``.
    BATCH_THREADS = 16

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
        self.recorder = Recorder(channel, self.queue_name, topology, self.clock)
        self.loop: ConsumingLoop | None = None
        self.pool: ThreadPoolExecutor | None = None  # sends
        self.batches: ThreadPoolExecutor | None = None  # batch threads
        self._pending: list[Delivery] = []  # this loop turn's deliveries (loop thread)
        self._active = 0  # deliveries handed out and not yet settled
        self._lock = threading.Lock()
        self._in_flight = metrics.child(metrics.IN_FLIGHT, channel)
        self.guard = LedgerGuard(ledger, channel)
        self._unrecorded = metrics.child(metrics.LEDGER_UNRECORDED, channel)

    # -- Stage hooks (loop thread) ---------------------------------------------------------
    def start(self, loop: ConsumingLoop) -> None:
        """Called for every (re)connected loop: a stop of the previous one is over."""
        self.loop = loop
        self._pending.clear()
        self.guard.resume()
        self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"send-{self.channel}")
        self.batches = ThreadPoolExecutor(self.BATCH_THREADS,
                                          thread_name_prefix=f"batch-{self.channel}")

    def busy(self) -> int:
        return self._active + len(self._pending)

    def accepting(self) -> bool:
        """False while the ledger is down: the worker takes no work (readiness)."""
        return self.guard.up

    def begin_stop(self) -> None:
        self.guard.stop()
        self._pending.clear()  # not started: returned to the queue when the channel closes
        if self.batches is not None:
            # Cancel the batches that have not started: their deliveries go back to the
            # queue when the channel closes. Running batches finish (their sends too)
            # and are settled.
            self.batches.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        for pool in (self.batches, self.pool):
            if pool is not None:
                pool.shutdown(wait=True)

    def handle(self, body: bytes, headers: dict[str, Any], delivery_tag: Any,
               redelivered: bool) -> Settlement | None:
        try:
            job = Job.decode(body)
        except Exception as exc:  # not ours, or corrupted: park it with the reason
            metrics.child(metrics.PARKED, self.channel, "malformed_job").inc()
            log.error("malformed job on %s: %s", self.queue_name, exc)
            return Settlement(delivery_tag, [self.recorder.dead_publish(
                body, headers, "malformed_job", f"malformed job: {exc}"[:500], None)])
        assert self.pool is not None and self.batches is not None
        self._pending.append(Delivery(job, headers, delivery_tag,
                                      _int(headers.get(ATTEMPT), 1), redelivered))
        return None

    def tick(self, now: float) -> None:
        """End of a loop turn: this turn's deliveries become one batch."""
        if not self._pending or self.batches is None or self.guard.stopping:
            return
        batch, self._pending = self._pending, []
        with self._lock:
            self._active += len(batch)
        self._in_flight.inc(len(batch))
        future = self.batches.submit(self._run_batch, batch)
        future.add_done_callback(functools.partial(self._on_batch_done, batch=batch))

    def on_error(self, body: bytes, headers: dict[str, Any], delivery_tag: Any,
                 exc: BaseException) -> Settlement:
        """``handle`` itself failed (a bug): park the notice on ``hub.dead``."""
        metrics.child(metrics.PARKED, self.channel, "internal").inc()
        return Settlement(delivery_tag, [self.recorder.dead_publish(
            body, headers, "internal", f"internal error: {type(exc).__name__}", None)])

    def _on_batch_done(self, future: Future[list[Settlement]], batch: list[Delivery]) -> None:
        if future.cancelled():
            self._release(len(batch))
            return
        error = future.exception()
        if error is not None:  # even the error path failed: give the deliveries back
            if not isinstance(error, LedgerUnavailable):
                log.error("could not settle a batch of %d (%s); returning it to the queue",
                          len(batch), error)
            settlements = [Settlement(d.tag, [], reject=True, requeue=True) for d in batch]
        else:
            settlements = future.result()
        assert self.loop is not None
        for settlement in settlements:
            previous = settlement.after

            def after(previous: Callable[[], None] | None = previous) -> None:
                self._release(1)
                if previous is not None:
                    previous()

            settlement.after = after
            self.loop.settle(settlement)

    def _release(self, count: int) -> None:
        with self._lock:
            self._active -= count
        self._in_flight.dec(count)

    # -- a batch (batch thread) -----------------------------------------------------------
    def process(self, job: Job, headers: dict[str, Any], tag: Any, attempt: int, *,
                redelivered: bool = False) -> Settlement:
        """One delivery as a batch of one, sent on the calling thread."""
        (settlement,) = self._run_batch([Delivery(job, headers, tag, attempt, redelivered)],
                                        inline=True)
        return settlement

    def _run_batch(self, batch: list[Delivery], *, inline: bool = False) -> list[Settlement]:
        now = self.clock()
        claims = self.guard.call(self.ledger.claim_many, [(d.job, d.attempt) for d in batch])
        assert claims is not None
        to_send: list[Delivery] = []
        for delivery, claim in zip(batch, claims, strict=True):
            try:
                delivery.outcome = self._before_send(delivery, claim, now)
            except Exception as exc:  # a bug must not lose the notice: retry, then park
                delivery.outcome = self._unexpected(delivery, exc)
            if delivery.outcome is None:
                to_send.append(delivery)
        if inline or self.pool is None or len(to_send) <= 1:
            for delivery in to_send:
                delivery.outcome = self._send(delivery)
        else:
            for delivery, future in [(d, self.pool.submit(self._send, d)) for d in to_send]:
                try:
                    delivery.outcome = future.result()
                except Exception as exc:
                    delivery.outcome = self._unexpected(delivery, exc)
        return self._record(batch)

    def _before_send(self, d: Delivery, claim: Claim, now: datetime) -> Outcome | None:
        job, attempt = d.job, d.attempt
        if claim.state is ClaimState.DONE:
            if claim.status == "dead" and d.redelivered:
                # Parked, yet delivered again unacked: the parking publish may never
                # have been confirmed (hub.dead missing?). Park it again rather than
                # ack a job the parking lot might not hold; a second copy is harmless.
                return Outcome(DEAD, attempt, code="redelivered_dead", record=False,
                               reason="parked before; delivered again, parked again")
            log.info("notice %s already %s; not sending again", job.notification_id,
                     claim.status)
            return Outcome(DUPLICATE, attempt)
        if claim.state is ClaimState.BUSY:
            # Another worker holds the claim (or died holding it: the sweeper frees it).
            return Outcome(DEFERRED, attempt, announce=False, record=False)
        d.token = claim.token

        not_before = header_time(d.headers.get(NOT_BEFORE))
        if not_before is not None and not_before > now:
            # Too early (rule delay, quiet hours, rate limit): release the claim, hop
            # through a delay tier. The status event goes out once, not at every hop.
            return Outcome(DEFERRED, attempt, reason=f"not before {not_before.isoformat()}",
                           wait=not_before - now, not_before=not_before,
                           retry_at=not_before, event_reason="scheduled",
                           announce=not d.headers.get(DEFERRED_FLAG))

        decision = self._decide(d, now)
        if decision.action == "skip":
            return Outcome(SKIPPED, attempt, reason=decision.reason or "skipped by policy")
        if decision.action == "defer" and decision.until is not None:
            until = decision.until
            return Outcome(DEFERRED, attempt, reason=decision.reason, wait=until - now,
                           not_before=until, retry_at=until)

        try:
            rendered = self._render(job)
        except TemplateError as exc:
            metrics.child(metrics.TEMPLATE_ERRORS, job.event_type, self.channel).inc()
            return self._dead(d, exc.code, f"template error: {exc}", None)  # budget too
        d.version = rendered.version
        d.message = self._message(job, rendered, attempt)
        return None

    def _send(self, d: Delivery) -> Outcome:
        """The provider call (send thread): an outcome, never an exception."""
        message = d.message
        assert message is not None
        if d.rate_wait > 0:
            time.sleep(d.rate_wait)
        try:
            receipt: Receipt = self.retry.call(lambda: self.sender.send(message))
        except SendError as exc:
            return self._failed(d, exc)
        except Exception as exc:
            return self._unexpected(d, exc)
        return Outcome(SENT, d.attempt, provider=receipt.provider,
                       message_id=receipt.message_id, template_version=d.version)

    def _record(self, batch: list[Delivery]) -> list[Settlement]:
        """Every outcome of the batch to the ledger in one transaction (fenced by the
        claims' tokens), then one settlement per delivery."""
        writes: list[tuple[Delivery, Write]] = []
        for d in batch:
            assert d.outcome is not None
            write = self.recorder.write(d.outcome, d.job, d.token)
            if write is not None:
                writes.append((d, write))
        sent = sum(1 for d, _ in writes if d.outcome is not None and d.outcome.kind == SENT)
        self._unrecorded.inc(sent)
        try:
            # give_up: a stop while the ledger is down must still settle what was sent
            written = self.guard.call(self.ledger.record_many, [w for _, w in writes],
                                      give_up=True) if writes else []
        finally:
            self._unrecorded.dec(sent)
        unwritten: set[int] = set()
        if written is None:
            unwritten = {id(d) for d, _ in writes}
        else:
            for (d, w), ok in zip(writes, written, strict=True):
                if not ok:
                    self._fenced(w.status, d.job)
        settlements = []
        for d in batch:
            outcome = d.outcome
            assert outcome is not None
            if id(d) in unwritten:
                if outcome.kind == SENT:
                    log.error("notice %s was sent but its record could not be written; "
                              "acking it anyway (a redelivery could only send it twice)",
                              d.job.notification_id)
                else:  # stopping with the ledger down: back to the queue, decided again
                    settlements.append(Settlement(d.tag, [], reject=True, requeue=True))
                    continue
            try:
                publishes = self.recorder.publishes(outcome, d.job, d.headers)
                after = self.recorder.count(outcome, d.job)
            except Exception:
                if outcome.kind != SENT:
                    raise
                log.exception("status event of sent notice %s failed", d.job.notification_id)
                publishes, after = [], None  # a status event is not worth a second send
            settlements.append(Settlement(d.tag, publishes, after=after))
        return settlements

    def _fenced(self, status: str, job: Job) -> None:
        metrics.child(metrics.LEDGER_FENCED, self.channel, status).inc()
        log.warning("record %s of %s refused: the claim had passed on (stale); the job "
                    "goes on as decided", status, job.notification_id)

    # -- steps ----------------------------------------------------------------------------
    def _decide(self, d: Delivery, now: datetime) -> Decision:
        job = d.job
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
        d.rate_wait = wait  # waited in the send thread, not the batch's
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

    def _unexpected(self, d: Delivery, exc: BaseException) -> Outcome:
        log.error("unexpected error processing %s: %s: %s", d.job.notification_id,
                  type(exc).__name__, mask_known(str(exc), d.job.data), exc_info=exc)
        return self._failed(d, TransientError(
            f"unexpected error: {type(exc).__name__}: {exc}", provider="hub", code="INTERNAL"))

    def _failed(self, d: Delivery, exc: SendError) -> Outcome:
        provider = exc.provider or None
        attempt = d.attempt
        # A provider's answer may quote the number, the address or the name it refused:
        # masked before it reaches the ledger, the headers, the status event or a log.
        reason = mask_known(exc.reason, d.job.data)
        if isinstance(exc, CredentialsError):
            return self._dead(d, "credentials", reason, provider)
        if isinstance(exc, PermanentError):
            return self._dead(d, "permanent", reason, provider)
        if self.retry.exhausted(attempt):
            return self._dead(d, "attempts_exhausted",
                              f"attempts used up ({attempt}): {reason}", provider)
        tier = self.retry.tier_for_attempt(attempt)
        return Outcome(RETRIED, attempt, reason=reason, provider=provider,
                       template_version=d.version, tier=tier.name,
                       retry_at=self.clock() + timedelta(seconds=tier.seconds))

    def _dead(self, d: Delivery, code: str, reason: str, provider: str | None) -> Outcome:
        log.warning("notice %s parked (%s): %s", d.job.notification_id, code, reason)
        return Outcome(DEAD, d.attempt, reason=reason, provider=provider, code=code)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
