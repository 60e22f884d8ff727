"""Micro-benchmarks of the pieces of a notice, in one process: what each costs in CPU.

``python -m bench.micro [ledger|worker|loop|router ...]`` (all by default). ``loop`` needs
the local RabbitMQ (a fresh vhost); the others need nothing running. Figures are CPU
microseconds per notice (or per event for the router), from ``time.process_time``.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import workload


def _jobs(n: int, tag: str) -> tuple[list[bytes], list[Any]]:
    from hub.jobs import Job

    bodies = workload.jobs_for(list(workload.events(f"{tag}{os.urandom(3).hex()}", n,
                                                    channels=("sms",))), "sms")
    return bodies, [Job.decode(b) for b in bodies]


def _cpu_per(n: int, fn: Callable[[], object]) -> float:
    started = time.process_time()
    fn()
    return 1e6 * (time.process_time() - started) / n


def ledger(n: int = 6000) -> dict[str, float]:
    """The SQL ledger as the worker calls it, its SQL alone, and raw sqlite3."""
    from hub.ledger import open_ledger
    from hub.ledger.privacy import address_hash, mask_recipient
    from hub.ledger.writer import Op

    tmp = Path(tempfile.mkdtemp(prefix="minwon-micro-"))
    _, jobs = _jobs(n + 500, "l")
    out: dict[str, float] = {}

    led = open_ledger(f"sqlite:///{tmp / 'a.db'}", hash_key=b"k")
    pool = ThreadPoolExecutor(128)

    def one(job: Any) -> None:
        led.claim(job, 1)
        led.record(job, "sent", attempt=1, provider="latency", message_id=job.notification_id)

    list(pool.map(one, jobs[:500]))
    out["SqlLedger claim+record, 128 threads"] = _cpu_per(
        n, lambda: list(pool.map(one, jobs[500:])))
    led.close()

    led = open_ledger(f"sqlite:///{tmp / 'b.db'}", hash_key=b"k")

    def apply_batches() -> None:
        for i in range(500, n + 500, 256):
            batch, now = jobs[i:i + 256], datetime.now(UTC)
            with led.engine.connect() as conn, conn.begin():  # type: ignore[attr-defined]
                led._apply(conn, [Op("claim", (now, j, 1)) for j in batch])  # type: ignore[attr-defined]
            with led.engine.connect() as conn, conn.begin():  # type: ignore[attr-defined]
                led._apply(conn, [Op("record", (now, j, "sent", 1, "latency",  # type: ignore[attr-defined]
                                                j.notification_id, None, None)) for j in batch])

    out["SqlLedger._apply, batches of 256, one thread"] = _cpu_per(n, apply_batches)
    led.close()

    db = sqlite3.connect(tmp / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE notices (id TEXT PRIMARY KEY, event_id TEXT, case_id TEXT, "
               "org TEXT, channel TEXT, event_type TEXT, role TEXT, masked TEXT, hash TEXT, "
               "template TEXT, status TEXT, attempts INT, created_at TEXT, updated_at TEXT, "
               "claimed_at TEXT, owner TEXT, provider TEXT, pmid TEXT)")
    db.execute("CREATE TABLE history (id INTEGER PRIMARY KEY, nid TEXT, status TEXT, at TEXT, "
               "attempt INT, reason TEXT, provider TEXT)")

    def raw() -> None:
        for i in range(500, n + 500, 256):
            batch, now = jobs[i:i + 256], datetime.now(UTC).isoformat()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO notices (id, event_id, case_id, org, channel, event_type, role, "
                "masked, hash, template, status, attempts, created_at, updated_at, "
                "claimed_at, owner) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) "
                "DO UPDATE SET status='sending', claimed_at=excluded.claimed_at "
                "WHERE status IN ('queued','retrying','deferred','failed')",
                [(j.notification_id, j.event_id, j.case_id, j.org, j.channel, j.event_type,
                  j.recipient.role, mask_recipient(j.recipient.name, j.recipient.address,
                                                   j.channel),
                  address_hash(j.recipient.address, b"k"), j.template, "sending", 1, now,
                  now, now, "me") for j in batch])
            db.executemany("INSERT INTO history (nid, status, at, attempt) VALUES (?,?,?,?)",
                           [(j.notification_id, "sending", now, 1) for j in batch])
            db.execute("COMMIT")
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE notices SET status='sent', provider=?, pmid=?, "
                           "updated_at=?, claimed_at=NULL WHERE id=?",
                           [("latency", j.notification_id, now, j.notification_id)
                            for j in batch])
            db.executemany("INSERT INTO history (nid, status, at, attempt, provider) "
                           "VALUES (?,?,?,?,?)",
                           [(j.notification_id, "sent", now, 1, "latency") for j in batch])
            db.execute("COMMIT")

    out["raw sqlite3 executemany, same rows, batches of 256"] = _cpu_per(n, raw)
    return out


def worker(n: int = 3000) -> dict[str, float]:
    """ChannelWorker.process and its parts, one thread, no ledger."""
    from hub.app import Hub
    from hub.config import load_config
    from hub.jobs import Job
    from hub.status import status_event

    tmp = Path(tempfile.mkdtemp(prefix="minwon-micro-"))
    config = load_config(environ={}).with_overrides({
        "broker": {"url": "amqp://guest:guest@localhost:5672/unused"},
        "ledger": {"url": "null://", "hash_key": "k"}, "policy": {"quiet_hours": ""},
        "channels": {"sms": {"providers": ["latency"]}},
        "providers": {"latency": {"latency_ms": 0, "record": str(tmp / "record")}},
        "orgs": {"gumi": workload.GUMI}, "metrics": {"port": 0}})
    w = Hub(config).worker("sms")
    bodies, jobs = _jobs(n + 300, "w")
    for job in jobs[:300]:
        w.process(job, {"x-hub-attempt": 1}, 1, 1)
    rest = jobs[300:]
    rendered = w._render(rest[0])

    def each(fn: Callable[[Any], object]) -> Callable[[], None]:
        def run() -> None:
            for job in rest:
                fn(job)

        return run

    return {
        "Job.decode": _cpu_per(n, lambda: [Job.decode(b) for b in bodies[300:]] and None),
        "ChannelWorker.process (null ledger)": _cpu_per(
            n, each(lambda j: w.process(j, {"x-hub-attempt": 1}, 1, 1))),
        "render (context + TemplateStore.render)": _cpu_per(n, each(w._render)),
        "status_event": _cpu_per(n, each(lambda j: status_event(
            j, "sent", attempt=1, provider="latency", provider_message_id="x",
            template_version="v"))),
        "provider chain + latency provider (0 ms)": _cpu_per(
            n, each(lambda j: w.sender.send(w._message(j, rendered, 1)))),
        "Message": _cpu_per(n, each(lambda j: w._message(j, rendered, 1))),
    }


def router(n: int = 3000) -> dict[str, float]:
    import json

    from hub.events import parse_event
    from hub.router import Router
    from hub.rules import load_rules

    r = Router(load_rules(None), {"sms": "phone", "email": "email", "push": "push_token"},
               max_event_bytes=256 * 1024)
    bodies = [json.dumps(e, ensure_ascii=False).encode()
              for e in workload.events("r", n + 200)]
    for b in bodies[:200]:
        r.route(b)
    return {
        "Router.route per event (3 jobs)": _cpu_per(
            n, lambda: [r.route(b) for b in bodies[200:]] and None),
        "parse_event per event": _cpu_per(
            n, lambda: [parse_event(b) for b in bodies[200:]] and None),
    }


def loop(n: int = 20000) -> dict[str, float]:
    """The consuming loop with stages that do nothing but settle (needs RabbitMQ)."""
    from bench import memory, rabbitmq, stages
    from hub.consumer import ConsumingLoop, Publish, Settlement, Stage
    from hub.transport import connect, profile_for

    status = Publish("minwon.notifications", "notification.sent", b"x" * 600,
                     mandatory=False)

    class Inline(Stage):
        queue_name = "hub.notify.sms"

        def __init__(self, publish: bool) -> None:
            self.publish, self.n = publish, 0

        def handle(self, body: bytes, headers: dict[str, Any], delivery_tag: int,
                   redelivered: bool) -> Settlement | None:
            self.n += 1
            return Settlement(delivery_tag, [status] if self.publish else [])

    class Pooled(Inline):
        def start(self, loop: ConsumingLoop) -> None:
            self.loop, self.pool = loop, ThreadPoolExecutor(128)
            self.active, self.lock = 0, threading.Lock()

        def busy(self) -> int:
            return self.active

        def handle(self, body: bytes, headers: dict[str, Any], delivery_tag: int,
                   redelivered: bool) -> Settlement | None:
            self.n += 1
            with self.lock:
                self.active += 1
            future = self.pool.submit(lambda: Settlement(delivery_tag, [status]))

            def done(f: Any) -> None:
                with self.lock:
                    self.active -= 1
                self.loop.settle(f.result())

            future.add_done_callback(done)
            return None

    out: dict[str, float] = {}
    for name, stage in (("ConsumingLoop, settle at once, no publish", Inline(False)),
                        ("ConsumingLoop + 1 confirmed publish", Inline(True)),
                        ("ConsumingLoop + 1 publish + thread-pool hand-off", Pooled(True))):
        with rabbitmq.fresh_vhost("micro") as url:
            rabbitmq.declare_topology(url, ("sms",))
            stages.publish_jobs(url, "sms", memory.varied_jobs(n, "m"))
            conn = connect(url)
            consuming = ConsumingLoop(conn, profile_for(url), stage, prefetch=256)
            thread = threading.Thread(target=consuming.run)
            started = time.process_time()
            thread.start()
            while stage.n < n or stage.busy():
                time.sleep(0.02)
            while rabbitmq.queue_depth(url, "hub.notify.sms")[0]:
                time.sleep(0.02)
            out[name] = 1e6 * (time.process_time() - started) / n
            consuming.request_stop()
            thread.join(10)
            conn.release()
    return out


PARTS: dict[str, Callable[[], dict[str, float]]] = {
    "ledger": ledger, "worker": worker, "router": router, "loop": loop,
}


def main(argv: list[str]) -> int:
    for name in argv or list(PARTS):
        for label, us in PARTS[name]().items():
            print(f"{name:<7} {label:<55} {us:8.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
