"""Latency at steady rates, without coordinated omission: a sweep of rates for the hub
and for Celery-equal, reporting the highest rate whose p99 stays within 250 ms.

What runs where: for the hub, ``minwon-hub router`` and two ``minwon-hub worker
--channel sms`` processes; for Celery-equal, its routing worker and two ``bench.notify``
workers on ``bench.sms`` (:mod:`bench.celery_equal`); PostgreSQL ledger, provider at
50 ms, a queue bound to ``minwon.notifications``. Every event is a ``case.received``
for a citizen who asked for SMS only: one notice per event, so events/s = notices/s.

The generator (the benchmark process) builds every message of a step before the step
starts, each with its **scheduled** time (start + i / rate; also the event's ``time``),
then publishes each message when it is due, pipelined confirms, never waiting for the
system under test. Latency = provider call time − scheduled time, so a stalled system
shows as latency instead of silently slowing the generator down. The generator's own
CPU seconds are reported (it shares the cores with what it measures), and how late it
published (its own lag, included in the latency).

Rates run from low to high, the same processes throughout, each step ``warmup`` +
``seconds`` long and counted after the warm-up; a step passes when every notice came
and p99 ≤ 250 ms; the sweep stops at the first step that fails.
"""

from __future__ import annotations

import contextlib
import functools
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
from pika.adapters.select_connection import SelectConnection

from bench import peers, pg, procs, rabbitmq, records, workload

P99_LIMIT_MS = 250.0
CHANNELS: tuple[str, ...] = ("sms",)
WORKERS = 2


@dataclass(frozen=True, slots=True)
class Scheduled:
    due: float  # wall clock (time.time())
    exchange: str
    routing_key: str
    body: bytes
    properties: pika.BasicProperties


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def build(peer: str, run_id: str, rate: float, count: int, start: float,
          first: int = 0) -> tuple[list[Scheduled], dict[str, float]]:
    """Every message of a step, each stamped with the time it is due."""
    messages: list[Scheduled] = []
    due: dict[str, float] = {}
    if peer == "celery_equal":
        from kombu.serialization import dumps

        from bench.celery_equal import app
    for i in range(count):
        at = start + i / rate
        event = workload.event(run_id, first + i, channels=CHANNELS,
                               when=datetime.fromtimestamp(at, UTC))
        due[event["id"]] = at
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        if peer == "celery_equal":
            task_id = str(uuid.uuid4())
            msg = app.amqp.as_task_v2(task_id, "bench.route", args=[body.decode()])
            ctype, encoding, data = dumps(msg.body, serializer="json")
            props = pika.BasicProperties(
                content_type=ctype, content_encoding=encoding, delivery_mode=2,
                correlation_id=task_id, headers=msg.headers, priority=0)
            messages.append(Scheduled(at, "bench", "route", data.encode()
                                      if isinstance(data, str) else data, props))
        else:
            props = pika.BasicProperties(content_type="application/cloudevents+json",
                                         delivery_mode=2, message_id=event["id"])
            messages.append(Scheduled(at, "minwon.events", event["type"], body, props))
    return messages, due


class Generator:
    """Publishes scheduled messages when due (pipelined confirms, never blocking on the
    system under test); measures its own CPU and lag."""

    TICK = 0.002

    def __init__(self, url: str) -> None:
        params = pika.URLParameters(url)
        params.heartbeat = 0
        self.error: str | None = None
        self.channel: Any = None
        self.published = self.confirmed = 0
        self.conn = SelectConnection(
            params, on_open_callback=lambda c: c.channel(on_open_callback=self._on_channel),
            on_open_error_callback=self._fail, on_close_callback=self._fail)
        self.conn.ioloop.start()
        if self.channel is None:
            raise RuntimeError(f"generator: no channel ({self.error})")

    def _fail(self, conn: Any, exc: BaseException) -> None:
        self.error = str(exc) or type(exc).__name__
        conn.ioloop.stop()

    def _on_channel(self, channel: Any) -> None:
        self.channel = channel
        channel.confirm_delivery(self._on_confirm, callback=lambda _f: self.conn.ioloop.stop())

    def _on_confirm(self, frame: Any) -> None:
        if not isinstance(frame.method, pika.spec.Basic.Ack):
            self.error = "nacked"
        self.confirmed = frame.method.delivery_tag if frame.method.multiple \
            else max(self.confirmed, frame.method.delivery_tag)

    def run(self, messages: list[Scheduled]) -> dict[str, Any]:
        self.messages, self.next, self.lag_max = messages, 0, 0.0
        base = self.published
        cpu0, wall0 = time.process_time(), time.monotonic()
        self.conn.ioloop.call_later(0, self._tick)
        self.conn.ioloop.start()
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        if self.error:
            raise RuntimeError(f"generator: {self.error}")
        return {"published": self.published - base, "cpu_seconds": round(cpu, 3),
                "cpu_share": round(cpu / max(wall, 1e-9), 3),
                "max_lag_ms": round(1000 * self.lag_max, 1)}

    def _tick(self) -> None:
        now = time.time()
        msgs = self.messages
        while self.next < len(msgs) and msgs[self.next].due <= now:
            m = msgs[self.next]
            self.lag_max = max(self.lag_max, now - m.due)
            self.channel.basic_publish(m.exchange, m.routing_key, m.body, m.properties,
                                       mandatory=True)
            self.published += 1
            self.next += 1
        if self.error or (self.next >= len(msgs) and self.confirmed >= self.published):
            self.conn.ioloop.stop()
            return
        self.conn.ioloop.call_later(self.TICK, self._tick)

    def close(self) -> None:
        if self.conn.is_open:
            self.conn.close()
            self.conn.ioloop.start()


