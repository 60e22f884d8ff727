"""Faults of a multi-node deployment while events flow, counted as the fault suite counts.

The shape production runs when one machine is not enough: a three-node RabbitMQ cluster
(:mod:`tests.cluster.nodes`), PostgreSQL as the ledger (:mod:`tests.private_postgres`),
one router and **two** worker processes per channel, every process given the list of
all three node URLs. Each fault gets a fresh vhost and a fresh ledger database on the
same cluster, which must be whole again before the next fault starts.

Faults (:data:`FAULTS`):

``leader_stop``  the node leading most queues: ``stop_app`` for ``down`` s, ``start_app``
``node_kill``    a node's Erlang VM ``kill -9``ed, started again after ``down`` s
``partition``    a node's network link cut for ``partition`` s (longer than
                 ``net_ticktime``: the others declare it gone, it pauses as the minority)
``worker_kill``  one SMS worker replica SIGKILLed every few seconds and restarted
``postgres``     the ledger's PostgreSQL restarted (``pg_ctl restart -m fast``) mid-stream

Per fault: published, delivered, lost (must be 0), sent twice (must be 0) and the time
to recover: from the fault's start until deliveries run again at half the rate they
had before it (0 when they never dropped below).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from channels.latency import read_records
from hub.producer import PikaProducer, open_producer
from tests.cluster.nodes import USER, Cluster, Node
from tests.private_postgres import PrivatePostgres
from tests.reliability.faults import CHANNELS, ORG_TOML, TIERS, Bed, FaultReport, good_event

FAULTS: tuple[str, ...] = ("leader_stop", "node_kill", "partition", "worker_kill", "postgres")
REPLICAS = 2  # worker processes per channel


@dataclass
class Settings:
    events: int = 20000
    rate: float = 300.0  # good events a second
    down: float = 10.0  # seconds a stopped or killed node stays down
    partition: float = 30.0  # seconds a node's link stays cut
    kills: int = 4
    seed: int = 11


class ClusterVHost:
    """A vhost of its own on the cluster; the URL lists every node (failover)."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.url = ";".join(cluster.urls(vhost=name))

    def create(self) -> None:
        node = self.cluster.any_running()
        node.ctl("add_vhost", self.name)
        node.ctl("set_permissions", "-p", self.name, USER, ".*", ".*", ".*")

    def delete(self) -> None:
        with contextlib.suppress(Exception):
            self.cluster.any_running().ctl("delete_vhost", self.name)


