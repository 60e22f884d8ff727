"""Publishing case events with publisher confirms (pika), as the hub itself does::

    from minwon_client import CaseEvent, open_producer

    with open_producer("amqp://user:pass@rabbit:5672/%2F", validate=True) as producer:
        producer.publish(CaseEvent.received(org=..., case=..., citizen=...))  # waits
        result = producer.publish_batch(events)  # many confirms in flight at once
        assert result.ok, result.failed

Every event goes to the exchange ``minwon.events`` persistent, with the mandatory flag,
its type as routing key and its ``id`` as message id. A batch keeps up to
``max_in_flight`` unconfirmed publishes in flight over pika's asynchronous connection
(pipelined confirms). An event the broker nacks or returns as unroutable, or that fails
``validate=True``, is reported in :attr:`BatchResult.failed`, never silently dropped.
``mode="binary"`` publishes CloudEvents binary mode (``ce-*`` headers, data as body).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pika
from pika.adapters.select_connection import SelectConnection

from minwon_client.event import DATA_CONTENT_TYPE, STRUCTURED, CaseEvent
from minwon_client.schema import InvalidEvent, validate

__all__ = [
    "EVENTS_EXCHANGE",
    "BatchResult",
    "Encoded",
    "Event",
    "Mode",
    "PikaProducer",
    "Producer",
    "PublishError",
    "encode",
    "encode_message",
    "open_producer",
]

EVENTS_EXCHANGE = "minwon.events"
Event = CaseEvent | Mapping[str, Any] | bytes
Mode = Literal["structured", "binary"]


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


@dataclass(frozen=True, slots=True)
class Encoded:
    """One event as an AMQP message."""

    body: bytes
    routing_key: str
    event_id: str | None
    headers: dict[str, Any] | None = None
    content_type: str = STRUCTURED


def encode(event: Event) -> tuple[bytes, str, str | None]:
    """(body, routing key, event id) of an event in structured mode."""
    message = encode_message(event)
    return message.body, message.routing_key, message.event_id


def _as_dict(event: Event) -> tuple[Mapping[str, Any] | None, bytes | None]:
    if isinstance(event, CaseEvent):
        return event.to_dict(), None
    if isinstance(event, bytes | bytearray):
        raw = bytes(event)
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None, raw
        return (obj if isinstance(obj, Mapping) else None), raw
    return event, None


def encode_message(event: Event, mode: Mode = "structured", *,
                   check: bool = False) -> Encoded:
    """``event`` as the message to publish; with ``check``, raise :class:`InvalidEvent`
    unless it meets the contract. Raw bytes go as they are in structured mode."""
    obj, raw = _as_dict(event)
    if check:
        validate(dict(obj) if isinstance(obj, Mapping) else obj)
    etype = obj.get("type") if obj is not None else None
    eid = obj.get("id") if obj is not None else None
    key = (etype if isinstance(etype, str) and etype else "invalid")[:255]
    event_id = eid if isinstance(eid, str) else None
    if mode == "binary":
        if obj is None:
            raise InvalidEvent("not_an_object", "binary mode needs the event as a JSON object")
        headers = {f"ce-{k}": v for k, v in obj.items() if k not in ("data", "datacontenttype")}
        body = json.dumps(obj.get("data"), ensure_ascii=False, separators=(",", ":")).encode()
        content_type = obj.get("datacontenttype") or DATA_CONTENT_TYPE
        return Encoded(body, key, event_id, headers, str(content_type))
    if raw is None:
        raw = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return Encoded(raw, key, event_id)


class Producer:
    """Interface of the producers. ``publish_batch`` must not lose a failure."""

    def publish(self, event: Event) -> None:
        """Publish one event and wait for its confirm; raise :class:`PublishError`
        (or :class:`InvalidEvent` with ``validate=True``)."""
        result = self.publish_batch([event])
        if not result.ok:
            reason = result.failed[0][1] if result.failed else "not confirmed"
            if reason.startswith("invalid event: "):
                code, _, why = reason[len("invalid event: "):].partition(": ")
                raise InvalidEvent(code, why)
            raise PublishError(reason)

    def publish_batch(self, events: Iterable[Event]) -> BatchResult:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        """Does nothing by default."""

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PikaProducer(Producer):
    """Pipelined publisher confirms over pika's SelectConnection.

    ``url``: an AMQP URL (or several, tried in order until one connects); or give
    ``parameters`` (pika connection parameters) instead."""

    def __init__(self, url: str | Sequence[str] | None = None, *,
                 parameters: Sequence[pika.ConnectionParameters] | None = None,
                 exchange: str = EVENTS_EXCHANGE, max_in_flight: int = 2000,
                 timeout: float = 60.0, validate: bool = False,
                 mode: Mode = "structured") -> None:
        if parameters is None:
            urls = [url] if isinstance(url, str) else list(url or ())
            if not urls:
                raise ValueError("give a broker URL (amqp://user:pass@host:5672/vhost)")
            parameters = [pika.URLParameters(u) for u in urls]
        self.addresses = list(parameters)
        for params in self.addresses:
            params.heartbeat = 0  # the ioloop only runs during a batch; rely on TCP
        self.params = self.addresses[0]
        self.exchange = exchange
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.validate = validate
        self.mode: Mode = mode
        self._conn: SelectConnection | None = None
        self._channel: Any = None
        self._error: str | None = None
        self._seq = 0  # delivery tag of the last publish on the current channel
        self._reset_batch()

    # -- connection ---------------------------------------------------------------------------
    def _open(self) -> None:
        errors = []
        for params in self.addresses:
            self.params = params
            try:
                self._open_one()
                return
            except PublishError as exc:
                errors.append(f"{params.host}:{params.port}: {exc}")
        raise PublishError("; ".join(errors))

    def _open_one(self) -> None:
        self._error = None
        self._channel = None
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
            result.failed.extend((_event_id(event), reason) for event in self._source)
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
            try:
                message = encode_message(event, self.mode, check=self.validate)
            except InvalidEvent as exc:
                self._result.failed.append((_event_id(event), f"invalid event: {exc}"))
                continue
            props = pika.BasicProperties(
                content_type=message.content_type, delivery_mode=2,
                message_id=message.event_id, headers=message.headers,
            )
            channel.basic_publish(self.exchange, message.routing_key, message.body, props,
                                  mandatory=True)
            self._seq += 1
            self._pending[self._seq] = message.event_id
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


def _event_id(event: Event) -> str | None:
    try:
        return encode_message(event).event_id
    except InvalidEvent:
        return None


def open_producer(url: str | Sequence[str], **options: Any) -> PikaProducer:
    """A producer with pipelined confirms (see :class:`PikaProducer` for ``options``)."""
    return PikaProducer(url, **options)
