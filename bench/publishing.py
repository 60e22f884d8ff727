"""Publishing with confirms: the hub's producer (:class:`hub.producer.PikaProducer`,
pipelined confirms) against a plain pika publisher with pipelined confirms
(:class:`bench.pikapub.PipelinedPublisher`), each in batches of 1, 10, 100 and all,
for ``seconds`` each; kombu with a confirm per message stays as a reference line.

What runs where: the benchmark process publishes to ``minwon.events`` in a fresh vhost
where the hub's topology is declared (``hub.router`` bound, nobody consuming; purged
between measurements so the broker's memory stays flat). Every publisher gets the same
events as dicts (a pool of pre-built events, cycled) and encodes them to JSON inside
the clock; persistent, mandatory. "all" is one batch sized to last about ``seconds``
(the batch-100 rate of the same publisher times ``seconds``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench import pikapub, procs, rabbitmq, workload
from hub.events import CONTENT_TYPE
from hub.producer import PikaProducer
from hub.topology import EVENTS_EXCHANGE

BATCHES: tuple[int | None, ...] = (1, 10, 100, None)  # None: all at once
POOL = 5000


def _events(pool: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return itertools.cycle(pool)


def hub_producer(url: str, pool: list[dict[str, Any]], batch: int | None, seconds: float,
                 total: int | None = None) -> dict[str, Any]:
    producer = PikaProducer(url)
    source = _events(pool)
    try:
        producer.publish_batch(pool[:10])  # connect and warm up outside the clock
        confirmed = failed = 0
        started = time.perf_counter()
        if batch is None:
            result = producer.publish_batch(itertools.islice(source, total or len(pool)))
            confirmed, failed = result.confirmed, len(result.failed)
        else:
            while time.perf_counter() - started < seconds:
                result = producer.publish_batch(list(itertools.islice(source, batch)))
                confirmed += result.confirmed
                failed += len(result.failed)
        elapsed = time.perf_counter() - started
    finally:
        producer.close()
    return {"batch": batch or "all", "confirmed": confirmed, "failed": failed,
            "seconds": round(elapsed, 3), "per_s": round(confirmed / elapsed, 1)}


def pika_pipelined(url: str, pool: list[dict[str, Any]], batch: int | None, seconds: float,
                   total: int | None = None) -> dict[str, Any]:
    publisher = pikapub.PipelinedPublisher(url)
    try:
        publisher.publish(iter(pool[:10]), batch=10, encode=pikapub.event_message)  # warm up
        if batch is None:
            return publisher.publish(itertools.islice(_events(pool), total or len(pool)),
                                     encode=pikapub.event_message)
        return publisher.publish(_events(pool), batch=batch, seconds=seconds,
                                 encode=pikapub.event_message)
    finally:
        publisher.close()


def kombu_per_message(url: str, pool: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    from kombu import Connection, Exchange

    with Connection(url, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer(exchange=Exchange(EVENTS_EXCHANGE, "topic", durable=True),
                                 auto_declare=False)
        n = 0
        started = time.perf_counter()
        for event in _events(pool):
            producer.publish(
                json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode(),
                routing_key=event["type"], content_type=CONTENT_TYPE,
                content_encoding="utf-8", delivery_mode=2, mandatory=True,
                message_id=event["id"], retry=False)
            n += 1
            if n % 50 == 0 and time.perf_counter() - started >= seconds:
                break
        elapsed = time.perf_counter() - started
    return {"confirmed": n, "seconds": round(elapsed, 3), "per_s": round(n / elapsed, 1)}


def metered(publisher: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """A publisher's figures with CPU µs per event of the publishing process (this one)
    and of RabbitMQ, and how busy the machine was."""
    meter = procs.CpuMeter({"rabbitmq": rabbitmq.beam_pids})
    meter.mark()
    cpu0 = time.process_time()
    result = publisher(*args)
    cpu = time.process_time() - cpu0
    usage = meter.read()
    n = max(int(result.get("confirmed") or 0), 1)
    result.update({"publisher_cpu_us_per_event": round(1e6 * cpu / n, 1),
                   "rabbitmq_cpu_us_per_event": round(
                       1e6 * usage["cpu_seconds"]["rabbitmq"] / n, 1),
                   "machine_busy": usage["machine_busy"]})
    return result


def _purge(url: str) -> None:
    from kombu import Connection

    with Connection(url, connect_timeout=10) as conn:
        conn.default_channel.queue_purge("hub.router")


def run(*, seconds: float = 10.0, kombu_seconds: float = 3.0) -> dict[str, Any]:
    """Every publisher at every batch size, interleaved (hub, pika, hub, pika …)."""
    pool = list(workload.events(workload.new_run_id("p"), POOL))
    out: dict[str, Any] = {"hub": {}, "pika": {}}
    with rabbitmq.fresh_vhost("producer") as url:
        rabbitmq.declare_topology(url)
        for batch in BATCHES:
            key = str(batch or "all")
            total = None
            if batch is None:  # "all": sized from the batch-100 rates to last ~seconds
                rates = [out[w].get("100", {}).get("per_s") or 5000 for w in ("hub", "pika")]
                total = int(max(rates) * seconds)
            out["hub"][key] = metered(hub_producer, url, pool, batch, seconds, total)
            _purge(url)
            out["pika"][key] = metered(pika_pipelined, url, pool, batch, seconds, total)
            _purge(url)
        out["kombu_per_message"] = metered(kombu_per_message, url, pool, kombu_seconds)
    for who in ("hub", "pika"):
        best = max(out[who].values(), key=lambda r: r["per_s"])
        out[who]["best"] = {"batch": best["batch"], "per_s": best["per_s"]}
    return out


if __name__ == "__main__":
    import sys

    print(json.dumps(run(seconds=float(sys.argv[1]) if len(sys.argv) > 1 else 10.0),
                     indent=2))
