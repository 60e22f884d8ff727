"""The Celery baseline: the same work per notice as a hub channel worker, done the way
a Celery project would do it.

One task, ``bench.notify``, takes a notification job (the router's output, JSON) and
does what the hub's worker does for it minus the hub's guarantees: decode the job,
build the template context (:func:`hub.templates.context_from_event`), render with the
same :class:`hub.templates.TemplateStore`, and call the same
:class:`channels.latency.LatencyProvider`. No ledger, no status events, no confirms.

Configured from the environment (each worker process reads it at import):
``BENCH_CELERY_BROKER`` (AMQP URL, its own vhost), ``BENCH_LATENCY_MS``,
``BENCH_RECORD`` (the provider's record folder), ``BENCH_TEMPLATES`` (templates
folder; default the shipped one).

Run as ``celery -A bench.celery_app worker -P threads -c 128 -Q bench.sms``.
Celery's own defaults otherwise (early ack, prefetch multiplier 4, classic queues, no
publisher confirms); ``BENCH_CELERY_ACKS_LATE=1`` acks after the task
(``task_acks_late``). Every worker process waits at the start barrier
(:mod:`bench.barrier`) until all are up. :mod:`bench.celery_equal` is the peer with the
hub's guarantees and work.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_init

from channels.base import Message
from channels.latency import LatencyProvider
from hub.config import DEFAULTS
from hub.templates import TemplateStore, context_from_event

ORG_PROFILES: dict[str, dict[str, Any]] = {}

app = Celery("bench", broker=os.environ.get("BENCH_CELERY_BROKER", "amqp://guest:guest@localhost//"))
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    worker_send_task_events=False,
    # BENCH_CELERY_ACKS_LATE=1: ack after the task ran (the hub's guarantee), not on receipt
    task_acks_late=os.environ.get("BENCH_CELERY_ACKS_LATE", "") == "1",
)



@worker_init.connect
def _start_barrier(**_: Any) -> None:
    """Held until every worker process of the run is up (``BENCH_BARRIER``)."""
    from bench.barrier import wait_at_barrier

    wait_at_barrier()


_state: dict[str, Any] = {}
_lock = threading.Lock()


def _parts(channel: str) -> tuple[TemplateStore, LatencyProvider]:
    """The template store (one per process) and the channel's provider."""
    with _lock:
        if "store" not in _state:
            from bench.workload import GUMI, ORG

            ORG_PROFILES[ORG] = {"key": ORG, **GUMI}
            _state["store"] = TemplateStore(
                os.environ.get("BENCH_TEMPLATES") or DEFAULTS["templates"]["dir"],
                ORG_PROFILES, reload_interval=2.0)
        key = f"provider.{channel}"
        if key not in _state:
            settings = {"latency_ms": float(os.environ.get("BENCH_LATENCY_MS", "0")),
                        "record": os.environ.get("BENCH_RECORD") or None}
            _state[key] = LatencyProvider(settings, channel=channel)
        return _state["store"], _state[key]


ADDRESS_FIELDS = {"sms": "phone", "email": "email", "push": "push_token"}


@app.task(name="bench.notify", ignore_result=True)
def notify(body: str) -> None:
    job = json.loads(body)
    channel = job["channel"]
    store, provider = _parts(channel)
    recipient = job["recipient"]
    field = ADDRESS_FIELDS[channel]
    who = dict(recipient.get("fields") or {})
    who.update({"name": recipient["name"], "role": recipient["role"],
                field: recipient["address"], "address": recipient["address"]})
    org = ORG_PROFILES.get(job["org"]) or {"key": job["org"], "name": job["org"],
                                           "callcenter": "110", "url": ""}
    context = context_from_event({**job["event"], "data": job["data"]}, who, org)
    rendered = store.render(job["template"], channel, job["org"], context)
    provider.send(Message(
        notification_id=job["notification_id"], event_id=job["event_id"],
        event_type=job["event_type"], case_id=job["case_id"], org=job["org"],
        channel=channel, to=recipient["address"], body=rendered.body,
        subject=rendered.subject, html=rendered.html, kind=rendered.kind,
        template=rendered.template, template_version=rendered.version,
    ))