def _launches(peer: str, url: str, config: Path, record: Path, workdir: Path,
              concurrency: int, prefetch: int) -> peers.Plan:
    p = peers.plan(peer, url=url, config=config, record=record, workdir=workdir,
                   channels=CHANNELS, concurrency=concurrency, prefetch=prefetch,
                   latency_ms=50.0)
    first = []
    for launch in p.first:
        for n in range(1, WORKERS + 1):
            argv = [a.replace("@%h", f"-{n}@%h") for a in launch.argv]
            env = dict(launch.env)
            if "MINWON__METRICS__PORT" in env:
                env["MINWON__METRICS__PORT"] = str(procs.free_port())
            first.append(peers.Launch(f"{launch.name}-{n}", argv, env))
    p.first = first
    p.first_queues = {q: WORKERS for q in p.first_queues}
    return p


def sweep(peer: str, *, rates: list[float], seconds: float, warmup: float,
          concurrency: int = 128, prefetch: int = 256) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(1) as side:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="minwon-bench-")))
        record, config = workdir / "record", workdir / "minwon.toml"
        made = side.submit(pg.create)
        url = stack.enter_context(rabbitmq.fresh_vhost(f"lat{peer.replace('_', '')}"))
        db = made.result()
        stack.callback(pg.drop, db)
        config.write_text(workload.hub_config_toml(
            url=url, record=record, latency_ms=50.0, ledger=pg.url(db),
            concurrency=concurrency, prefetch=prefetch, channels=CHANNELS), "utf-8")
        if peer == "hub":
            rabbitmq.declare_topology(url, CHANNELS)
        else:
            peers.preload(peer, url, "warm", 0, CHANNELS)  # declares Celery's queues
        rabbitmq.bind_status_queue(url)
        p = _launches(peer, url, config, record, workdir, concurrency, prefetch)
        launcher = peers.Launcher(workdir)
        stack.callback(launcher.stop)
        for launch in p.first:
            launcher.spawn(launch)
        rabbitmq.wait_for_consumers(url, p.first_queues, check=launcher.check)
        assert p.last is not None
        launcher.spawn(p.last)
        rabbitmq.wait_for_consumers(url, {p.last_queue or "": 1}, check=launcher.check)
        generator = Generator(url)
        stack.callback(generator.close)
        groups: dict[str, Callable[[], list[int]]] = {
            r.name: functools.partial(launcher.pids, r.name) for r in launcher.running}
        groups["rabbitmq"] = rabbitmq.beam_pids
        groups["postgresql"] = functools.partial(procs.postgres_pids, db)
        counter = records.RecordCounter(record)
        run_id, sent = workload.new_run_id("lat"), 0
        t0 = time.perf_counter()  # what building one message costs here, to start the
        build(peer, "calibrate", 100.0, 200, time.time())  # step only once all are built
        per_message = (time.perf_counter() - t0) / 200
        for rate in rates:
            count = int(rate * (warmup + seconds))
            start = time.time() + 0.3 + 1.5 * count * per_message
            messages, due = build(peer, run_id, rate, count, start, first=sent)
            late = time.time() - start
            if late > 0:  # still building when the step should have started
                raise RuntimeError(f"building {count} messages took {late:.1f} s too long")
            meter = procs.CpuMeter(groups)
            meter.mark()
            gen = generator.run(messages)
            sent += count
            got = counter.wait_for(sent, max(30.0, 3 * seconds), idle_timeout=10.0,
                                   check=launcher.check)
            usage = meter.read()
            counted_from = start + warmup
            found = [r for r in records.load(record) if r.event_id in due and r.attempt == 1]
            lat = sorted(1000 * (r.called_at - due[r.event_id]) for r in found
                         if due[r.event_id] >= counted_from)
            step = {
                "rate": rate, "notices": len(lat), "complete": got >= sent,
                "p50_ms": _r(percentile(lat, 0.50)), "p95_ms": _r(percentile(lat, 0.95)),
                "p99_ms": _r(percentile(lat, 0.99)), "max_ms": _r(lat[-1] if lat else None),
                "generator": gen, "machine_busy": usage["machine_busy"],
                "cpu_seconds": usage["cpu_seconds"], "loadavg": procs.loadavg(),
            }
            p99 = step["p99_ms"]
            step["cpu_ms_per_notice"] = {k: round(1000 * v / max(len(lat), 1), 3)
                                         for k, v in usage["cpu_seconds"].items()}
            step["passes"] = bool(step["complete"] and p99 is not None and p99 <= P99_LIMIT_MS)
            steps.append(step)
            if not step["passes"]:
                break
    passing = [s["rate"] for s in steps if s["passes"]]
    out: dict[str, Any] = {"max_rate_p99_250ms": max(passing) if passing else 0,
                           "steps": steps,
                           "processes": f"{p.last.name} + {WORKERS} x sms worker"}
    at = [s for s in steps if s["rate"] == 1000]
    if at:
        out["at_1000"] = {k: at[0][k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")}
    return out


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def run(*, rates: list[float], seconds: float, warmup: float, concurrency: int = 128,
        prefetch: int = 256) -> dict[str, Any]:
    return {peer: sweep(peer, rates=rates, seconds=seconds, warmup=warmup,
                        concurrency=concurrency, prefetch=prefetch)
            for peer in ("hub", "celery_equal")}


if __name__ == "__main__":  # python -m bench.latency PEER RATE[,RATE…] SECONDS
    import sys

    who = sys.argv[1] if len(sys.argv) > 1 else "hub"
    rs = [float(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "300,600").split(",")]
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    print(json.dumps(sweep(who, rates=rs, seconds=secs, warmup=1.0), indent=2))
