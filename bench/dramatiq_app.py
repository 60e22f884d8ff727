"""dramatiq on RabbitMQ with the hub's guarantees, doing the hub's work.

Two actors, as the hub has two stages: ``route`` (on ``bench.route``) runs the hub's
router code on one event and enqueues one ``notify`` message per job on the channel's
queue (``bench.sms|email|push``); ``notify`` does the hub worker's calls for a sent notice
(:meth:`bench.work.Work.notice`) and publishes the status event to
``minwon.notifications``.

Guarantees as the hub's: ``confirm_delivery=True`` (every enqueue and the status
publish wait for the broker's confirm, dramatiq's way: one at a time per thread),
dramatiq's acks after the actor returns (its default), quorum queues (dramatiq has no
setting for queue arguments: :class:`QuorumBroker` adds ``x-queue-type`` where the
broker builds them), prefetch = 2 × threads = 256 with 128 threads, the same ledger
and configuration. dramatiq's default middleware except Prometheus (whose exporter
would bind one port for every process).

Run as ``python -m bench.dramatiq_app QUEUE THREADS`` (one process, a
:class:`dramatiq.Worker` on that queue); configured from ``BENCH_DRAMATIQ_BROKER`` (the
run's vhost) and ``MINWON_CONFIG``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import default_middleware

CHANNELS: tuple[str, ...] = ("sms", "email", "push")


class QuorumBroker(RabbitmqBroker):
    def _build_queue_arguments(self, queue_name: str) -> dict[str, Any]:
        arguments: dict[str, Any] = super()._build_queue_arguments(queue_name)
        arguments["x-queue-type"] = "quorum"
        return arguments


broker = QuorumBroker(url=os.environ.get("BENCH_DRAMATIQ_BROKER", "amqp://guest:guest@localhost//"),
                      confirm_delivery=True, middleware=[m() for m in default_middleware])
dramatiq.set_broker(broker)
for _channel in CHANNELS:
    broker.declare_queue(f"bench.{_channel}")

_work: list[Any] = []
_lock = threading.Lock()


def work() -> Any:
    with _lock:
        if not _work:
            from bench.work import Work

            _work.append(Work())
        return _work[0]


@dramatiq.actor(queue_name="bench.route", max_retries=3)
def route(event: str) -> None:
    for p in work().route(event.encode()):
        broker.enqueue(notify.message(p.body.decode()).copy(queue_name=f"bench.{p.routing_key}"))


@dramatiq.actor(queue_name="bench.sms", max_retries=3)
def notify(body: str) -> None:
    import pika

    for p in work().notice(body):
        broker.channel.basic_publish(
            exchange=p.exchange, routing_key=p.routing_key, body=p.body,
            properties=pika.BasicProperties(content_type=p.content_type, delivery_mode=2,
                                            message_id=p.message_id))


def main(argv: list[str]) -> int:
    queue, threads = argv[0], int(argv[1])
    work()  # ledger, templates, rules ready before consuming (start-up is not the work)
    worker = dramatiq.Worker(broker, queues={queue}, worker_threads=threads)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.start()
    stop.wait()
    worker.stop(timeout=2000)
    broker.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
