"""The producer: how the hub (``publish``, ``demo``, the benchmark) publishes case events.

::

    from hub.producer import open_producer

    with open_producer("amqp://guest:guest@rabbit:5672/") as producer:
        producer.publish(event)                 # one event, waits for its confirm
        result = producer.publish_batch(events)  # many confirms in flight at once
        assert not result.failed

On RabbitMQ this is the light client's producer (:mod:`minwon_client.producer`, the
same code upstream Python systems use): persistent, mandatory, routing key = type,
message id = id, up to ``max_in_flight`` confirms in flight. An event the broker nacks
or returns is reported in :attr:`BatchResult.failed`, never silently dropped. The
embedded in-memory transport (``memory://``) gets :class:`KombuProducer`. The producer
does not validate events unless asked (``validate=True``): the router does, and rejects
a bad one to ``hub.rejected`` with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hub.brokerurl import parse_urls
from hub.topology import EVENTS_EXCHANGE
from minwon_client.producer import (
    BatchResult,
    Event,
    PikaProducer,
    Producer,
    PublishError,
    encode,
    encode_message,
)

__all__ = ["BatchResult", "Event", "KombuProducer", "PikaProducer", "Producer",
           "PublishError", "encode", "open_producer"]


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
            encoded = encode_message(event)
            message = self.channel.prepare_message(
                encoded.body, None, encoded.content_type, "utf-8", {},
                {"delivery_mode": 2, "message_id": encoded.event_id},
            )
            self.channel.basic_publish(message, exchange=self.exchange,
                                       routing_key=encoded.routing_key)
            result.published += 1
            result.confirmed += 1
        return result

    def close(self) -> None:
        self.conn.release()


def open_producer(url: str, **options: Any) -> Producer:
    """A producer for ``url``: pika with pipelined confirms for RabbitMQ, kombu for memory.

    The URL (or failover list) is read by :mod:`hub.brokerurl`, as the consumers' URLs
    are, and pika is given the parts (never ``pika.URLParameters``, which reads the
    vhost of ``amqp://host//`` as ``''``)."""
    if url.startswith("memory://"):
        return KombuProducer(url, **options)
    connect_timeout = float(options.pop("connect_timeout", 10.0))
    parameters = [u.pika_parameters(heartbeat=0, connect_timeout=connect_timeout)
                  for u in parse_urls(url)]
    return PikaProducer(parameters=parameters, **options)
