"""What scale costs: the hub on the three-node cluster beside the hub on one node.

``python -m bench.cluster [--events 5000] [--latency 0] [--repeat 3]`` runs, in
interleaved rounds, the same backlog through

* ``single``: the shared RabbitMQ node, a router and **two** workers per channel;
* ``cluster``: the three-node cluster of :mod:`tests.cluster.nodes` (quorum queues with a
  member on every node), the same processes, each given all three node URLs;

both on a fresh PostgreSQL ledger database (:mod:`bench.pg`), with a quorum queue bound
to ``minwon.notifications``. It prints notices/s and CPU ms per notice per process group
(hub processes, every RabbitMQ node, PostgreSQL) and writes them, with the ratio
``cluster ÷ single``, to ``bench/results/cluster.json``. Both run on the same two cores,
so the cluster's figure is what replication costs in CPU, not what three machines carry:
``docs/operations.md`` (Sizing) reads them that way.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import pg, pikapub, procs, rabbitmq, records, workload
from bench.peers import Launch, Launcher, _python
from bench.stats import median_spread
from tests.cluster.nodes import USER, Cluster

RESULTS = Path(__file__).resolve().parent / "results" / "cluster.json"
REPLICAS = 2


@contextlib.contextmanager
def _cluster_vhost(cluster: Cluster, name: str) -> Iterator[list[str]]:
    node = cluster.any_running()
    node.ctl("add_vhost", name)
    node.ctl("set_permissions", "-p", name, USER, ".*", ".*", ".*")
    try:
        yield cluster.urls(vhost=name)
    finally:
        with contextlib.suppress(Exception):
            cluster.any_running().ctl("delete_vhost", name)


def run(layout: str, cluster: Cluster | None, *, events: int, latency_ms: float,
        timeout: float = 900.0) -> dict[str, Any]:
    """One run: ``layout`` is ``single`` (the shared broker) or ``cluster``."""
    channels = workload.CHANNELS
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="minwon-bc-")))
        record, config = workdir / "record", workdir / "minwon.toml"
        name = f"bench-{layout}-{workload.new_run_id('c')}"
        if layout == "cluster":
            assert cluster is not None
            urls = stack.enter_context(_cluster_vhost(cluster, name))
            beams: Callable[[], list[int]] = lambda: [  # noqa: E731
                p for p in (n.pid() for n in cluster.nodes) if p is not None]
        else:
            urls = [stack.enter_context(rabbitmq.fresh_vhost(layout))]
            beams = rabbitmq.beam_pids
        first = urls[0]
        db = pg.create()
        stack.callback(pg.drop, db)
        config.write_text(workload.hub_config_toml(
            url=";".join(urls), record=record, latency_ms=latency_ms, ledger=pg.url(db),
            concurrency=128, prefetch=256, channels=channels), "utf-8")
        rabbitmq.declare_topology(first, channels)
        rabbitmq.bind_status_queue(first)

        env = {"MINWON_CONFIG": str(config)}

        def hub(role: list[str], label: str) -> Launch:
            return Launch(label, _python("-m", "hub.cli", *role),
                          {**env, "MINWON__METRICS__PORT": str(procs.free_port())})

        launcher = Launcher(workdir)
        stack.callback(launcher.stop)
        workers = [hub(["worker", "--channel", c], f"{c}{i}") for c in channels
                   for i in range(REPLICAS)]
        groups: dict[str, Callable[[], list[int]]] = {
            w.name: functools.partial(launcher.pids, w.name) for w in workers}
        groups["router"] = functools.partial(launcher.pids, "router")
        groups["rabbitmq"] = beams
        groups["postgresql"] = functools.partial(procs.postgres_pids, db)
        meter = procs.CpuMeter(groups)
        counter = records.RecordCounter(record)
        for w in workers:
            launcher.spawn(w)
        pikapub.load(first, (pikapub.event_message(e) for e in
                             workload.events(workload.new_run_id("c"), events,
                                             channels=channels)))
        rabbitmq.wait_for_consumers(first, {f"hub.notify.{c}": REPLICAS for c in channels},
                                    check=launcher.check)
        meter.mark()
        launcher.spawn(hub(["router"], "router"))
        rabbitmq.wait_for_consumers(first, {"hub.router": 1}, interval=0.02,
                                    check=launcher.check)
        meter.mark_group("router")
        expected = events * len(channels)
        got = counter.wait_for(expected, timeout, check=launcher.check)
        usage = meter.read()
        launcher.stop()
        found = records.load(record)
    rate = records.throughput(found)
    delivered = len({r.notification_id for r in found})
    cpu = usage["cpu_seconds"]
    hub_cpu = sum(v for k, v in cpu.items() if k not in ("rabbitmq", "postgresql"))
    return {
        "layout": layout, "events": events, "latency_ms": latency_ms,
        "notices_expected": expected, "notices_delivered": delivered,
        "complete": got >= expected, "sent_twice": records.duplicates(found),
        "per_s": round(rate, 1),
        "cpu_ms_per_notice": {
            "hub": round(1000 * hub_cpu / max(delivered, 1), 3),
            "rabbitmq": round(1000 * cpu["rabbitmq"] / max(delivered, 1), 3),
            "postgresql": round(1000 * cpu["postgresql"] / max(delivered, 1), 3),
            "total": round(1000 * sum(cpu.values()) / max(delivered, 1), 3),
        },
        "machine_busy": usage.get("machine_busy"),
        "loadavg": procs.loadavg(),
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.0, help="provider latency, ms")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {"single": [], "cluster": []}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="minwon-bench-cluster-") as root, \
            Cluster(Path(root)) as cluster:
        print(f"cluster up ({cluster.layout}) in {time.monotonic() - started:.0f} s",
              file=sys.stderr, flush=True)
        for i in range(args.repeat):
            order = ("single", "cluster") if i % 2 == 0 else ("cluster", "single")
            for layout in order:
                result = run(layout, cluster, events=args.events, latency_ms=args.latency)
                runs[layout].append(result)
                print(f"round {i + 1} {layout:<8} {result['per_s']:>8.1f} notices/s  "
                      f"CPU {result['cpu_ms_per_notice']['total']:.3f} ms/notice  "
                      f"twice {result['sent_twice']}  load {result['loadavg'][0]:.1f}",
                      file=sys.stderr, flush=True)
    summary: dict[str, Any] = {"events": args.events, "latency_ms": args.latency,
                               "repeat": args.repeat, "machine": procs.machine_info()}
    for layout, results in runs.items():
        median, spread = median_spread([r["per_s"] for r in results])
        summary[f"{layout}_per_s"] = _round(median, 1)
        summary[f"{layout}_per_s_spread"] = _round(spread, 1)
        for part in ("hub", "rabbitmq", "postgresql", "total"):
            m, _ = median_spread([r["cpu_ms_per_notice"][part] for r in results])
            summary[f"{layout}_cpu_ms_per_notice_{part}"] = _round(m, 3)
    single, clustered = summary["single_per_s"], summary["cluster_per_s"]
    summary["ratio_cluster_vs_single"] = round(clustered / single, 3) \
        if single and clustered else None
    summary["runs"] = runs
    args.out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"{'layout':<8} {'notices/s':>10} {'spread':>8} {'CPU ms/notice':>14} "
          f"{'hub':>6} {'rabbitmq':>9} {'postgres':>9}")
    for layout in runs:
        print(f"{layout:<8} {summary[f'{layout}_per_s']:>10.1f} "
              f"{summary[f'{layout}_per_s_spread']:>8} "
              f"{summary[f'{layout}_cpu_ms_per_notice_total']:>14.3f} "
              f"{summary[f'{layout}_cpu_ms_per_notice_hub']:>6.3f} "
              f"{summary[f'{layout}_cpu_ms_per_notice_rabbitmq']:>9.3f} "
              f"{summary[f'{layout}_cpu_ms_per_notice_postgresql']:>9.3f}")
    print(f"cluster ÷ single: {summary['ratio_cluster_vs_single']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
