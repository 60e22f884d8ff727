"""The consuming loop shared by the router and the channel workers.

One thread owns the connection: it receives deliveries, hands them to the
:class:`Stage` (the router decides inline, a worker in its send pool), publishes
what each settled delivery asks for (pipelined confirms), and acks a delivery only
after all of its publishes are confirmed. Acks are batched (``multiple=True`` up to
the highest tag whose predecessors are all settled). Heartbeats are serviced
between drains, so long sends never starve them.

Stop (SIGTERM): the consumer is cancelled, what is in flight finishes and is
settled, and the channel is closed, which returns every unsettled delivery to its
queue. Nothing is acked that was not settled.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection, Queue
from kombu import Consumer as KombuConsumer

from hub import amqpfast
from hub.confirms import ConfirmingPublisher
from hub.masking import mask_known
from hub.transport import TransportProfile

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Publish:
    """A publish a settled delivery asks for, confirmed before the delivery is acked."""

    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None
    mandatory: bool = True
    content_type: str = "application/json"


@dataclass(slots=True)
class Settlement:
    """What to do with one delivery: publish these, then ack (or reject it)."""

    delivery_tag: int
    publishes: list[Publish] = field(default_factory=list)
    reject: bool = False  # reject without requeue: the queue's dead-letter target takes it
    requeue: bool = False  # with reject: back to the queue (the delivery limit still applies)
    after: Callable[[], None] | None = None  # run once the delivery is acked (metrics, logs)


@dataclass(frozen=True, slots=True)
class LoopHealth:
    """What a consuming loop reports about itself (``/readyz`` reads it).

    ``connected``: the broker connection is open. ``consuming``: the consumer is
    registered and the loop is turning. ``unsettled``: deliveries received and not yet
    acked or rejected. ``last_ack``: ``time.monotonic()`` of the last ack or reject
    sent to the broker (of the loop's start before the first one)."""

    connected: bool
    consuming: bool
    unsettled: int
    last_ack: float


class Stage:
    """What a consuming loop does with deliveries. Hooks do nothing by default.

    ``handle`` is called on the loop's thread and must return quickly: either settle
    inline by returning a :class:`Settlement`, or return None and later call
    ``loop.settle(settlement)`` from any thread.
    """

    queue_name: str = ""

    def start(self, loop: ConsumingLoop) -> None:
        """Called once on the loop's thread, after the topology is declared."""

    def handle(self, body: bytes, headers: dict[str, Any], delivery_tag: int,
               redelivered: bool) -> Settlement | None:  # pragma: no cover - interface
        raise NotImplementedError

    def handle_message(self, body: bytes, headers: dict[str, Any], content_type: str | None,
                       delivery_tag: int, redelivered: bool) -> Settlement | None:
        """What the loop calls: ``handle`` with the message's content type too, for a
        stage that reads it (the router: CloudEvents binary mode). By default: ``handle``."""
        return self.handle(body, headers, delivery_tag, redelivered)

    def on_error(self, body: bytes, headers: dict[str, Any], delivery_tag: int,
                 exc: BaseException) -> Settlement:
        """How to settle a delivery whose ``handle`` raised. By default: reject without
        requeue, so the queue's dead-letter target keeps it for an operator."""
        return Settlement(delivery_tag, reject=True)

    def tick(self, now: float) -> None:
        """Called on the loop's thread between drains (timers, in-process delays)."""

    def busy(self) -> int:
        """Deliveries handed out and not yet settled."""
        return 0

    def begin_stop(self) -> None:
        """Stop starting new work; what is running finishes."""

    def stop(self) -> None:
        """Called once on the loop's thread at the end."""


class ConsumingLoop:
    def __init__(
        self,
        connection: Connection,
        profile: TransportProfile,
        stage: Stage,
        *,
        prefetch: int = 256,
        declare: Callable[[Any], None] | None = None,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self.connection = connection
        self.profile = profile
        self.stage = stage
        self.prefetch = prefetch
        self.declare = declare
        self.shutdown_timeout = shutdown_timeout
        self._done: queue.SimpleQueue[Settlement] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._next_tag = 1  # lowest delivery tag not yet acked
        self._settled: set[int] = set()
        self._rejected: set[int] = set()  # settled by a reject: never named in an ack
        self._waiting = 0  # settlements whose publishes are unconfirmed
        self.channel: Any = None
        self.publisher: ConfirmingPublisher | None = None
        self._amqp: Any = None  # the py-amqp connection, when reads are buffered
        self.error: BaseException | None = None
        # Health (read from other threads; plain ints and floats, written by the loop).
        self._received = 0  # deliveries handed to the stage
        self._answered = 0  # deliveries acked or rejected on the broker
        self._last_ack = time.monotonic()
        self._consuming = False

    # -- called from any thread --------------------------------------------------------
    def settle(self, settlement: Settlement) -> None:
        self._done.put(settlement)

    def request_stop(self) -> None:
        self._stop.set()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        return self._ready.wait(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def health(self) -> LoopHealth:
        """A snapshot of the loop's state; safe to call from any thread."""
        try:
            connected = bool(self.connection.connected)
        except Exception:  # a connection being torn down may raise on inspection
            connected = False
        return LoopHealth(
            connected=connected and self.error is None,
            consuming=self._consuming and self.error is None,
            unsettled=max(0, self._received - self._answered),
            last_ack=self._last_ack,
        )

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.error = exc
            raise

    def _run(self) -> None:
        self.channel = self.connection.channel()
        if self.declare is not None:
            self.declare(self.channel)
        self._amqp = None
        if self.profile.name == "amqp":
            raw = self.connection.connection  # the py-amqp connection
            if amqpfast.buffer_reads(raw):
                self._amqp = raw
        self.publisher = ConfirmingPublisher(self.connection, self.channel,
                                             confirms=self.profile.confirms,
                                             fast=self._amqp is not None)
        consumer = KombuConsumer(
            self.channel,
            queues=[Queue(self.stage.queue_name, no_declare=True)],
            on_message=self._on_delivery,
            auto_declare=False,
            prefetch_count=self.prefetch,
        )
        if self._amqp is not None:
            # Straight from py-amqp: kombu's per-message wrapping costs more than the
            # hub needs (it reads body, headers, tag and the redelivered flag only).
            self.channel.basic_qos(0, self.prefetch, False)
            tag = f"{self.stage.queue_name}.{id(self):x}"
            self.channel.basic_consume(self.stage.queue_name, consumer_tag=tag,
                                       callback=self._on_raw_delivery)
            cancel: Callable[[], Any] = lambda: self.channel.basic_cancel(tag)  # noqa: E731
        else:
            consumer.consume()
            cancel = consumer.cancel
        self.stage.start(self)
        self._last_ack = time.monotonic()
        self._consuming = True
        self._ready.set()
        log.info("consuming %s (prefetch %d)", self.stage.queue_name, self.prefetch)
        try:
            while not self._stop.is_set():
                self._turn()
        finally:
            self._consuming = False
            self._shutdown(cancel)

    def _turn(self, *, allow_wait: bool = True) -> None:
        busy = self.stage.busy() or self._waiting
        timeout = 0.002 if busy else (0.05 if allow_wait else 0.0)
        if self._amqp is None:
            try:
                self.connection.drain_events(timeout=timeout)
            except TimeoutError:
                pass
        elif not amqpfast.drain_buffered(self._amqp):
            # Nothing read yet: wait for the socket, then take all it brought at once.
            try:
                self._amqp.drain_events(timeout=timeout)
            except TimeoutError:
                pass
            amqpfast.drain_buffered(self._amqp)
        self._apply_settlements()
        now = time.monotonic()
        self.stage.tick(now)
        if self.profile.name == "amqp":
            self.connection.heartbeat_check()

    def _on_delivery(self, message: Any) -> None:
        body = message.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        self._dispatch(body, message.headers, message.delivery_tag,
                       bool(message.delivery_info.get("redelivered")), message.content_type)

    def _on_raw_delivery(self, message: Any) -> None:
        info = message.delivery_info
        properties = message.properties
        self._dispatch(message.body, properties.get("application_headers"),
                       info["delivery_tag"], bool(info.get("redelivered")),
                       properties.get("content_type"))

    def _dispatch(self, body: bytes, headers: Any, tag: int, redelivered: bool,
                  content_type: str | None = None) -> None:
        """Hand one delivery to the stage. Whatever ``handle`` raises settles that one
        delivery through ``stage.on_error``; the loop goes on."""
        headers = dict(headers) if isinstance(headers, dict) else {}
        self._received += 1
        try:
            result = self.stage.handle_message(body, headers, content_type, tag, redelivered)
        except Exception as exc:
            result = self._on_stage_error(body, headers, tag, exc)
        if result is not None:
            self._done.put(result)

    def _on_stage_error(self, body: bytes, headers: dict[str, Any], tag: int,
                        exc: BaseException) -> Settlement:
        log.error("%s: delivery %s failed in %s; settling it by on_error\n%s",
                  self.stage.queue_name, tag, type(self.stage).__name__,
                  _masked_traceback(exc, body))
        try:
            return self.stage.on_error(body, headers, tag, exc)
        except Exception:  # the error path itself failed: the dead-letter target keeps it
            log.exception("on_error failed for delivery %s; rejecting it", tag)
            return Settlement(tag, reject=True)

    def _apply_settlements(self) -> None:
        while True:
            try:
                settlement = self._done.get_nowait()
            except queue.Empty:
                break
            self._begin(settlement)
        self._flush_acks()

    def _begin(self, settlement: Settlement) -> None:
        assert self.publisher is not None
        if not settlement.publishes:
            self._finish(settlement, True, None)
            return
        remaining = [len(settlement.publishes)]
        failures: list[str] = []
        self._waiting += 1

        def on_confirm(ok: bool, reason: str | None) -> None:
            if not ok:
                failures.append(reason or "not confirmed")
            remaining[0] -= 1
            if remaining[0] == 0:
                self._waiting -= 1
                self._finish(settlement, not failures, "; ".join(failures) or None)

        for p in settlement.publishes:
            self.publisher.publish(
                p.body, exchange=p.exchange, routing_key=p.routing_key, headers=p.headers,
                message_id=p.message_id, mandatory=p.mandatory, content_type=p.content_type,
                callback=on_confirm,
            )

    def _finish(self, settlement: Settlement, ok: bool, reason: str | None) -> None:
        tag = settlement.delivery_tag
        if not ok:
            # A follow-up publish was refused (topology broken?). Reject without requeue:
            # the queue's dead-letter target keeps the message; never lost, never looped.
            log.error("publish failed for delivery %s (%s); dead-lettering it", tag, reason)
            self._reject(tag)
        elif settlement.reject:
            self._reject(tag, requeue=settlement.requeue)
        elif not self.profile.multiple_ack:
            self.channel.basic_ack(tag)
            self._answered_one()
        else:
            self._settled.add(tag)
        if settlement.after is not None:
            try:
                settlement.after()
            except Exception:  # metrics must never break delivery
                log.exception("after-settlement hook failed")

    def _answered_one(self, count: int = 1) -> None:
        self._answered += count
        self._last_ack = time.monotonic()

    def _reject(self, tag: Any, *, requeue: bool = False) -> None:
        self.channel.basic_reject(tag, requeue=requeue)
        self._answered_one()
        if self.profile.multiple_ack:
            self._settled.add(tag)
            self._rejected.add(tag)

    def _flush_acks(self) -> None:
        """Ack with ``multiple=True`` up to the highest tag below which every delivery
        is settled. A rejected tag is passed over but never named in the ack: the
        broker would close the channel for an unknown delivery tag."""
        if not self._settled or self._next_tag not in self._settled:
            return
        tag = self._next_tag
        upto = None
        acked = 0
        while tag in self._settled:
            self._settled.discard(tag)
            if tag in self._rejected:
                self._rejected.discard(tag)
            else:
                upto = tag
                acked += 1
            tag += 1
        if upto is not None and self.profile.multiple_ack:
            self.channel.basic_ack(upto, multiple=True)
            self._answered_one(acked)
        self._next_tag = tag

    def _shutdown(self, cancel: Callable[[], Any]) -> None:
        try:
            cancel()
        except Exception:  # connection may be gone already
            log.debug("basic_cancel failed", exc_info=True)
        self.stage.begin_stop()
        deadline = time.monotonic() + self.shutdown_timeout
        # Finish what was handed out, settle what was decided, and wait for the broker
        # to confirm those publishes: a delivery whose follow-ups went out is acked.
        while (self.stage.busy() or self._waiting or not self._done.empty()) \
                and time.monotonic() < deadline:
            try:
                self._turn(allow_wait=False)
            except Exception:
                log.exception("error while finishing in-flight work")
                break
        try:
            self._apply_settlements()
        except Exception:
            log.debug("final settlement failed", exc_info=True)
        self.stage.stop()
        try:
            self.channel.close()  # unsettled deliveries return to their queue
        except Exception:
            log.debug("channel close failed", exc_info=True)
        log.info("stopped consuming %s", self.stage.queue_name)


def _masked_traceback(exc: BaseException, body: bytes) -> str:
    """The traceback of an unexpected error, with whatever personal data of the message
    its text quotes masked (an exception message may hold a name from the body, which
    the log handler's patterns cannot find)."""
    text = "".join(traceback.format_exception(exc)).rstrip()
    try:
        data: Any = json.loads(body)
    except Exception:  # not JSON, or nested too deep: phones and e-mails are still masked
        data = None
    return mask_known(text, data)
