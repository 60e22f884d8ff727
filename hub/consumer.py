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

from hub import metrics
from hub.broker import HubConnection
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

    def accepting(self) -> bool:
        """Whether the stage takes work now (a channel worker whose ledger is down does
        not: its health then says not consuming). True by default."""
        return True

    def begin_stop(self) -> None:
        """Stop starting new work; what is running finishes."""

    def stop(self) -> None:
        """Called once on the loop's thread at the end."""


class ConsumingLoop:
    HOLD_FIRST_PAUSE = 1.0  # seconds before a held delivery's failed publish is retried
    HOLD_MAX_PAUSE = 30.0
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
        # Settlements held because a publish failed: (retry at, settlement), unacked.
        self._held: list[tuple[float, Settlement]] = []
        self._held_tries: dict[int, int] = {}
        self._held_gauge = metrics.child(metrics.SETTLEMENTS_HELD, stage.queue_name)
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
            consuming=self._consuming and self.error is None and self.stage.accepting(),
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
        raw = self.connection.connection  # the py-amqp connection (hub.broker)
        self._amqp = raw if isinstance(raw, HubConnection) else None
        self.publisher = ConfirmingPublisher(self.connection, self.channel,
                                             confirms=self.profile.confirms)
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
        busy = self.stage.busy() > len(self._held) or self._waiting
        timeout = 0.002 if busy else (0.05 if allow_wait else 0.0)
        if self._amqp is None:
            try:
                self.connection.drain_events(timeout=timeout)
            except TimeoutError:
                pass
        elif not self._amqp.drain_buffered():
            # Nothing read yet: wait for the socket, then take all it brought at once.
            try:
                self._amqp.drain_events(timeout=timeout)
            except TimeoutError:
                pass
            self._amqp.drain_buffered()
        self._apply_settlements()
        now = time.monotonic()
        self._retry_held(now)
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
            self._finish(settlement)
            return
        remaining = [len(settlement.publishes)]
        failed: list[tuple[Publish, str]] = []
        self._waiting += 1

        def confirm(publish: Publish) -> Callable[[bool, str | None], None]:
            def on_confirm(ok: bool, reason: str | None) -> None:
                if not ok:
                    failed.append((publish, reason or "not confirmed"))
                remaining[0] -= 1
                if remaining[0] == 0:
                    self._waiting -= 1
                    if failed:
                        self._hold(settlement, failed)
                    else:
                        self._finish(settlement)
            return on_confirm

        for p in settlement.publishes:
            self.publisher.publish(
                p.body, exchange=p.exchange, routing_key=p.routing_key, headers=p.headers,
                message_id=p.message_id, mandatory=p.mandatory, content_type=p.content_type,
                callback=confirm(p),
            )

    def _hold(self, settlement: Settlement, failed: list[tuple[Publish, str]]) -> None:
        """A publish the delivery needs was returned (no queue bound: a deleted
        ``hub.dead``?) or nacked. The delivery is neither acked (its follow-up would be
        lost) nor dead-lettered (the dead-letter target may be the missing queue): it is
        held, unacked, and the failed publishes alone are retried with a growing pause.
        A stop returns it to its queue."""
        tries = self._held_tries.get(settlement.delivery_tag, 0) + 1
        self._held_tries[settlement.delivery_tag] = tries
        pause = min(self.HOLD_MAX_PAUSE, self.HOLD_FIRST_PAUSE * 2 ** (tries - 1))
        for publish, reason in failed:
            metrics.child(metrics.PUBLISH_RETURNED, publish.exchange or "(default)").inc()
            log.error("publish to %s %s for delivery %s failed (%s); holding the delivery, "
                      "retry %d in %.0f s", publish.exchange or "(default)",
                      publish.routing_key, settlement.delivery_tag, reason, tries, pause)
        settlement.publishes = [publish for publish, _ in failed]
        self._held.append((time.monotonic() + pause, settlement))
        self._held_gauge.set(len(self._held))

    def _retry_held(self, now: float) -> None:
        if not any(t <= now for t, _ in self._held):
            return
        due = [s for t, s in self._held if t <= now]
        self._held = [(t, s) for t, s in self._held if t > now]
        self._held_gauge.set(len(self._held))
        for settlement in due:
            self._begin(settlement)

    def _finish(self, settlement: Settlement) -> None:
        tag = settlement.delivery_tag
        self._held_tries.pop(tag, None)
        if settlement.reject:
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
        # Held deliveries are not waited for: closing the channel returns them.
        while (self.stage.busy() > len(self._held) or self._waiting
               or not self._done.empty()) and time.monotonic() < deadline:
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
