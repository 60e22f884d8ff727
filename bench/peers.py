"""Throughput of the hub and of its peers, each draining the same backlog with the same
number of processes on the same broker, measured the same way.

=================  ==========================================================================
peer               processes (each its own OS process)
=================  ==========================================================================
``hub``            ``minwon-hub worker --channel sms|email|push`` (3), then ``minwon-hub
                   router`` once they consume; events preloaded on ``minwon.events``
``null_hub``       the same topology and processes with stages that only pass messages on
                   (:mod:`bench.nullhub`)
``celery_equal``   Celery with the hub's guarantees and work (:mod:`bench.celery_equal`):
                   3 ``bench.notify`` workers, then the ``bench.route`` worker; events
                   preloaded as ``bench.route`` tasks
``celery``         Celery as usually run (:mod:`bench.celery_app`): the router's jobs
                   preloaded as tasks (routing off the clock), 3 workers, early ack,
                   classic queues, no ledger, no status events, no confirms; all workers
                   held behind a start barrier (:mod:`bench.barrier`)
``celery_acks_late`` the same with ``task_acks_late``
``pika``           a plain pika consumer doing the hub's work (:mod:`bench.pikapeer`):
                   3 workers, then the router, on the hub's topology
``dramatiq``       dramatiq on RabbitMQ with the hub's guarantees and work
                   (:mod:`bench.dramatiq_app`): 3 workers, then the routing worker
=================  ==========================================================================

Every run: a fresh vhost, a fresh PostgreSQL database for the ledger (``bench.pg``), a
quorum queue ``bench.status`` bound to ``minwon.notifications`` (status events cost the
broker what they cost in production), the latency provider recording each accepted
send. The clock runs from the first provider call to the last acceptance. CPU seconds
of every process, of RabbitMQ and of PostgreSQL (this database's backends and its
writers) are counted from the moment the workers consume (start-up is not the work).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import barrier, pg, pikapub, procs, rabbitmq, records, workload

ROOT = Path(__file__).resolve().parent.parent
PEERS: tuple[str, ...] = ("hub", "null_hub", "celery_equal", "celery", "celery_acks_late",
                          "pika", "dramatiq")
#: threads of Celery-equal's routing worker (the task waits for a confirm per job)
ROUTE_CONCURRENCY = 16


@dataclass
class Launch:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Running:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None


class Launcher:
    """The processes of one run; stopped (TERM, then KILL) on exit."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: list[Running] = []

    def spawn(self, launch: Launch) -> Running:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT)
        env.update(workload.SECRET_ENV)
        env.update(launch.env)
        log = self.workdir / f"{launch.name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(launch.argv, cwd=self.workdir, env=env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        run = Running(launch.name, popen, log)
        self.running.append(run)
        return run

    def pids(self, name: str) -> list[int]:
        return [r.popen.pid for r in self.running if r.name == name and r.alive()]

    def check(self) -> None:
        for r in self.running:
            if not r.alive():
                tail = r.log.read_text("utf-8", "replace")[-1500:]
                raise RuntimeError(f"{r.name} exited with {r.popen.returncode}:\n{tail}")

    def tails(self, chars: int = 600) -> str:
        """The end of every process's log (for an error message)."""
        return "\n".join(f"--- {r.name}: {r.log.read_text('utf-8', 'replace')[-chars:]}"
                         for r in self.running if r.log.exists())

    def stop(self, timeout: float = 1.5) -> None:
        """TERM, then KILL after ``timeout``: the figures are in by then, a slow
        graceful stop is not what is measured."""
        for r in self.running:
            if r.alive():
                with contextlib.suppress(ProcessLookupError):
                    r.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for r in self.running:
            if r.popen.returncode is not None:
                continue
            try:
                r.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(r.popen.pid, signal.SIGKILL)
                r.popen.wait(10)


@dataclass
class Plan:
    """How one peer runs: processes started first (workers), the one started once they
    consume (the router), or a start barrier for all."""

    first: list[Launch]
    first_queues: dict[str, int]
    last: Launch | None = None
    last_queue: str | None = None
    barrier: Path | None = None
    ledger: bool = True


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def _celery(app: str, queue: str, name: str, concurrency: int) -> list[str]:
    return [str(Path(sys.executable).with_name("celery")), "-A", app, "worker", "-P", "threads",
            "-c", str(concurrency), "-Q", queue, "-n", f"{name}@%h", "--without-gossip",
            "--without-mingle", "--without-heartbeat", "-l", "WARNING"]


