"""minwon-client: publish case events to minwon-hub (민원 알림 허브).

A small distribution (pika, fastjsonschema; aio-pika for asyncio) holding what an
upstream Python system needs: the typed event builder :class:`CaseEvent`, the contract
(:mod:`minwon_client.schema`, the hub's own schema files), and producers with publisher
confirms (:func:`open_producer`; :class:`minwon_client.aio.AsyncProducer`). The hub
publishes with this same code. Guide: docs/upstream.md of minwon-hub.
"""

from minwon_client.event import Case, CaseEvent, Citizen, Person
from minwon_client.producer import (
    EVENTS_EXCHANGE,
    BatchResult,
    PikaProducer,
    Producer,
    PublishError,
    open_producer,
)
from minwon_client.schema import EVENT_TYPES, InvalidEvent, validate

__all__ = [
    "EVENTS_EXCHANGE",
    "EVENT_TYPES",
    "BatchResult",
    "Case",
    "CaseEvent",
    "Citizen",
    "InvalidEvent",
    "Person",
    "PikaProducer",
    "Producer",
    "PublishError",
    "open_producer",
    "validate",
]