class ClusterBed(Bed):
    """The fault suite's test bed on the cluster: PostgreSQL ledger, replicas per channel."""

    def __init__(self, fault: str, *, workdir: Path, cluster: Cluster,
                 pg: PrivatePostgres) -> None:
        database = f"ledger_{fault}_{uuid.uuid4().hex[:6]}"
        pg.create_database(database)
        super().__init__(fault, workdir=workdir, ledger_url=pg.url(database))
        self.cluster = cluster
        self.vhost = ClusterVHost(cluster, f"cluster-{fault}-{self.run_id[-6:]}")  # type: ignore[assignment]
        self.deliveries: list[tuple[float, int]] = []
        self._sampling = threading.Event()

    def write_config(self) -> None:
        lines = [
            "[broker]", f'url = "{self.vhost.url}"', "prefetch = 128", "heartbeat = 5",
            "connect_timeout = 5",
            "[worker]", "concurrency = 64", "shutdown_timeout = 10",
            "[retry]", f"tiers = {json.dumps(list(TIERS))}", "max_attempts = 12",
            "quick_retries = 1", "quick_wait = 0.05",
            "[ledger]", f'url = "{self.ledger_url}"', "sweep_after = 3",
            "[policy]", 'quiet_hours = ""',
            "[logging]", 'level = "WARNING"',
            "[providers.latency]", "latency_ms = 5", f'record = "{self.record}"',
            f'fail_flag = "{self.flag}"',
        ]
        for channel in CHANNELS:
            lines += [f"[channels.{channel}]", 'providers = ["latency"]', "reset_after = 2"]
        self.config.write_text("\n".join(lines) + "\n" + ORG_TOML, "utf-8")

    def start(self) -> None:
        super().start()  # vhost, config, topology, router + one worker per channel
        assert self.hub is not None
        for channel in CHANNELS:
            for _ in range(REPLICAS - 1):
                self.hub.spawn(channel)
        self.wait_consumers(replicas=REPLICAS)
        threading.Thread(target=self._sample, daemon=True, name="deliveries").start()

    def wait_consumers(self, timeout: float = 90.0, replicas: int = 1) -> None:
        deadline = time.monotonic() + timeout
        queues = {"hub.router": 1, **{f"hub.notify.{c}": replicas for c in CHANNELS}}
        while True:
            with contextlib.suppress(Exception):
                if all(self.depth(q)[1] >= n for q, n in queues.items()):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"hub consumers not up after {timeout:.0f}s")
            time.sleep(0.5)

    def close(self) -> None:
        self._sampling.set()
        super().close()

    def open_producer(self) -> PikaProducer:
        """The hub's producer given all three nodes: it connects to the first that
        answers (a careful upstream system republishes what was not confirmed)."""
        producer = open_producer(self.vhost.url, timeout=20, connect_timeout=5)
        assert isinstance(producer, PikaProducer)
        return producer

    # -- recovery ------------------------------------------------------------------------
    def _sample(self) -> None:
        while not self._sampling.wait(0.5):
            with contextlib.suppress(OSError):
                count = sum(1 for _ in read_records(self.record))
                self.deliveries.append((time.monotonic(), count))

    def recovery_seconds(self, fault_at: float, window: float = 2.0) -> float | None:
        """Seconds from ``fault_at`` until deliveries, after their last dip below half
        the rate of the ``3 * window`` seconds before the fault, ran at half that rate
        again; 0.0 when they never dipped, None when there was no rate to compare with
        or they had not recovered when the last notice went out."""
        samples = list(self.deliveries)

        def rate(t0: float, t1: float) -> float:
            inside = [c for t, c in samples if t0 <= t <= t1]
            return (inside[-1] - inside[0]) / (t1 - t0) if len(inside) >= 2 else 0.0

        before = rate(fault_at - 3 * window, fault_at)
        if before <= 0:
            return None
        dipping, recovered_at = False, None
        for t, count in samples:
            if t <= fault_at + window / 2:
                continue
            if count >= len(self.expected):  # all out: the rate falls to 0 naturally
                break
            if rate(t - window, t) < before / 2:
                dipping = True
            elif dipping:
                dipping, recovered_at = False, t
        if dipping:
            return None
        return 0.0 if recovered_at is None else round(recovered_at - fault_at, 1)


def _good(b: Bed, n: int) -> list[dict[str, Any] | bytes]:
    return [good_event(b.run_id, i) for i in range(n)]