def plan(peer: str, *, url: str, config: Path, record: Path, workdir: Path,
         channels: tuple[str, ...], concurrency: int, prefetch: int,
         latency_ms: float) -> Plan:
    hub_env = {"MINWON_CONFIG": str(config)}
    notify = {f"hub.notify.{c}": 1 for c in channels}
    if peer == "hub":
        def hub(role: list[str]) -> Launch:
            return Launch(role[-1] if role[0] == "worker" else "router",
                          _python("-m", "hub.cli", *role),
                          {**hub_env, "MINWON__METRICS__PORT": str(procs.free_port())})
        return Plan([hub(["worker", "--channel", c]) for c in channels], notify,
                    hub(["router"]), "hub.router")
    if peer == "null_hub":
        env = {"BENCH_PREFETCH": str(prefetch)}
        return Plan([Launch(c, _python("-m", "bench.nullhub", "worker", url, c, str(record)),
                            env) for c in channels], notify,
                    Launch("router", _python("-m", "bench.nullhub", "router", url,
                                             ",".join(channels)), env),
                    "hub.router", ledger=False)
    if peer == "pika":
        env = {**hub_env, "BENCH_AMQP_URL": url}
        return Plan([Launch(c, _python("-m", "bench.pikapeer", "worker", c), env)
                     for c in channels], notify,
                    Launch("router", _python("-m", "bench.pikapeer", "router"), env),
                    "hub.router")
    if peer == "celery_equal":
        env = {**hub_env, "BENCH_CELERY_BROKER": url}
        return Plan([Launch(c, _celery("bench.celery_equal", f"bench.{c}", f"eq-{c}",
                                       concurrency), env) for c in channels],
                    {f"bench.{c}": 1 for c in channels},
                    Launch("router", _celery("bench.celery_equal", "bench.route", "eq-route",
                                             ROUTE_CONCURRENCY), env),
                    "bench.route")
    if peer == "dramatiq":
        env = {**hub_env, "BENCH_DRAMATIQ_BROKER": url}
        return Plan([Launch(c, _python("-m", "bench.dramatiq_app", f"bench.{c}",
                                       str(concurrency)), env) for c in channels],
                    {f"bench.{c}": 1 for c in channels},
                    Launch("router", _python("-m", "bench.dramatiq_app", "bench.route",
                                             str(ROUTE_CONCURRENCY)), env),
                    "bench.route")
    if peer in ("celery", "celery_acks_late"):
        folder = workdir / "barrier"
        folder.mkdir(exist_ok=True)
        env = {"BENCH_CELERY_BROKER": url, "BENCH_LATENCY_MS": str(latency_ms),
               "BENCH_RECORD": str(record), "BENCH_BARRIER": str(folder),
               "BENCH_CELERY_ACKS_LATE": "1" if peer == "celery_acks_late" else ""}
        return Plan([Launch(c, _celery("bench.celery_app", f"bench.{c}", f"cel-{c}",
                                       concurrency), env) for c in channels],
                    {}, barrier=folder, ledger=False)
    raise ValueError(f"unknown peer {peer!r}; known: {', '.join(PEERS)}")


def preload(peer: str, url: str, run_id: str, events: int,
            channels: tuple[str, ...]) -> int:
    """Put the run's backlog on the broker before any consumer starts; returns the
    number of notices expected."""
    evs = workload.events(run_id, events, channels=channels)
    if peer in ("hub", "null_hub", "pika"):
        pikapub.load(url, (pikapub.event_message(e) for e in evs))
        return events * len(channels)
    if peer == "celery_equal":
        os.environ["BENCH_CELERY_BROKER"] = url
        from kombu import Connection

        from bench.celery_equal import app, queues, route

        with Connection(url, connect_timeout=10) as conn:
            for q in queues():
                q(conn.default_channel).declare()
        with app.connection_for_write(url) as conn, conn.Producer() as producer:
            for e in evs:
                route.apply_async(args=[json.dumps(e, ensure_ascii=False)],
                                  queue="bench.route", routing_key="route", producer=producer)
        return events * len(channels)
    if peer == "dramatiq":
        os.environ["BENCH_DRAMATIQ_BROKER"] = url
        from bench import dramatiq_app

        with contextlib.closing(dramatiq_app.QuorumBroker(url=url, confirm_delivery=True)) as b:
            for name in ("bench.route", *(f"bench.{c}" for c in channels)):
                b.declare_queue(name, ensure=True)
            for e in evs:
                b.enqueue(dramatiq_app.route.message(json.dumps(e, ensure_ascii=False)))
        return events * len(channels)
    return _celery_jobs(url, run_id, events, channels)


def _celery_jobs(url: str, run_id: str, events: int, channels: tuple[str, ...]) -> int:
    """Celery as usually run: the router's jobs for the events (computed here, off the
    clock), one ``bench.notify`` task each, published with Celery's own client to
    ``bench.<channel>``; returns how many."""
    os.environ["BENCH_CELERY_BROKER"] = url
    from bench.celery_app import app, notify

    jobs = workload.all_jobs(workload.events(run_id, events, channels=channels))
    total = 0
    with app.connection_for_write(url) as conn, conn.Producer() as producer:
        for channel, body in jobs:
            notify.apply_async(args=[body.decode()], queue=f"bench.{channel}",
                               producer=producer)
            total += 1
    deadline = time.monotonic() + 120  # no confirms: wait until the broker holds them
    while sum(rabbitmq.queue_depth(url, f"bench.{c}")[0] for c in channels) < total:
        if time.monotonic() > deadline:
            raise TimeoutError("celery tasks did not all arrive")
        time.sleep(0.1)
    return total


