"""A plain pika publisher with pipelined confirms: the peer of the hub's producer, and
the benchmark's loader for backlogs.

Publishes in batches of ``batch`` messages: up to ``batch`` publishes in flight, the
next batch once every confirm of this one is in (``batch=None``: all at once, as the
broker's flow control allows). Publishing happens in slices of 500 between I/O
turns of pika's ``SelectConnection``, so confirms are read while a large batch goes
out. Persistent messages, the mandatory flag, confirm per message (``multiple``
confirms honoured); a nack or a return fails the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pika
from pika.adapters.select_connection import SelectConnection

#: (exchange, routing key, body, message id[, headers])
Message = tuple[Any, ...]
SLICE = 500


class PipelinedPublisher:
    def __init__(self, url: str) -> None:
        params = pika.URLParameters(url)
        params.heartbeat = 0
        self._channel: Any = None
        self._seq = self._confirmed = 0
        self._singles: set[int] = set()
        self._error: str | None = None
        self.conn = SelectConnection(
            params,
            on_open_callback=lambda c: c.channel(on_open_callback=self._on_channel),
            on_open_error_callback=self._on_error,
            on_close_callback=self._on_error,
        )
        self.conn.ioloop.start()
        if self._channel is None:
            raise RuntimeError(f"pika publisher: no channel ({self._error})")

    def _on_error(self, conn: Any, exc: BaseException) -> None:
        self._error = str(exc) or type(exc).__name__
        conn.ioloop.stop()

    def _on_channel(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_confirm, callback=lambda _f: self.conn.ioloop.stop())

    def _on_return(self, channel: Any, method: Any, props: Any, body: bytes) -> None:
        self._error = f"returned: {method.reply_text} ({method.routing_key})"

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        if not isinstance(method, pika.spec.Basic.Ack):
            self._error = "nacked by the broker"
        tag = method.delivery_tag
        if method.multiple:
            self._confirmed = max(self._confirmed, tag)
            self._singles = {t for t in self._singles if t > tag}
        else:
            self._singles.add(tag)
        while self._confirmed + 1 in self._singles:  # count only a gap-free run
            self._confirmed += 1
            self._singles.discard(self._confirmed)
        self._step()

    def publish(self, messages: Iterator[Any], *, batch: int | None = None,
                seconds: float | None = None,
                encode: Callable[[Any], Message] | None = None) -> dict[str, Any]:
        """Publish from ``messages`` (or ``encode(item)`` of each) until exhausted or,
        with ``seconds``, until that long has passed (the batch in flight finishes).
        Returns how many were confirmed and how long it took."""
        self._source = messages
        self._encode = encode
        self._batch = batch
        base = self._seq  # delivery tags count on across calls (one channel)
        self._batch_end = self._seq
        self._exhausted = False
        self._stop_at = None if seconds is None else time.perf_counter() + seconds
        self._started = time.perf_counter()
        self.conn.ioloop.add_callback_threadsafe(self._step)
        self.conn.ioloop.start()
        elapsed = time.perf_counter() - self._started
        if self._error:
            raise RuntimeError(f"pika publisher: {self._error}")
        done = self._confirmed - base
        return {"confirmed": done, "seconds": round(elapsed, 3),
                "per_s": round(done / max(elapsed, 1e-9), 1),
                "batch": batch or "all"}

    def _step(self) -> None:
        if self._error:
            self.conn.ioloop.stop()
            return
        if self._seq == self._confirmed:  # the batch is in: start the next one
            if self._exhausted or (self._stop_at is not None
                                   and time.perf_counter() >= self._stop_at):
                self.conn.ioloop.stop()
                return
            self._batch_end = self._seq + (self._batch or 1 << 62)
        if self._seq < self._batch_end and not self._exhausted:
            self._publish_slice()

    def _publish_slice(self) -> None:
        channel = self._channel
        n = 0
        while self._seq < self._batch_end and n < SLICE:
            try:
                item = next(self._source)
            except StopIteration:
                self._exhausted = True
                break
            exchange, key, body, message_id, *rest = self._encode(item) if self._encode else item
            channel.basic_publish(exchange, key, body, pika.BasicProperties(
                content_type="application/json", delivery_mode=2, message_id=message_id,
                headers=rest[0] if rest else None), mandatory=True)
            self._seq += 1
            n += 1
        if self._seq < self._batch_end and not self._exhausted:
            self.conn.ioloop.call_later(0, self._publish_slice)  # let confirms be read
        elif self._exhausted and self._seq == self._confirmed:
            self.conn.ioloop.stop()

    def close(self) -> None:
        if self.conn.is_open:
            self.conn.close()
            self.conn.ioloop.start()


def event_message(event: Mapping[str, Any]) -> Message:
    """An event as a producer publishes it: JSON to ``minwon.events``, its type as
    routing key, its id as message id."""
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    return "minwon.events", str(event["type"]), body, str(event["id"])


def load(url: str, messages: Iterator[Message], *, batch: int = 2000) -> int:
    """Put messages on the broker (a backlog), confirmed; returns how many."""
    publisher = PipelinedPublisher(url)
    try:
        return int(publisher.publish(messages, batch=batch)["confirmed"])
    finally:
        publisher.close()
