"""A mandatory publish that comes back is never taken for delivered: with ``hub.dead``
deleted, a notice that must be parked keeps its delivery unacked (held, retried) until
the parking lot exists again, and a stop returns it to its queue. Real RabbitMQ, a
throw-away vhost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.app import Hub
from hub.topology import DEAD_QUEUE, notify_queue
from hub.transport import connect
from tests.conftest import VHost, make_config
from tests.integration.harness import drain, publish, queue_depth, wait_for

pytestmark = pytest.mark.integration

PERMANENT = "010-0000-2000"  # every provider refuses it for good: the notice is parked


def _event(event_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0", "id": event_id, "source": "/test", "type": "case.received",
        "data": {"org": "gumi",
                 "case": {"id": "P-1", "title": "t", "department": "d",
                          "officer": {"name": "김담당", "phone": "054-480-0000"}},
                 "citizen": {"name": "홍길동", "phone": PERMANENT, "channels": ["sms"]}},
    }


def _config(tmp_path: Path, vhost: VHost) -> Any:
    return make_config(tmp_path, vhost.url,
                       channels={"sms": {"providers": ["outbox"]},
                                 "email": {"providers": ["outbox"]},
                                 "push": {"providers": ["outbox"]}})


def _delete_queue(url: str, name: str) -> None:
    with connect(url) as conn:
        conn.channel().queue_delete(name)


def _sms_loop(hub: Hub) -> Any:
    (component,) = [c for c in hub.components if c.name == "worker-sms"]
    return component.loop


def _parked(url: str) -> list[dict[str, Any]]:
    return [json.loads(body) for body, _ in drain(url, DEAD_QUEUE)]


def test_a_missing_parking_queue_holds_the_delivery_until_it_is_back(
    vhost: VHost, tmp_path: Path
) -> None:
    hub = Hub(_config(tmp_path, vhost))
    hub.start()
    try:
        # Given the parking lot deleted by mistake
        _delete_queue(vhost.url, DEAD_QUEUE)
        # When a notice must be parked (the provider refuses it for good)
        publish(vhost.url, [_event("park-1")])
        wait_for(lambda: _sms_loop(hub)._held, timeout=20, message="the held delivery")
        # Then its delivery is not acked: it stays unsettled on the worker, and the
        # parking publish is retried rather than counted as delivered
        assert _sms_loop(hub).health().unsettled == 1
        # When the parking lot is declared again
        hub.declare()
        # Then the retried publish lands there and only then is the delivery acked
        wait_for(lambda: queue_depth(vhost.url, DEAD_QUEUE) == 1, timeout=20,
                 message="the job parked on hub.dead")
        wait_for(lambda: _sms_loop(hub).health().unsettled == 0, timeout=10,
                 message="the delivery acked")
    finally:
        hub.stop()
    assert queue_depth(vhost.url, notify_queue("sms")) == 0
    (parked,) = _parked(vhost.url)
    assert parked["recipient"]["address"] == PERMANENT


def test_a_stop_returns_a_held_delivery_and_the_next_run_parks_it(
    vhost: VHost, tmp_path: Path
) -> None:
    config = _config(tmp_path, vhost)
    hub = Hub(config)
    hub.start()
    try:
        # Given a delivery held because hub.dead is missing
        _delete_queue(vhost.url, DEAD_QUEUE)
        publish(vhost.url, [_event("park-2")])
        wait_for(lambda: _sms_loop(hub)._held, timeout=20, message="the held delivery")
    finally:
        # When the worker stops
        hub.stop()
    # Then the job is back on its queue (not acked, not dead-lettered into nothing)
    wait_for(lambda: queue_depth(vhost.url, notify_queue("sms")) == 1, timeout=20,
             message="the job back on hub.notify.sms")
    # When the hub runs again (declaring its topology, hub.dead included)
    with_queue = Hub(config)
    with_queue.start()
    try:
        # Then the redelivered job, already recorded dead, is parked again
        wait_for(lambda: queue_depth(vhost.url, DEAD_QUEUE) == 1, timeout=20,
                 message="the job parked on hub.dead")
    finally:
        with_queue.stop()
    assert queue_depth(vhost.url, notify_queue("sms")) == 0