def _declare(peer: str, url: str, channels: tuple[str, ...]) -> None:
    if peer in ("hub", "null_hub", "pika"):
        rabbitmq.declare_topology(url, channels)
    rabbitmq.bind_status_queue(url)


class Phases(dict[str, float]):
    """Seconds since the start of the run at which each phase ended (where the wall
    time of a run goes; only the ``measured`` span is the clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.t0 = time.monotonic()

    def __call__(self, name: str) -> None:
        self[name] = round(time.monotonic() - self.t0, 2)


def run(peer: str, *, latency_ms: float, events: int, concurrency: int = 128,
        prefetch: int = 256, channels: tuple[str, ...] = workload.CHANNELS,
        timeout: float = 600.0, ledger: str = "postgres") -> dict[str, Any]:
    """One run of ``peer`` on a backlog of ``events`` events (one notice per channel
    each); returns its figures."""
    phase = Phases()
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(1) as side:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="minwon-bench-")))
        record = workdir / "record"
        config = workdir / "minwon.toml"
        url = "amqp://"
        p = plan(peer, url=url, config=config, record=record, workdir=workdir,
                 channels=channels, concurrency=concurrency, prefetch=prefetch,
                 latency_ms=latency_ms)
        use_pg = p.ledger and ledger == "postgres"
        made = side.submit(pg.create) if use_pg else None  # while the vhost is made
        url = stack.enter_context(rabbitmq.fresh_vhost(peer.replace("_", "")))
        db = made.result() if made is not None else None
        if db is not None:
            stack.callback(pg.drop, db)
        p = plan(peer, url=url, config=config, record=record, workdir=workdir,
                 channels=channels, concurrency=concurrency, prefetch=prefetch,
                 latency_ms=latency_ms)
        ledger_url = pg.url(db) if db else (
            ledger if ledger != "postgres" else f"sqlite:///{workdir / 'ledger.db'}")
        config.write_text(workload.hub_config_toml(
            url=url, record=record, latency_ms=latency_ms, ledger=ledger_url,
            concurrency=concurrency, prefetch=prefetch, channels=channels), "utf-8")
        _declare(peer, url, channels)
        phase("setup")

        launcher = Launcher(workdir)
        stack.callback(launcher.stop)
        names = [x.name for x in p.first] + ([p.last.name] if p.last else [])
        groups: dict[str, Callable[[], list[int]]] = {
            n: functools.partial(launcher.pids, n) for n in names}
        groups["rabbitmq"] = rabbitmq.beam_pids
        if db:
            groups["postgresql"] = functools.partial(procs.postgres_pids, db)
        meter = procs.CpuMeter(groups)
        counter = records.RecordCounter(record)
        for launch in p.first:  # they start up while the backlog is loaded
            launcher.spawn(launch)
        expected = preload(peer, url, workload.new_run_id(peer[:3]), events, channels)
        phase("preloaded")
        if p.barrier is not None:
            barrier.release_when_ready(p.barrier, len(p.first), before=meter.mark,
                                       check=launcher.check)
        else:
            rabbitmq.wait_for_consumers(url, p.first_queues, check=launcher.check)
            meter.mark()
        if p.last is not None:
            launcher.spawn(p.last)
            rabbitmq.wait_for_consumers(url, {p.last_queue or "": 1}, interval=0.02,
                                      check=launcher.check)
            meter.mark_group(p.last.name)  # the router's start-up is not the work
        phase("started")
        got = counter.wait_for(expected, timeout, check=launcher.check)
        if got < expected:  # a broken peer is an error, never a slow figure
            raise RuntimeError(f"{peer}: {got} of {expected} notices delivered; "
                               f"logs:\n{launcher.tails()}")
        usage = meter.read()
        rss = {r.name: round(procs.rss_mb(r.popen.pid)[1], 1) for r in launcher.running}
        phase("measured")
        time.sleep(0.3)  # the last acks
        launcher.stop()
        phase("stopped")
        found = records.load(record)
    phase("cleaned_up")
    rate = records.throughput(found)
    delivered = len({r.notification_id for r in found})
    cpu = usage["cpu_seconds"]
    return {
        "peer": peer,
        "latency_ms": latency_ms,
        "events": events,
        "notices_expected": expected,
        "notices_delivered": delivered,
        "sent_twice": records.duplicates(found),
        "complete": got >= expected,
        "per_s": round(rate, 1),
        "seconds": round(len(found) / rate, 2) if rate else 0.0,
        **usage,
        "cpu_ms_per_notice": {k: round(1000 * v / max(delivered, 1), 3) for k, v in cpu.items()},
        "cpu_ms_per_notice_total": round(1000 * sum(cpu.values()) / max(delivered, 1), 3),
        "peak_rss_mb": rss,
        "concurrency": concurrency,
        "prefetch": prefetch,
        "ledger": "postgresql" if db else (ledger_url.split(":", 1)[0] if p.ledger else "none"),
        "phases_s": dict(phase),
    }


if __name__ == "__main__":  # python -m bench.peers PEER LATENCY_MS EVENTS
    who = sys.argv[1] if len(sys.argv) > 1 else "hub"
    ms = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    print(json.dumps(run(who, latency_ms=ms, events=n), indent=2))
