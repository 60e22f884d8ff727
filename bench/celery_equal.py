"""Celery with the hub's guarantees, doing the hub's work: the fair peer.

Two tasks, as the hub has two stages:

* ``bench.route`` takes one case event (the event JSON, as an upstream system would
  send it) and does what the hub's router does: the hub's own
  :meth:`hub.router.Router.route` (parse, validate, rules, jobs; the event noted in the
  ledger with ``record_event``), then one ``bench.notify`` task per job, published to
  the channel's queue with a publisher confirm (kombu's ``confirm_publish``: Celery's
  way, one confirm per publish);
* ``bench.notify`` takes one job and does what the hub's worker does for a notice that
  is sent: ``ledger.claim``, the delivery policy, the template render with the same
  :class:`~hub.templates.TemplateStore`, the same provider chain with its in-process
  retries (the latency provider), ``ledger.record(..., "sent")``, and the status event
  (:func:`hub.status.status_event`) published to ``minwon.notifications`` with a
  confirm.

Guarantees as the hub's: quorum queues, ``task_acks_late`` (ack after the task) and
``task_reject_on_worker_lost`` (a killed worker's task goes back to the queue),
publisher confirms on every publish, prefetch = the hub's (256 per worker process:
``-c 128`` with ``worker_prefetch_multiplier = 2``), the same ledger (the run's
``minwon.toml``, PostgreSQL) and configuration.

Configured from the environment of each worker process: ``BENCH_CELERY_BROKER``
(AMQP URL, the run's vhost) and ``MINWON_CONFIG`` (the run's ``minwon.toml``).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_init
from kombu import Exchange, Queue

CHANNELS: tuple[str, ...] = ("sms", "email", "push")
EXCHANGE = Exchange("bench", "direct", durable=True)
QUORUM = {"x-queue-type": "quorum"}


def queues() -> list[Queue]:
    return [Queue(f"bench.{name}", EXCHANGE, routing_key=name, durable=True,
                  queue_arguments=QUORUM) for name in ("route", *CHANNELS)]


app = Celery("bench_equal",
             broker=os.environ.get("BENCH_CELERY_BROKER", "amqp://guest:guest@localhost//"))
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=2,
    broker_transport_options={"confirm_publish": True},
    task_queues=queues(),
    task_default_exchange="bench",
    task_default_delivery_mode="persistent",
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
)

_work: list[Any] = []
_lock = threading.Lock()


def work() -> Any:
    """The hub's work (:class:`bench.work.Work`), built once per process."""
    with _lock:
        if not _work:
            from bench.work import Work

            _work.append(Work())
        return _work[0]


@worker_init.connect
def _warm_up(**_: Any) -> None:
    """Ledger (connection, schema check), templates and rules ready before the worker
    consumes, as the hub's processes have them: start-up is not the work."""
    work()


@app.task(name="bench.route", ignore_result=True)
def route(event: str) -> int:
    publishes = work().route(event.encode())
    with app.producer_or_acquire() as producer:
        for p in publishes:
            notify.apply_async(args=[p.body.decode()], queue=f"bench.{p.routing_key}",
                               routing_key=p.routing_key, producer=producer)
    return len(publishes)


@app.task(name="bench.notify", ignore_result=True)
def notify(body: str) -> int:
    publishes = work().notice(body)
    with app.producer_or_acquire() as producer:
        for p in publishes:
            producer.publish(p.body, exchange=p.exchange, routing_key=p.routing_key,
                             content_type=p.content_type, content_encoding="utf-8",
                             delivery_mode=2, message_id=p.message_id, retry=False)
    return len(publishes)
