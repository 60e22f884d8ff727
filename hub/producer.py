"""The producer: how upstream systems publish case events to the hub.

::

    from hub.producer import open_producer

    with open_producer("amqp://guest:guest@rabbit:5672/") as producer:
        producer.publish(event)                 # one event, waits for its confirm
        result = producer.publish_batch(events)  # many confirms in flight at once
        assert not result.failed

Every event is published persistent, with the mandatory flag, to ``minwon.events``
with its type as routing key and its ``id`` as message id. On RabbitMQ the producer
uses pika's asynchronous connection so a batch keeps up to ``max_in_flight``
unconfirmed publishes in flight (pipelined confirms) instead of waiting for each. An
event the broker nacks or returns as unroutable is reported in
:attr:`BatchResult.failed`, never silently dropped. The producer does not validate
events: the router does, and rejects a bad one to ``hub.rejected`` with its reason.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pika
from pika.adapters.select_connection import SelectConnection

from hub.events import CONTENT_TYPE
from hub.topology import EVENTS_EXCHANGE

Event = Mapping[str, Any] | bytes


class PublishError(Exception):
    pass


@dataclass
class BatchResult:
    published: int = 0
    confirmed: int = 0
    failed: list[tuple[str | None, str]] = field(default_factory=list)  # (event id, reason)

    @property
    def ok(self) -> bool:
        return not self.failed and self.confirmed == self.published


def encode(event: Event) -> tuple[bytes, str, str | None]:
    """(body, routing key, event id) of an event given as a mapping or raw bytes."""
    if isinstance(event, bytes | bytearray):
        body = bytes(event)
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return body, "invalid", None
    else:
        obj = event
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    if not isinstance(obj, Mapping):
        return body, "invalid", None
    etype, eid = obj.get("type"), obj.get("id")
    key = etype if isinstance(etype, str) and etype else "invalid"
    return body, key[:255], eid if isinstance(eid, str) else None


class Producer:
    """Interface of both producers. ``publish_batch`` must not lose a failure."""

    def publish(self, event: Event) -> None:
        result = self.publish_batch([event])
        if not result.ok:
            raise PublishError(result.failed[0][1] if result.failed else "not confirmed")

    def publish_batch(self, events: Iterable[Event]) -> BatchResult:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        """Does nothing by default."""

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PikaProducer(Producer):
    """Pipelined publisher confirms over pika's SelectConnection."""

    def __init__(self, url: str, *, exchange: str = EVENTS_EXCHANGE,
                 max_in_flight: int = 2000, timeout: float = 60.0) -> None:
        self.params = pika.URLParameters(url)
        self.params.heartbeat = 0  # the ioloop only runs during a batch; rely on TCP
        self.exchange = exchange
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self._conn: SelectConnection | None = None
        self._channel: Any = None
        self._error: str | None = None
        self._seq = 0  # delivery tag of the last publish on the current channel
        self._reset_batch()

    # -- connection ---------------------------------------------------------------------------
    def _open(self) -> None:
        self._error = None
        conn = SelectConnection(
            self.params,
            on_open_callback=lambda c: c.channel(on_open_callback=self._on_channel),
            on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_closed,
        )
        self._conn = conn
        conn.ioloop.start()  # stopped once the channel is in confirm mode (or on error)
        if self._channel is None:
            self._conn = None
            raise PublishError(f"cannot open a channel to the broker: {self._error}")

    def _on_open_error(self, conn: Any, exc: BaseException) -> None:
        self._error = str(exc) or type(exc).__name__
        conn.ioloop.stop()

    def _on_closed(self, conn: Any, reason: BaseException) -> None:
        self._error = str(reason)
        self._channel = None
        conn.ioloop.stop()

    def _on_channel(self, channel: Any) -> None:
        self._channel = channel
        self._seq = 0  # confirm delivery tags count per channel, across batches
        channel.add_on_return_callback(self._on_return)
        channel.add_on_close_callback(self._on_channel_closed)
        channel.confirm_delivery(self._on_confirm, callback=lambda _f: self._ioloop_stop())

    def _on_channel_closed(self, channel: Any, reason: BaseException) -> None:
        self._error = str(reason)
        self._channel = None
        self._ioloop_stop()

    def _ioloop_stop(self) -> None:
        if self._conn is not None:
            self._conn.ioloop.stop()

    # -- a batch -------------------------------------------------------------------------------
    def _reset_batch(self) -> None:
        self._source: Iterator[Event] = iter(())
        self._exhausted = True
        self._pending: dict[int, str | None] = {}
        self._returned: dict[str | None, deque[str]] = {}
        self._result = BatchResult()

    def publish_batch(self, events: Iterable[Event]) -> BatchResult:
        if self._conn is None or self._channel is None or not self._conn.is_open:
            self._open()
        assert self._conn is not None
        self._reset_batch()
        self._source = iter(events)
        self._exhausted = False
        ioloop = self._conn.ioloop
        ioloop.call_later(0, self._pump)
        timer = ioloop.call_later(self.timeout, self._on_timeout)
        ioloop.start()
        ioloop.remove_timeout(timer)
        result = self._result
        if self._pending:
            reason = self._error or "connection lost before the broker confirmed"
            result.failed.extend((eid, reason) for eid in self._pending.values())
            self._pending.clear()
        if not self._exhausted:  # stopped before publishing them all (connection lost)
            reason = self._error or "connection lost before publishing"
            result.failed.extend((encode(event)[2], reason) for event in self._source)
            self._exhausted = True
        return result

    def _pump(self) -> None:
        channel = self._channel
        if channel is None:
            self._ioloop_stop()
            return
        while not self._exhausted and len(self._pending) < self.max_in_flight:
            try:
                event = next(self._source)
            except StopIteration:
                self._exhausted = True
                break
            body, key, event_id = encode(event)
            props = pika.BasicProperties(
                content_type=CONTENT_TYPE, delivery_mode=2, message_id=event_id,
            )
            channel.basic_publish(self.exchange, key, body, props, mandatory=True)
            self._seq += 1
            self._pending[self._seq] = event_id
            self._result.published += 1
        if self._exhausted and not self._pending:
            self._ioloop_stop()

    def _on_return(self, channel: Any, method: Any, props: Any, body: bytes) -> None:
        reason = f"unroutable ({method.reply_code} {method.reply_text}): {method.routing_key}"
        self._returned.setdefault(props.message_id, deque()).append(reason)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        ok = isinstance(method, pika.spec.Basic.Ack)
        tags = sorted(t for t in self._pending if t <= method.delivery_tag) \
            if method.multiple else [method.delivery_tag]
        for tag in tags:
            if tag not in self._pending:  # a late confirm of an earlier, timed-out batch
                continue
            event_id = self._pending.pop(tag)
            returned = self._returned.get(event_id)
            if returned:
                self._result.failed.append((event_id, returned.popleft()))
            elif ok:
                self._result.confirmed += 1
            else:
                self._result.failed.append((event_id, "nacked by the broker"))
        self._pump()

    def _on_timeout(self) -> None:
        self._error = f"no confirm within {self.timeout}s"
        self._ioloop_stop()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.is_open:
            conn.close()
            conn.ioloop.start()  # run until closed (on_close_callback stops it)


class KombuProducer(Producer):
    """For the embedded in-memory transport (``memory://``), where publishes are
    synchronous and need no confirms."""

    def __init__(self, url: str, *, exchange: str = EVENTS_EXCHANGE) -> None:
        from hub.transport import connect

        self.conn = connect(url)
        self.channel = self.conn.channel()
        self.exchange = exchange

    def publish_batch(self, events: Iterable[Event]) -> BatchResult:
        result = BatchResult()
        for event in events:
            body, key, event_id = encode(event)
            message = self.channel.prepare_message(
                body, None, CONTENT_TYPE, "utf-8", {},
                {"delivery_mode": 2, "message_id": event_id},
            )
            self.channel.basic_publish(message, exchange=self.exchange, routing_key=key)
            result.published += 1
            result.confirmed += 1
        return result

    def close(self) -> None:
        self.conn.release()


def open_producer(url: str, **options: Any) -> Producer:
    """A producer for ``url``: pika with pipelined confirms for RabbitMQ, kombu for memory."""
    if url.startswith("memory://"):
        return KombuProducer(url, **options)
    return PikaProducer(url, **options)
