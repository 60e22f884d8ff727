"""Publishing with confirms: the hub's producer (pipelined confirms, pika) against kombu
with a confirm per message (``transport_options={'confirm_publish': True}``).

What runs where: the benchmark process itself publishes to ``minwon.events`` in a
fresh vhost where the hub's topology is declared (``hub.router`` bound, nobody
consuming). Both producers get the same events as dicts and encode them to JSON
as part of the timed work; both publish persistent messages with the mandatory flag.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench import broker, workload
from hub.events import CONTENT_TYPE
from hub.producer import PikaProducer
from hub.topology import EVENTS_EXCHANGE


def hub_producer(url: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    producer = PikaProducer(url)
    try:
        producer.publish_batch(events[:10])  # connect and warm up outside the clock
        started = time.perf_counter()
        result = producer.publish_batch(events[10:])
        elapsed = time.perf_counter() - started
    finally:
        producer.close()
    return {"events": result.published, "confirmed": result.confirmed,
            "failed": len(result.failed), "seconds": round(elapsed, 3),
            "per_s": round(result.confirmed / elapsed, 1)}


def kombu_producer(url: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    from kombu import Connection, Exchange

    with Connection(url, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer(exchange=Exchange(EVENTS_EXCHANGE, "topic", durable=True),
                                 auto_declare=False)
        started = 0.0
        for i, event in enumerate(events):
            if i == 10:
                started = time.perf_counter()
            producer.publish(
                json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode(),
                routing_key=event["type"], content_type=CONTENT_TYPE,
                content_encoding="utf-8", delivery_mode=2, mandatory=True,
                message_id=event["id"], retry=False)
        elapsed = time.perf_counter() - started
    n = len(events) - 10
    return {"events": n, "confirmed": n, "failed": 0, "seconds": round(elapsed, 3),
            "per_s": round(n / elapsed, 1)}


def run(*, hub_events: int, kombu_events: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    run_id = workload.new_run_id("p")
    with broker.fresh_vhost("producer") as url:
        broker.declare_topology(url)
        out["hub"] = hub_producer(url, list(workload.events(run_id, hub_events + 10)))
        depth, _ = broker.queue_depth(url, "hub.router")
        out["hub"]["in_queue"] = depth
    with broker.fresh_vhost("kombu") as url:
        broker.declare_topology(url)
        out["kombu"] = kombu_producer(url, list(workload.events(run_id, kombu_events + 10)))
    return out


if __name__ == "__main__":
    print(json.dumps(run(hub_events=20000, kombu_events=3000), indent=2))
