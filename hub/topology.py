"""The hub's exchanges and queues, declared in one place.

::

    minwon.events (topic) --#--> hub.router (quorum)
    hub.notify (direct)   --<channel>--> hub.notify.<channel> (quorum)
    hub.retry (direct)    --<tier>-----> hub.retry.<tier> (fixed TTL) --dead-letter--> hub.notify
    minwon.notifications (topic): status events for upstream systems
    hub.dead, hub.rejected (quorum): the parking lot and the rejected events

A retried job is published to ``hub.retry`` with the tier as routing key and its
channel in the ``CC`` header. When the tier's fixed TTL expires, RabbitMQ
dead-letters it to ``hub.notify`` with the routing keys it was published with, the
CC'd channel among them, so it lands back on its own channel queue. One delay queue
per tier with one TTL means a message never waits behind a longer one.

On kombu's in-memory transport (the embedded default) queue arguments are ignored
and :class:`hub.delay.InProcessDelay` plays the delay tiers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kombu import Exchange, Queue

from minwon_client.producer import EVENTS_EXCHANGE as CLIENT_EVENTS_EXCHANGE

EVENTS_EXCHANGE = CLIENT_EVENTS_EXCHANGE  # the contract (minwon_client) names it
NOTIFY_EXCHANGE = "hub.notify"
RETRY_EXCHANGE = "hub.retry"
STATUS_EXCHANGE = "minwon.notifications"
ROUTER_QUEUE = "hub.router"
DEAD_QUEUE = "hub.dead"
REJECTED_QUEUE = "hub.rejected"
DELIVERY_LIMIT = 20  # redeliveries before a poison message is dead-lettered by the broker

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int | float) -> float:
    """``"10s"`` -> 10.0, ``"1m"`` -> 60.0, ``"1h30m"`` -> 5400.0, ``5`` -> 5.0 seconds."""
    if isinstance(text, int | float):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", text.strip())
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s", "", text):
        raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 10s, 1m, 1h)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


@dataclass(frozen=True)
class Tier:
    """One delay tier: queue ``hub.retry.<name>`` with a fixed TTL."""

    name: str
    seconds: float

    @property
    def queue(self) -> str:
        return f"hub.retry.{self.name}"

    @property
    def ttl_ms(self) -> int:
        return max(1, int(self.seconds * 1000))


def notify_queue(channel: str) -> str:
    return f"{NOTIFY_EXCHANGE}.{channel}"


def quorum(**extra: Any) -> dict[str, Any]:
    return {"x-queue-type": "quorum", **extra}


@dataclass(frozen=True)
class Topology:
    channels: tuple[str, ...]
    tiers: tuple[Tier, ...]
    quorum_queues: bool = True
    delivery_limit: int = DELIVERY_LIMIT
    exchanges: dict[str, Exchange] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "exchanges",
            {
                EVENTS_EXCHANGE: Exchange(EVENTS_EXCHANGE, "topic", durable=True),
                NOTIFY_EXCHANGE: Exchange(NOTIFY_EXCHANGE, "direct", durable=True),
                RETRY_EXCHANGE: Exchange(RETRY_EXCHANGE, "direct", durable=True),
                STATUS_EXCHANGE: Exchange(STATUS_EXCHANGE, "topic", durable=True),
            },
        )

    @classmethod
    def build(
        cls, channels: Iterable[str], tiers: Sequence[str], *, quorum_queues: bool = True
    ) -> Topology:
        if isinstance(tiers, str):  # "10s, 1m" from an environment variable
            tiers = [t.strip() for t in tiers.split(",") if t.strip()]
        if not tiers:
            raise ValueError("at least one retry tier is required (retry.tiers)")
        parsed = tuple(Tier(t, parse_duration(t)) for t in tiers)
        if list(parsed) != sorted(parsed, key=lambda t: t.seconds):
            raise ValueError(f"retry tiers must be in increasing order: {list(tiers)}")
        return cls(tuple(channels), parsed, quorum_queues)

    def _args(self, **extra: Any) -> dict[str, Any]:
        return quorum(**extra) if self.quorum_queues else dict(extra)

    def _limit(self, dead_letter_to: str) -> dict[str, Any]:
        if not self.quorum_queues:
            return {}
        return {
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dead_letter_to,
        }

    def router_queue(self) -> Queue:
        return Queue(
            ROUTER_QUEUE,
            self.exchanges[EVENTS_EXCHANGE],
            routing_key="#",
            durable=True,
            queue_arguments=self._args(**self._limit(REJECTED_QUEUE)),
        )

    def channel_queue(self, channel: str) -> Queue:
        return Queue(
            notify_queue(channel),
            self.exchanges[NOTIFY_EXCHANGE],
            routing_key=channel,
            durable=True,
            queue_arguments=self._args(**self._limit(DEAD_QUEUE)),
        )

    def tier_queue(self, tier: Tier) -> Queue:
        args: dict[str, Any] = {
            "x-message-ttl": tier.ttl_ms,
            "x-dead-letter-exchange": NOTIFY_EXCHANGE,
        }
        if self.quorum_queues:
            args.update(
                {
                    "x-queue-type": "quorum",
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                }
            )
        return Queue(
            tier.queue,
            self.exchanges[RETRY_EXCHANGE],
            routing_key=tier.name,
            durable=True,
            queue_arguments=args,
        )

    def parking_queues(self) -> list[Queue]:
        return [
            Queue(
                name,
                exchange=Exchange(""),
                routing_key=name,
                durable=True,
                queue_arguments=self._args(),
            )
            for name in (DEAD_QUEUE, REJECTED_QUEUE)
        ]

    def queues(self) -> list[Queue]:
        return [
            self.router_queue(),
            *(self.channel_queue(c) for c in self.channels),
            *(self.tier_queue(t) for t in self.tiers),
            *self.parking_queues(),
        ]

    def declare(self, channel: Any) -> None:
        """Declare every exchange and queue on a kombu channel. Idempotent."""
        for exchange in self.exchanges.values():
            exchange(channel).declare()
        for queue in self.queues():
            queue(channel).declare()

    def tier_for(self, seconds: float) -> Tier:
        """The longest tier not longer than ``seconds`` (the shortest if none is)."""
        chosen = self.tiers[0]
        for tier in self.tiers:
            if tier.seconds <= seconds:
                chosen = tier
        return chosen

    def definitions(self, vhost: str = "/") -> dict[str, Any]:
        """RabbitMQ definitions (``rabbitmqctl import_definitions`` format)."""
        exchanges = [
            {
                "name": e.name,
                "vhost": vhost,
                "type": e.type,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for e in self.exchanges.values()
        ]
        queues, bindings = [], []
        for q in self.queues():
            queues.append(
                {
                    "name": q.name,
                    "vhost": vhost,
                    "durable": True,
                    "auto_delete": False,
                    "arguments": dict(getattr(q, "queue_arguments", None) or {}),
                }
            )
            if q.exchange is not None and q.exchange.name:
                bindings.append(
                    {
                        "source": q.exchange.name,
                        "vhost": vhost,
                        "destination": q.name,
                        "destination_type": "queue",
                        "routing_key": q.routing_key,
                        "arguments": {},
                    }
                )
        return {
            "vhosts": [{"name": vhost}],
            "exchanges": exchanges,
            "queues": queues,
            "bindings": bindings,
        }


def from_config(config: Any, *, quorum_queues: bool = True) -> Topology:
    channels = tuple(config["channels"].keys())
    return Topology.build(channels, config["retry"]["tiers"], quorum_queues=quorum_queues)
