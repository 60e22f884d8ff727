"""One producer, many batches: confirms are matched to publishes across batches (the
broker's confirm delivery tags count per channel, not per batch)."""

from __future__ import annotations

import time

import pytest

from hub.producer import PikaProducer
from tests.conftest import VHost
from tests.integration.harness import queue_depth

pytestmark = pytest.mark.integration


def _event(i: int) -> dict[str, object]:
    return {"specversion": "1.0", "id": f"pb-{i}", "source": "/test", "type": "case.received",
            "data": {"org": "gumi"}}


@pytest.mark.parametrize("batch_size", [1, 7])
def test_successive_batches_on_one_producer_are_each_confirmed(
        vhost: VHost, batch_size: int) -> None:
    from hub.topology import Topology
    from hub.transport import connect

    with connect(vhost.url) as conn:
        Topology.build(("sms",), ["1s"]).declare(conn.channel())
    # Given one producer (short confirm timeout: a lost confirm shows as a failure)
    producer = PikaProducer(vhost.url, timeout=3)
    try:
        # When it publishes ten batches one after the other, and single events
        started = time.monotonic()
        results = [producer.publish_batch([_event(b * batch_size + i) for i in range(batch_size)])
                   for b in range(10)]
        producer.publish(_event(-1))
        producer.publish(_event(-2))
        elapsed = time.monotonic() - started
    finally:
        producer.close()
    # Then every batch is confirmed in full, promptly, and all events are in the queue
    assert [(r.ok, r.confirmed) for r in results] == [(True, batch_size)] * 10
    assert elapsed < 3
    assert queue_depth(vhost.url, "hub.router") == 10 * batch_size + 2


def test_a_batch_on_a_connection_the_broker_closed_reports_every_event(vhost: VHost) -> None:
    from hub.topology import Topology
    from hub.transport import connect
    from tests.conftest import rabbitmqctl

    with connect(vhost.url) as conn:
        Topology.build(("sms",), ["1s"]).declare(conn.channel())
    producer = PikaProducer(vhost.url, timeout=5)
    try:
        assert producer.publish_batch([_event(0)]).ok
        # Given the broker closed the producer's connection while it was idle
        rabbitmqctl("close_all_connections", "--vhost", vhost.name, "test")
        time.sleep(0.5)
        # When the next batches are published
        events = [_event(i) for i in range(1, 6)]
        first = producer.publish_batch(events)
        second = producer.publish_batch(events)
    finally:
        producer.close()
    # Then every event of each batch is either confirmed or reported failed, never
    # silently dropped; and the producer reconnects for the next batch
    for result in (first, second):
        assert result.confirmed + len(result.failed) == len(events)
    assert second.ok
    assert queue_depth(vhost.url, "hub.router") == 1 + first.confirmed + len(events)
