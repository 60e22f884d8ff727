"""``python -m bench`` (full, a few minutes) or ``python -m bench --quick`` (under a
minute): every scenario on the local RabbitMQ, each in a fresh vhost; prints a table
and writes ``bench/results/latest.json``.

Scenarios (see each module for exactly what runs where):

* ``ceiling``: :mod:`bench.ceiling`, a bare kombu consumer that decodes and acks;
* ``hub_0ms``, ``hub_50ms``: :mod:`bench.hub_e2e`, router + 3 channel workers, provider
  at 0 / 50 ms;
* ``celery_50ms``: :mod:`bench.celery_baseline`, 3 Celery workers, threads pool, 50 ms;
  ``celery_50ms_acks_late``: the same acking after the send, as the hub does;
* ``producer``: :mod:`bench.publishing`, the hub's producer vs kombu confirming each;
* ``steady``: :mod:`bench.steady`, p50/p95/p99 publish → provider call at 1,000/s;
* ``memory``: :mod:`bench.memory`, worker RSS with 100,000 jobs waiting;
* ``stages`` (``--stages``): :mod:`bench.stages`, router alone and worker alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import broker, procs

RESULTS = Path(__file__).resolve().parent / "results"

#: (key, target, comparison) of every headline figure.
TARGETS: dict[str, tuple[float, str]] = {
    "hub_per_s_50ms": (3000, ">="),
    "ratio_vs_celery_50ms": (3.0, ">="),
    "ratio_vs_ceiling_0ms": (0.40, ">="),
    "producer_confirmed_per_s": (8000, ">="),
    "p99_ms_at_1000": (250, "<="),
    "worker_rss_mb_backlog": (200, "<="),
}

SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "ceiling": {"messages": 30000},
        "hub_0ms": {"events": 6000},
        "hub_50ms": {"events": 6000},
        "celery_50ms": {"events": 6000},
        "producer": {"hub_events": 30000, "kombu_events": 5000},
        "steady": {"seconds": 20.0, "warmup": 3.0},
        "memory": {"backlog": 100_000, "seconds": 20.0},
        "stages": {"router_events": 6000, "worker_jobs": 15000},
    },
    "quick": {
        "ceiling": {"messages": 8000},
        "hub_0ms": {"events": 800},
        "hub_50ms": {"events": 800},
        "celery_50ms": {"events": 800},
        "producer": {"hub_events": 8000, "kombu_events": 1000},
        "steady": {"seconds": 4.0, "warmup": 1.0},
        "memory": {"backlog": 30_000, "seconds": 5.0},
        "stages": {"router_events": 1500, "worker_jobs": 3000},
    },
}


def background_cpu(seconds: float = 2.0) -> float:
    """Share of the machine's CPU busy while the benchmark is idle (other work)."""
    b0, t0 = procs.total_cpu_busy()
    time.sleep(seconds)
    b1, t1 = procs.total_cpu_busy()
    return round((b1 - b0) / max(t1 - t0, 1), 3)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True,
                              cwd=Path(__file__).resolve().parent.parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def scenarios(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    from bench import (
        ceiling,
        celery_baseline,
        hub_e2e,
        memory,
        publishing,
        stages,
        steady,
    )

    c, p = args.concurrency, args.prefetch
    table: dict[str, Callable[[], Any]] = {
        "ceiling": lambda: ceiling.run(messages=sizes["ceiling"]["messages"], prefetch=p),
        "hub_0ms": lambda: hub_e2e.run(latency_ms=0, events=sizes["hub_0ms"]["events"],
                                       concurrency=c, prefetch=p),
        "hub_50ms": lambda: hub_e2e.run(latency_ms=50, events=sizes["hub_50ms"]["events"],
                                        concurrency=c, prefetch=p),
        "celery_50ms": lambda: celery_baseline.run(
            latency_ms=50, events=sizes["celery_50ms"]["events"], concurrency=c),
        "celery_50ms_acks_late": lambda: celery_baseline.run(
            latency_ms=50, events=sizes["celery_50ms"]["events"], concurrency=c,
            acks_late=True),
        "producer": lambda: publishing.run(**sizes["producer"]),
        "steady": lambda: steady.run(rate=1000, latency_ms=50, concurrency=c, prefetch=p,
                                     **sizes["steady"]),
        "memory": lambda: memory.run(latency_ms=50, concurrency=c, prefetch=p,
                                     **sizes["memory"]),
    }
    if args.stages:
        table["stages"] = lambda: {
            "router_alone": stages.router_alone(events=sizes["stages"]["router_events"]),
            "worker_alone_0ms": stages.worker_alone(jobs=sizes["stages"]["worker_jobs"],
                                                    concurrency=c, prefetch=p),
        }
    return table


def headline(results: dict[str, Any]) -> dict[str, Any]:
    def get(scenario: str, *path: str) -> Any:
        node = results.get(scenario)
        for key in path:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node

    def ratio(a: Any, b: Any) -> float | None:
        return round(a / b, 3) if a and b else None

    out = {
        "hub_per_s_50ms": get("hub_50ms", "per_s"),
        "celery_per_s_50ms": get("celery_50ms", "per_s"),
        "celery_acks_late_per_s_50ms": get("celery_50ms_acks_late", "per_s"),
        "hub_per_s_0ms": get("hub_0ms", "per_s"),
        "ceiling_per_s": get("ceiling", "per_s"),
        "producer_confirmed_per_s": get("producer", "hub", "per_s"),
        "kombu_confirmed_per_s": get("producer", "kombu", "per_s"),
        "p50_ms_at_1000": get("steady", "p50_ms"),
        "p95_ms_at_1000": get("steady", "p95_ms"),
        "p99_ms_at_1000": get("steady", "p99_ms"),
        "worker_rss_mb_backlog": get("memory", "rss_mb_peak"),
        "worker_rss_backlog_jobs": get("memory", "backlog"),
    }
    out["ratio_vs_celery_50ms"] = ratio(out["hub_per_s_50ms"], out["celery_per_s_50ms"])
    out["ratio_vs_ceiling_0ms"] = ratio(out["hub_per_s_0ms"], out["ceiling_per_s"])
    out["producer_vs_kombu"] = ratio(out["producer_confirmed_per_s"],
                                     out["kombu_confirmed_per_s"])
    return out


def verdicts(head: dict[str, Any]) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    for key, (target, op) in TARGETS.items():
        value = head.get(key)
        out[key] = None if value is None else (value >= target if op == ">=" else value <= target)
    return out


ROWS: tuple[tuple[str, str, str], ...] = (
    ("hub_per_s_50ms", "hub e2e, provider 50 ms (notices/s)", "{:,.0f}"),
    ("celery_per_s_50ms", "celery baseline, 50 ms (notices/s)", "{:,.0f}"),
    ("celery_acks_late_per_s_50ms", "celery, acks_late, 50 ms (notices/s)", "{:,.0f}"),
    ("ratio_vs_celery_50ms", "hub / celery at 50 ms", "{:.2f}x"),
    ("hub_per_s_0ms", "hub e2e, provider 0 ms (notices/s)", "{:,.0f}"),
    ("ceiling_per_s", "ceiling: kombu decode+ack (msg/s)", "{:,.0f}"),
    ("ratio_vs_ceiling_0ms", "hub 0 ms / ceiling", "{:.0%}"),
    ("producer_confirmed_per_s", "hub producer, confirms (events/s)", "{:,.0f}"),
    ("kombu_confirmed_per_s", "kombu, confirm per message (events/s)", "{:,.0f}"),
    ("p50_ms_at_1000", "p50 publish->provider at 1,000/s (ms)", "{:,.0f}"),
    ("p95_ms_at_1000", "p95 at 1,000/s (ms)", "{:,.0f}"),
    ("p99_ms_at_1000", "p99 at 1,000/s (ms)", "{:,.0f}"),
    ("worker_rss_mb_backlog", "worker RSS, {jobs} jobs waiting (MiB)", "{:,.0f}"),
)


def table(head: dict[str, Any], ok: dict[str, bool | None]) -> str:
    lines = [f"{'figure':<42} {'value':>12}  {'target':>10}  result", "-" * 76]
    for key, label, fmt in ROWS:
        value = head.get(key)
        shown = "n/a" if value is None else fmt.format(value)
        target = ""
        if key in TARGETS:
            t, op = TARGETS[key]
            target = f"{op} {fmt.format(t)}"
        verdict = {True: "meets", False: "MISSES", None: ""}[ok.get(key)]
        label = label.format(jobs=f"{head.get('worker_rss_backlog_jobs') or 0:,}")
        lines.append(f"{label:<42} {shown:>12}  {target:>10}  {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (< 1 minute)")
    parser.add_argument("--only", nargs="+", metavar="SCENARIO",
                        help="run only these scenarios (see the list above)")
    parser.add_argument("--stages", action="store_true",
                        help="also run router alone / worker alone (diagnosis)")
    parser.add_argument("--concurrency", type=int, default=128,
                        help="sends in flight per worker, hub and celery (128)")
    parser.add_argument("--prefetch", type=int, default=256, help="hub prefetch (256)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)

    mode = "quick" if args.quick else "full"
    sizes = SIZES[mode]
    table_of = scenarios(sizes, args)
    chosen = args.only or [s for s in table_of
                           if not (args.quick and s == "celery_50ms_acks_late")]
    unknown = [s for s in chosen if s not in table_of]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(table_of)}")

    started = time.monotonic()
    info = {**procs.machine_info(), **broker.broker_info(),
            "background_cpu_busy_before": background_cpu()}
    results: dict[str, Any] = {}
    for name in chosen:
        print(f"-- {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        load = procs.loadavg()
        try:
            results[name] = table_of[name]()
        except Exception as exc:  # one failed scenario must not hide the others
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        if isinstance(results[name], dict):
            results[name]["loadavg_before"] = load
            results[name]["wall_seconds"] = round(time.monotonic() - t0, 1)
        print(f"   {name}: {json.dumps(results[name], ensure_ascii=False)[:400]}",
              file=sys.stderr, flush=True)
    info["background_cpu_busy_after"] = background_cpu()
    info["loadavg_at_end"] = procs.loadavg()

    head = headline(results)
    ok = verdicts(head)
    document = {
        **head,
        "targets": {k: f"{op} {t}" for k, (t, op) in TARGETS.items()},
        "meets": ok,
        "mode": mode,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "duration_s": round(time.monotonic() - started, 1),
        "machine": info,
        "settings": {"concurrency": args.concurrency, "prefetch": args.prefetch,
                     "sizes": {k: v for k, v in sizes.items() if k in chosen}},
        "scenarios": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(table(head, ok))
    print(f"\n{mode} run in {document['duration_s']} s on {info.get('cpus')} CPUs "
          f"({info.get('cpu_model')}); machine busy with other work: "
          f"{info['background_cpu_busy_before']:.0%} before, "
          f"{info['background_cpu_busy_after']:.0%} after; results in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