class Suite:
    """One cluster and one PostgreSQL for every fault of a run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Path(tempfile.mkdtemp(prefix="minwon-cluster-"))
        self.cluster = Cluster(self.root / "nodes")
        self.pg = PrivatePostgres()

    def __enter__(self) -> Suite:
        self.pg.start()
        try:
            self.cluster.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.cluster.close()
        self.pg.close()
        shutil.rmtree(self.root, ignore_errors=True)

    @contextlib.contextmanager
    def bed(self, fault: str) -> Iterator[ClusterBed]:
        self.cluster.await_running()
        self.cluster.await_members()
        workdir = Path(tempfile.mkdtemp(prefix=f"minwon-cluster-{fault}-"))
        b = ClusterBed(fault, workdir=workdir, cluster=self.cluster, pg=self.pg)
        try:
            b.start()
            yield b
        finally:
            b.close()
            shutil.rmtree(workdir, ignore_errors=True)

    def run(self, fault: str) -> FaultReport:
        runner = getattr(self, f"fault_{fault}")
        started = time.monotonic()
        with self.bed(fault) as b:
            notes, fault_at = runner(b)
            b.settle(timeout=240, idle=60)
            report = b.report(started)
            recovery = b.recovery_seconds(fault_at)
        report.notes.extend(notes)
        report.notes.append("recovery: " + (
            "deliveries never fell below half their rate" if recovery == 0.0
            else f"deliveries back to half their rate {recovery} s after the fault"
            if recovery is not None else "not measured (no rate before, or none after)"))
        report.recovery = recovery
        return report

    # -- faults --------------------------------------------------------------------------
    def _publish_with(self, b: ClusterBed,
                      strike: Callable[[], list[str]]) -> tuple[list[str], float]:
        """Publish a third, strike (in a thread) while the rest flows; (notes, fault time)."""
        s = self.settings
        items = _good(b, s.events)
        third = len(items) // 3
        b.publish_paced(items[:third], s.rate)
        fault_at = time.monotonic()
        with ThreadPoolExecutor(1, thread_name_prefix=f"strike-{b.fault}") as pool:
            struck = pool.submit(strike)  # its exception is raised by result()
            b.publish_paced(items[third:], s.rate)
            notes = struck.result(timeout=600)
        return notes, fault_at

    def fault_leader_stop(self, b: ClusterBed) -> tuple[list[str], float]:
        def strike() -> list[str]:
            node = self.cluster.leader_node()
            self.cluster.stop_app(node)
            time.sleep(self.settings.down)
            self.cluster.start_app(node)
            return [f"{node.erlang_name} (leading most queues) stopped "
                    f"{self.settings.down:.0f} s and started again"]
        return self._publish_with(b, strike)

    def fault_node_kill(self, b: ClusterBed) -> tuple[list[str], float]:
        def strike() -> list[str]:
            node = self.cluster.leader_node()
            node.kill()
            time.sleep(self.settings.down)
            self.cluster.restart_killed(node)
            return [f"{node.erlang_name}'s VM killed (kill -9), restarted after "
                    f"{self.settings.down:.0f} s"]
        return self._publish_with(b, strike)

    def fault_partition(self, b: ClusterBed) -> tuple[list[str], float]:
        def strike() -> list[str]:
            node: Node = self.cluster.leader_node()
            self.cluster.partition(node)
            time.sleep(self.settings.partition)
            self.cluster.heal(node)
            self.cluster.await_running(timeout=240)
            return [f"{node.erlang_name}'s link cut for {self.settings.partition:.0f} s "
                    "(pause_minority), then healed"]
        if self.cluster.layout != "netns":
            raise RuntimeError("the partition fault needs network namespaces (root)")
        return self._publish_with(b, strike)

    def fault_worker_kill(self, b: ClusterBed) -> tuple[list[str], float]:
        s = self.settings
        assert b.hub is not None
        hub = b.hub
        period = max(1.0, s.events / s.rate / (s.kills + 1))
        kills = 0

        def strike() -> list[str]:
            nonlocal kills
            rng = random.Random(s.seed)
            while kills < s.kills:
                time.sleep(period)
                victims = [p for p in hub.procs if p.name == "worker-sms" and p.alive()]
                victim = rng.choice(victims)
                os.kill(victim.pid, signal.SIGKILL)
                victim.popen.wait(10)
                hub.procs.remove(victim)
                hub.spawn("sms")
                kills += 1
            return [f"an SMS worker replica SIGKILLed {kills} times, each restarted"]
        return self._publish_with(b, strike)

    def fault_postgres(self, b: ClusterBed) -> tuple[list[str], float]:
        def strike() -> list[str]:
            self.pg.restart()
            return ["the ledger's PostgreSQL restarted (pg_ctl restart -m fast)"]
        return self._publish_with(b, strike)


__all__ = ["FAULTS", "FaultReport", "Settings", "Suite"]
