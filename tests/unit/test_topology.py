"""Topology: durations, delay tiers, queue arguments, RabbitMQ definitions."""

from __future__ import annotations

from typing import Any

import pytest

from hub.config import DEFAULTS, Config, deep_merge
from hub.topology import (
    DEAD_QUEUE,
    DELIVERY_LIMIT,
    EVENTS_EXCHANGE,
    NOTIFY_EXCHANGE,
    REJECTED_QUEUE,
    RETRY_EXCHANGE,
    ROUTER_QUEUE,
    STATUS_EXCHANGE,
    Tier,
    Topology,
    from_config,
    notify_queue,
    parse_duration,
)

CHANNELS = ["sms", "email", "push"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("10s", 10.0),
        ("1m", 60.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1d", 86400.0),
        ("1.5s", 1.5),
        ("2m30s", 150.0),
        (" 10s ", 10.0),
        ("0s", 0.0),
        (5, 5.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", "10", "ten seconds", "10x", "s", "1m30", "10s5", "1mm", "-5s", "1 hour", "1h 30"],
)
def test_parse_duration_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a duration: .* \(use e\.g\. 500ms, 10s, 1m, 1h\)"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("tiers", "ok"),
    [
        (["10s", "1m", "10m", "1h"], True),
        (["1s"], True),
        (["500ms", "1s"], True),
        (["1m", "10s"], False),
        (["10s", "1h", "10m"], False),
    ],
)
def test_tiers_must_be_in_increasing_order(tiers: list[str], ok: bool) -> None:
    if ok:
        built = Topology.build(CHANNELS, tiers)
        assert [t.name for t in built.tiers] == tiers
    else:
        with pytest.raises(ValueError, match="retry tiers must be in increasing order"):
            Topology.build(CHANNELS, tiers)


def test_at_least_one_tier_is_required() -> None:
    with pytest.raises(ValueError):
        Topology.build(CHANNELS, [])


@pytest.mark.parametrize(
    ("seconds", "tier"),
    [
        (0, "10s"),
        (5, "10s"),  # shorter than every tier: the shortest
        (10, "10s"),
        (59.9, "10s"),
        (60, "1m"),
        (599, "1m"),
        (600, "10m"),
        (3600, "1h"),
        (9 * 3600, "1h"),  # longer than every tier: the longest (it hops again)
    ],
)
def test_tier_for_is_the_longest_tier_not_longer(seconds: float, tier: str) -> None:
    topology = Topology.build(CHANNELS, ["10s", "1m", "10m", "1h"])
    assert topology.tier_for(seconds).name == tier


@pytest.mark.parametrize(
    ("name", "seconds", "queue", "ttl_ms"),
    [
        ("10s", 10.0, "hub.retry.10s", 10000),
        ("500ms", 0.5, "hub.retry.500ms", 500),
        ("0s", 0.0, "hub.retry.0s", 1),  # never 0: RabbitMQ would expire at once anyway
    ],
)
def test_a_tier_names_its_queue_and_ttl(name: str, seconds: float, queue: str,
                                        ttl_ms: int) -> None:
    tier = Tier(name, seconds)
    assert (tier.queue, tier.ttl_ms) == (queue, ttl_ms)


def by_name(topology: Topology) -> dict[str, Any]:
    return {q.name: q for q in topology.queues()}


def test_every_queue_is_declared_with_its_binding() -> None:
    queues = by_name(Topology.build(CHANNELS, ["10s", "1m"]))
    assert list(queues) == [ROUTER_QUEUE, "hub.notify.sms", "hub.notify.email", "hub.notify.push",
                            "hub.retry.10s", "hub.retry.1m", DEAD_QUEUE, REJECTED_QUEUE]
    bindings = {n: (q.exchange.name, q.routing_key) for n, q in queues.items()}
    assert bindings == {
        ROUTER_QUEUE: (EVENTS_EXCHANGE, "#"),
        "hub.notify.sms": (NOTIFY_EXCHANGE, "sms"),
        "hub.notify.email": (NOTIFY_EXCHANGE, "email"),
        "hub.notify.push": (NOTIFY_EXCHANGE, "push"),
        "hub.retry.10s": (RETRY_EXCHANGE, "10s"),
        "hub.retry.1m": (RETRY_EXCHANGE, "1m"),
        DEAD_QUEUE: ("", DEAD_QUEUE),
        REJECTED_QUEUE: ("", REJECTED_QUEUE),
    }
    assert all(q.durable for q in queues.values())


def test_quorum_queue_arguments() -> None:
    queues = by_name(Topology.build(CHANNELS, ["10s", "1m"]))
    # The router's poison messages go to hub.rejected, a worker's to hub.dead
    assert queues[ROUTER_QUEUE].queue_arguments == {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": REJECTED_QUEUE,
    }
    assert queues["hub.notify.sms"].queue_arguments == {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": DEAD_QUEUE,
    }
    # A tier holds for its fixed TTL, then dead-letters back to hub.notify
    assert queues["hub.retry.1m"].queue_arguments == {
        "x-queue-type": "quorum",
        "x-message-ttl": 60000,
        "x-dead-letter-exchange": NOTIFY_EXCHANGE,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert "x-dead-letter-routing-key" not in queues["hub.retry.1m"].queue_arguments
    assert queues[DEAD_QUEUE].queue_arguments == {"x-queue-type": "quorum"}
    assert queues[REJECTED_QUEUE].queue_arguments == {"x-queue-type": "quorum"}


def test_without_quorum_queues_only_the_tier_arguments_remain() -> None:
    queues = by_name(Topology.build(CHANNELS, ["10s"], quorum_queues=False))
    assert queues["hub.retry.10s"].queue_arguments == {
        "x-message-ttl": 10000, "x-dead-letter-exchange": NOTIFY_EXCHANGE}
    for name in (ROUTER_QUEUE, "hub.notify.sms", DEAD_QUEUE, REJECTED_QUEUE):
        assert not queues[name].queue_arguments, name


def test_the_exchanges() -> None:
    exchanges = Topology.build(CHANNELS, ["10s"]).exchanges
    assert {n: e.type for n, e in exchanges.items()} == {
        EVENTS_EXCHANGE: "topic", NOTIFY_EXCHANGE: "direct", RETRY_EXCHANGE: "direct",
        STATUS_EXCHANGE: "topic"}
    assert all(e.durable for e in exchanges.values())
    assert (EVENTS_EXCHANGE, STATUS_EXCHANGE) == ("minwon.events", "minwon.notifications")


def test_definitions_shape() -> None:
    # Given a topology of two channels and one tier
    topology = Topology.build(["sms", "email"], ["10s"])
    # When its definitions are exported for a vhost
    defs = topology.definitions("tenant-a")
    # Then they hold the vhost, every exchange, queue and binding
    assert defs["vhosts"] == [{"name": "tenant-a"}]
    assert {e["name"] for e in defs["exchanges"]} == {
        EVENTS_EXCHANGE, NOTIFY_EXCHANGE, RETRY_EXCHANGE, STATUS_EXCHANGE}
    assert all(e["vhost"] == "tenant-a" and e["durable"] and not e["auto_delete"]
               for e in defs["exchanges"])
    queues = {q["name"]: q for q in defs["queues"]}
    assert set(queues) == {ROUTER_QUEUE, "hub.notify.sms", "hub.notify.email", "hub.retry.10s",
                           DEAD_QUEUE, REJECTED_QUEUE}
    assert queues["hub.retry.10s"]["arguments"]["x-message-ttl"] == 10000
    assert all(q["vhost"] == "tenant-a" and q["durable"] for q in queues.values())
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in defs["bindings"]}
    assert bindings == {
        (EVENTS_EXCHANGE, ROUTER_QUEUE, "#"),
        (NOTIFY_EXCHANGE, "hub.notify.sms", "sms"),
        (NOTIFY_EXCHANGE, "hub.notify.email", "email"),
        (RETRY_EXCHANGE, "hub.retry.10s", "10s"),
    }  # the parking queues sit on the default exchange: no binding
    assert all(b["destination_type"] == "queue" for b in defs["bindings"])


def test_definitions_default_to_the_root_vhost() -> None:
    assert Topology.build(["sms"], ["10s"]).definitions()["vhosts"] == [{"name": "/"}]


def test_from_config_takes_channels_and_tiers() -> None:
    config = Config(deep_merge(DEFAULTS, {"retry": {"tiers": ["1s", "2s"]}}))
    topology = from_config(config, quorum_queues=False)
    assert topology.channels == ("sms", "email", "push")
    assert [(t.name, t.seconds) for t in topology.tiers] == [("1s", 1.0), ("2s", 2.0)]
    assert topology.quorum_queues is False


@pytest.mark.parametrize(("channel", "queue"), [("sms", "hub.notify.sms"),
                                                ("push", "hub.notify.push")])
def test_notify_queue(channel: str, queue: str) -> None:
    assert notify_queue(channel) == queue
