"""Publishing case events from asyncio code, with publisher confirms (aio-pika)::

    from minwon_client import CaseEvent
    from minwon_client.aio import AsyncProducer

    async with AsyncProducer("amqp://user:pass@rabbit:5672/%2F", validate=True) as producer:
        await producer.publish(CaseEvent.received(org=..., case=..., citizen=...))
        result = await producer.publish_batch(events)  # many confirms in flight at once

Needs the extra ``minwon-client[asyncio]`` (aio-pika). The same messages as the
synchronous producer: persistent, mandatory, routing key = type, message id = id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from minwon_client.producer import (
    EVENTS_EXCHANGE,
    BatchResult,
    Event,
    Mode,
    PublishError,
    encode_message,
)
from minwon_client.schema import InvalidEvent

__all__ = ["AsyncProducer"]


class AsyncProducer:
    """Publisher confirms over one aio-pika channel; ``publish_batch`` keeps up to
    ``max_in_flight`` publishes awaiting their confirm at once."""

    def __init__(self, url: str, *, exchange: str = EVENTS_EXCHANGE,
                 max_in_flight: int = 2000, timeout: float = 60.0, validate: bool = False,
                 mode: Mode = "structured") -> None:
        self.url = url
        self.exchange_name = exchange
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.validate = validate
        self.mode: Mode = mode
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def _ready(self) -> AbstractExchange:
        if self._exchange is None or self._channel is None or self._channel.is_closed:
            self._connection = await aio_pika.connect(self.url, timeout=self.timeout)
            # confirms on; a returned (unroutable) message fails its publish
            self._channel = await self._connection.channel(publisher_confirms=True,
                                                           on_return_raises=True)
            # passive: the hub declares its topology; publishing never creates it
            self._exchange = await self._channel.get_exchange(self.exchange_name,
                                                              ensure=False)
        return self._exchange

    async def _publish_one(self, exchange: AbstractExchange, event: Event) -> str | None:
        """Publish and await the confirm; the reason it failed, or None."""
        message = encode_message(event, self.mode, check=self.validate)
        amqp_message = aio_pika.Message(
            message.body, content_type=message.content_type, headers=message.headers,
            message_id=message.event_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            confirmation = await exchange.publish(amqp_message, message.routing_key,
                                                  mandatory=True, timeout=self.timeout)
        except aio_pika.exceptions.DeliveryError as exc:
            frame = exc.frame
            if exc.message is not None:  # returned
                return f"unroutable: {message.routing_key}"
            return f"nacked by the broker ({type(frame).__name__})"
        except TimeoutError:
            return f"no confirm within {self.timeout}s"
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            return f"nacked by the broker ({type(confirmation).__name__})"
        return None

    async def publish(self, event: Event) -> None:
        """Publish one event and await its confirm; raise :class:`PublishError` (or
        :class:`InvalidEvent` with ``validate=True``)."""
        exchange = await self._ready()
        failed = await self._publish_one(exchange, event)
        if failed is not None:
            raise PublishError(failed)

    async def publish_batch(self, events: Iterable[Event]) -> BatchResult:
        exchange = await self._ready()
        result = BatchResult()
        slots = asyncio.Semaphore(self.max_in_flight)

        async def one(event: Event) -> None:
            async with slots:
                try:
                    failed = await self._publish_one(exchange, event)
                except InvalidEvent as exc:
                    result.failed.append((_id(event), f"invalid event: {exc}"))
                    return
                except Exception as exc:  # connection lost: reported, not raised
                    failed = f"{type(exc).__name__}: {exc}"
                result.published += 1
                if failed is None:
                    result.confirmed += 1
                else:
                    result.failed.append((_id(event), failed))

        await asyncio.gather(*(one(event) for event in events))
        return result

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        self._channel = self._exchange = None
        if connection is not None:
            await connection.close()

    async def __aenter__(self) -> AsyncProducer:
        await self._ready()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()


def _id(event: Any) -> str | None:
    try:
        return encode_message(event).event_id
    except InvalidEvent:
        return None
