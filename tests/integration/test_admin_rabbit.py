"""hub.admin.rabbit against the real local RabbitMQ: depth and consumers by the
management API and by passive declare, and the fallback between them."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests
from kombu import Connection, Queue

from hub.admin.rabbit import AmqpInspector, ManagementAPI, QueueStats, inspect_queues

pytestmark = pytest.mark.integration

AMQP_URL = os.environ.get("MINWON_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
MANAGEMENT_URL = os.environ.get("MINWON_TEST_MANAGEMENT_URL", "http://127.0.0.1:15672")


@pytest.fixture
def conn() -> Iterator[Connection]:
    with Connection(AMQP_URL, connect_timeout=5) as c:
        try:
            c.ensure_connection(max_retries=1)
        except Exception as exc:  # pragma: no cover - environment
            pytest.fail(f"RabbitMQ is not reachable at {AMQP_URL}: {exc}")
        yield c


@pytest.fixture
def temp_queue(conn: Connection) -> Iterator[Callable[[int], str]]:
    """Declare a throw-away queue holding ``n`` messages; deleted afterwards."""
    made: list[str] = []

    def make(n: int) -> str:
        name = f"test.admin.{uuid.uuid4().hex[:10]}"
        queue = Queue(name, durable=False, auto_delete=False)
        channel = conn.channel()
        queue(channel).declare()
        producer = conn.Producer(channel)
        for i in range(n):
            producer.publish({"i": i}, routing_key=name, exchange="")
        channel.close()
        made.append(name)
        return name

    yield make
    channel = conn.channel()
    for name in made:
        channel.queue_delete(name)
    channel.close()


def _management_or_skip() -> ManagementAPI:
    api = ManagementAPI.for_broker(AMQP_URL, MANAGEMENT_URL)
    if not api.available():
        pytest.skip(
            "RabbitMQ management plugin not enabled "
            "(rabbitmq-plugins enable rabbitmq_management rabbitmq_prometheus)"
        )
    return api


def test_amqp_inspector_reports_depth_consumers_and_missing_queues(
    conn: Connection, temp_queue: Callable[[int], str]
) -> None:
    # Given a queue with 3 messages, an empty one with a consumer, and a missing name
    full = temp_queue(3)
    consumed = temp_queue(0)
    consumer_channel = conn.channel()
    consumer_channel.basic_consume(queue=consumed, callback=lambda _m: None)
    missing = f"test.admin.missing.{uuid.uuid4().hex[:6]}"
    try:
        # When inspected by AMQP (the missing queue in the middle)
        stats = AmqpInspector(AMQP_URL).queues([full, missing, consumed])
    finally:
        consumer_channel.close()
    # Then depth and consumers are exact, and a missing queue does not spoil the rest
    assert stats == [
        QueueStats(full, 3, 0, source="amqp"),
        QueueStats(missing, None, None, exists=False, source="amqp"),
        QueueStats(consumed, 0, 1, source="amqp"),
    ]


def test_management_api_reports_depth_and_type(temp_queue: Callable[[int], str]) -> None:
    api = _management_or_skip()
    # Given a queue with 2 messages
    name = temp_queue(2)
    # When asked through the management API (its statistics lag a few seconds)
    deadline = time.monotonic() + 15
    stats = api.queue(name)
    while stats.messages_ready != 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        stats = api.queue(name)
    # Then it sees the queue with its depth, consumers and type
    assert (stats.name, stats.messages_ready, stats.consumers) == (name, 2, 0)
    assert stats.queue_type == "classic"
    assert stats.source == "management"
    assert name in [q.name for q in api.queues(prefix="test.admin.")]
    assert api.queue("test.admin.never-declared").exists is False


def test_inspect_queues_falls_back_to_amqp_without_management(
    temp_queue: Callable[[int], str],
) -> None:
    # Given a management URL where nothing listens
    name = temp_queue(1)
    # When inspecting
    [stats] = inspect_queues(AMQP_URL, [name], management_url="http://127.0.0.1:1", timeout=2)
    # Then AMQP answered
    assert (stats.messages_ready, stats.consumers, stats.source) == (1, 0, "amqp")


def test_management_api_with_wrong_password_is_unavailable() -> None:
    _management_or_skip()
    api = ManagementAPI(MANAGEMENT_URL, "guest", "wrong-password")
    assert api.available() is False
    with pytest.raises(requests.HTTPError):
        api.overview()
