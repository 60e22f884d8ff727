"""``python -m bench`` (full, about 35 minutes on a quiet machine) or ``python -m bench
--quick`` (small sizes, one round: a smoke run of every scenario for development, under
two minutes on a quiet machine): the hub against peers with the same guarantees, every
scenario ``--repeat`` times (3) in interleaved rounds, medians with their spread; prints
a table and writes ``bench/results/latest.json``.

Scenarios (see each module for exactly what runs where):

* ``hub_0ms``, ``null_hub_0ms``: :mod:`bench.peers`, the hub and the null hub (same
  topology and processes, stages that only pass messages on), provider at 0 ms;
* ``hub_50ms``, ``celery_equal_50ms``, ``celery_50ms``, ``celery_acks_late_50ms``,
  ``pika_50ms``, ``dramatiq_50ms``: the hub, Celery with the hub's guarantees and work,
  Celery as usually run (early ack / ``acks_late``), a plain pika consumer doing the
  hub's work, dramatiq with the hub's guarantees and work; provider at 50 ms;
* ``producer``: :mod:`bench.publishing`, the hub's producer vs a pipelined pika
  publisher at batch sizes 1, 10, 100, all; kombu with a confirm per message;
* ``latency``: :mod:`bench.latency`, rate sweep without coordinated omission, hub and
  Celery-equal: the highest rate whose p99 (scheduled time → provider call) ≤ 250 ms;
* ``drain``: :mod:`bench.drain`, time to drain a 100,000-notice backlog, worker RSS;
* ``recovery``: :mod:`bench.recovery`, a private RabbitMQ node restarted under load:
  time to the first delivery and to 90 % of the rate before.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import procs, rabbitmq
from bench.stats import dig, interleaved, median_spread, paired_ratio

RESULTS = Path(__file__).resolve().parent / "results"

#: Goals (issue 11, read from medians): key -> (target, comparison).
TARGETS: dict[str, tuple[float, str]] = {
    "ratio_vs_celery_equal_50ms": (2.0, ">="),
    "ratio_vs_celery_50ms": (1.0, ">="),
    "ratio_vs_null_hub_0ms": (0.5, ">="),
    "max_rate_p99_250ms": (1000, ">="),
    "cpu_ms_per_notice_0ms": (0.67, "<="),
    "ratio_producer_vs_pika_pipelined": (1.0, ">="),
    "producer_confirmed_per_s": (8000, ">="),
    "worker_rss_mb_backlog": (200, "<="),
}

SIZES: dict[str, dict[str, Any]] = {
    "full": {"events_0ms": 5000, "events_50ms": 5000, "producer_seconds": 10.0,
             "kombu_seconds": 3.0, "latency_seconds": 10.0, "latency_warmup": 2.0,
             "latency_rates": [100, 250, 500, 750, 1000, 1250, 1500, 2000],
             "drain_backlog": 100_000, "recovery_backlog": 60_000, "recovery_before": 3.0,
             "slow_repeat": 3},
    "quick": {"events_0ms": 300, "events_50ms": 300, "producer_seconds": 0.4,
              "kombu_seconds": 0.4, "latency_seconds": 2.0, "latency_warmup": 0.5,
              "latency_rates": [200, 600], "drain_backlog": 5000,
              "recovery_backlog": 15_000, "recovery_before": 1.5, "slow_repeat": 1},
}

#: scenario -> peer of bench.peers and provider latency
THROUGHPUT: dict[str, tuple[str, float]] = {
    "hub_0ms": ("hub", 0.0),
    "null_hub_0ms": ("null_hub", 0.0),
    "hub_50ms": ("hub", 50.0),
    "celery_equal_50ms": ("celery_equal", 50.0),
    "celery_50ms": ("celery", 50.0),
    "celery_acks_late_50ms": ("celery_acks_late", 50.0),
    "pika_50ms": ("pika", 50.0),
    "dramatiq_50ms": ("dramatiq", 50.0),
}
#: scenarios compared with each other: they run back to back in every round
GROUPS: tuple[tuple[str, ...], ...] = (
    ("hub_0ms", "null_hub_0ms"),
    ("hub_50ms", "celery_equal_50ms", "celery_50ms", "celery_acks_late_50ms", "pika_50ms",
     "dramatiq_50ms"),
)
#: run once per round, in rounds < slow_repeat only (each takes long)
SLOW = ("latency", "drain", "recovery")


def background_cpu(seconds: float = 1.0) -> float:
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
    from bench import peers, publishing

    c, p = args.concurrency, args.prefetch

    def throughput(peer: str, ms: float) -> Callable[[], Any]:
        events = sizes["events_0ms" if ms == 0 else "events_50ms"]
        if peer == "null_hub":  # about five times faster: a clock of similar length
            events *= 3
        return lambda: peers.run(peer, latency_ms=ms, events=events, concurrency=c,
                                 prefetch=p)

    table: dict[str, Callable[[], Any]] = {
        name: throughput(peer, ms) for name, (peer, ms) in THROUGHPUT.items()}
    if importlib.util.find_spec("dramatiq") is None:  # the dev extra installs it
        print("dramatiq is not installed: no dramatiq peer", file=sys.stderr)
        del table["dramatiq_50ms"]
    table["producer"] = lambda: publishing.run(seconds=sizes["producer_seconds"],
                                               kombu_seconds=sizes["kombu_seconds"])
    optional = {
        "latency": ("bench.latency", lambda m: m.run(
            rates=sizes["latency_rates"], seconds=sizes["latency_seconds"],
            warmup=sizes["latency_warmup"], concurrency=c, prefetch=p)),
        "drain": ("bench.drain", lambda m: m.run(backlog=sizes["drain_backlog"],
                                                 concurrency=c, prefetch=p)),
        "recovery": ("bench.recovery", lambda m: m.run(backlog=sizes["recovery_backlog"],
                                                       before=sizes["recovery_before"],
                                                       concurrency=c, prefetch=p)),
    }
    for name, (module, call) in optional.items():
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        table[name] = lambda call=call, mod=mod: call(mod)  # type: ignore[misc]
    return table


def values(runs: dict[str, list[dict[str, Any]]], scenario: str, path: str) -> list[Any]:
    """``path`` of every round of ``scenario`` (None where a round failed or is missing)."""
    return [None if "error" in r else dig(r, path) for r in runs.get(scenario, [])]


def headline(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def put(key: str, vals: list[Any], digits: int = 1) -> None:
        med, spread = median_spread(vals)
        out[key] = None if med is None else round(med, digits)
        out[f"{key}_spread"] = None if spread is None else round(spread, digits)

    def put_ratio(key: str, a: list[Any], b: list[Any]) -> None:
        med, spread = paired_ratio(a, b)
        out[key] = None if med is None else round(med, 3)
        out[f"{key}_spread"] = None if spread is None else round(spread, 3)

    per_s = {name: values(runs, name, "per_s") for name in THROUGHPUT}
    celery_best = [max((x for x in pair if x), default=None) for pair in
                   zip(per_s["celery_50ms"], per_s["celery_acks_late_50ms"], strict=False)]
    put("hub_per_s_50ms", per_s["hub_50ms"])
    put("celery_equal_per_s_50ms", per_s["celery_equal_50ms"])
    put("celery_per_s_50ms", celery_best)
    put("celery_early_ack_per_s_50ms", per_s["celery_50ms"])
    put("celery_acks_late_per_s_50ms", per_s["celery_acks_late_50ms"])
    put("pika_per_s_50ms", per_s["pika_50ms"])
    put("dramatiq_per_s_50ms", per_s["dramatiq_50ms"])
    put("hub_per_s_0ms", per_s["hub_0ms"])
    put("null_hub_per_s_0ms", per_s["null_hub_0ms"])
    put_ratio("ratio_vs_celery_equal_50ms", per_s["hub_50ms"], per_s["celery_equal_50ms"])
    put_ratio("ratio_vs_celery_50ms", per_s["hub_50ms"], celery_best)
    put_ratio("ratio_vs_pika_50ms", per_s["hub_50ms"], per_s["pika_50ms"])
    put_ratio("ratio_vs_dramatiq_50ms", per_s["hub_50ms"], per_s["dramatiq_50ms"])
    put_ratio("ratio_vs_null_hub_0ms", per_s["hub_0ms"], per_s["null_hub_0ms"])
    for key, scenario in (("cpu_ms_per_notice_0ms", "hub_0ms"),
                          ("null_hub_cpu_ms_per_notice_0ms", "null_hub_0ms"),
                          ("cpu_ms_per_notice_50ms", "hub_50ms"),
                          ("celery_equal_cpu_ms_per_notice_50ms", "celery_equal_50ms"),
                          ("pika_cpu_ms_per_notice_50ms", "pika_50ms"),
                          ("dramatiq_cpu_ms_per_notice_50ms", "dramatiq_50ms")):
        put(key, values(runs, scenario, "cpu_ms_per_notice_total"), 3)

    hub_best = values(runs, "producer", "hub.best.per_s")
    pika_best = values(runs, "producer", "pika.best.per_s")
    put("producer_confirmed_per_s", values(runs, "producer", "hub.all.per_s"))
    put("producer_best_per_s", hub_best)
    put("pika_pipelined_per_s", pika_best)
    put_ratio("ratio_producer_vs_pika_pipelined", hub_best, pika_best)
    put("kombu_confirmed_per_s", values(runs, "producer", "kombu_per_message.per_s"))
    put_ratio("producer_vs_kombu", values(runs, "producer", "hub.all.per_s"),
              values(runs, "producer", "kombu_per_message.per_s"))
    for batch in ("1", "10", "100", "all"):
        put(f"producer_per_s_batch_{batch}", values(runs, "producer", f"hub.{batch}.per_s"))
        put(f"pika_pipelined_per_s_batch_{batch}",
            values(runs, "producer", f"pika.{batch}.per_s"))

    put("max_rate_p99_250ms", values(runs, "latency", "hub.max_rate_p99_250ms"), 0)
    put("celery_equal_max_rate_p99_250ms",
        values(runs, "latency", "celery_equal.max_rate_p99_250ms"), 0)
    put_ratio("ratio_max_rate_vs_celery_equal", values(runs, "latency", "hub.max_rate_p99_250ms"),
              values(runs, "latency", "celery_equal.max_rate_p99_250ms"))
    for q in ("p50", "p95", "p99"):
        put(f"{q}_ms_at_1000", values(runs, "latency", f"hub.at_1000.{q}_ms"))
    put("drain_100k_seconds", values(runs, "drain", "seconds"), 2)
    put("drain_backlog_notices", values(runs, "drain", "backlog"), 0)  # 100,000 unless --quick
    put("drain_per_s", values(runs, "drain", "per_s"))
    put("worker_rss_mb_backlog", values(runs, "drain", "rss_mb_peak"))
    put("recovery_seconds", values(runs, "recovery", "to_90_percent_s"), 2)
    put("recovery_first_delivery_seconds", values(runs, "recovery", "first_delivery_s"), 2)
    return out


def verdicts(head: dict[str, Any]) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    for key, (target, op) in TARGETS.items():
        value = head.get(key)
        out[key] = None if value is None else (value >= target if op == ">=" else value <= target)
    return out


#: (figure, hub key, peer name, peer key, ratio key, format)
ROWS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("notices/s, provider 50 ms", "hub_per_s_50ms", "celery-equal",
     "celery_equal_per_s_50ms", "ratio_vs_celery_equal_50ms", "{:,.0f}"),
    ("notices/s, provider 50 ms", "hub_per_s_50ms", "celery (faster mode)",
     "celery_per_s_50ms", "ratio_vs_celery_50ms", "{:,.0f}"),
    ("notices/s, provider 50 ms", "hub_per_s_50ms", "pika consumer",
     "pika_per_s_50ms", "ratio_vs_pika_50ms", "{:,.0f}"),
    ("notices/s, provider 50 ms", "hub_per_s_50ms", "dramatiq",
     "dramatiq_per_s_50ms", "ratio_vs_dramatiq_50ms", "{:,.0f}"),
    ("notices/s, provider 0 ms", "hub_per_s_0ms", "null hub",
     "null_hub_per_s_0ms", "ratio_vs_null_hub_0ms", "{:,.0f}"),
    ("CPU ms/notice, all processes, 0 ms", "cpu_ms_per_notice_0ms", "null hub",
     "null_hub_cpu_ms_per_notice_0ms", "", "{:.3f}"),
    ("CPU ms/notice, all processes, 50 ms", "cpu_ms_per_notice_50ms", "celery-equal",
     "celery_equal_cpu_ms_per_notice_50ms", "", "{:.3f}"),
    ("events/s confirmed, best batch", "producer_best_per_s", "pika pipelined",
     "pika_pipelined_per_s", "ratio_producer_vs_pika_pipelined", "{:,.0f}"),
    ("events/s confirmed, one batch", "producer_confirmed_per_s", "kombu confirm/msg",
     "kombu_confirmed_per_s", "producer_vs_kombu", "{:,.0f}"),
    ("max events/s with p99 <= 250 ms", "max_rate_p99_250ms", "celery-equal",
     "celery_equal_max_rate_p99_250ms", "ratio_max_rate_vs_celery_equal", "{:,.0f}"),
    ("p99 ms at 1,000 events/s", "p99_ms_at_1000", "", "", "", "{:,.0f}"),
    ("drain 100k-notice backlog, s", "drain_100k_seconds", "", "", "", "{:,.1f}"),
    ("worker RSS during the drain, MiB", "worker_rss_mb_backlog", "", "", "", "{:,.0f}"),
    ("broker restart -> 90 % rate, s", "recovery_seconds", "", "", "", "{:,.1f}"),
    ("broker restart -> first delivery, s", "recovery_first_delivery_seconds", "", "", "",
     "{:,.1f}"),
)


def _fmt(value: Any, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


def table(head: dict[str, Any], ok: dict[str, bool | None]) -> str:
    lines = [f"{'figure':<37} {'hub':>8} {'±':>6}  {'peer':<20} {'peer':>8} {'±':>6} "
             f"{'ratio':>6} {'±':>5}  target", "-" * 118]
    backlog = head.get("drain_backlog_notices")
    for label, hub_key, peer, peer_key, ratio_key, fmt in ROWS:
        if backlog and hub_key == "drain_100k_seconds":
            label = label.replace("100k", f"{backlog:,.0f}")
        cols = [f"{label:<37}", f"{_fmt(head.get(hub_key), fmt):>8}",
                f"{_fmt(head.get(hub_key + '_spread'), fmt):>6}", f" {peer:<20}",
                f"{_fmt(head.get(peer_key), fmt) if peer_key else '':>8}",
                f"{_fmt(head.get(peer_key + '_spread'), fmt) if peer_key else '':>6}",
                f"{_fmt(head.get(ratio_key), '{:.2f}') if ratio_key else '':>6}",
                f"{_fmt(head.get(ratio_key + '_spread'), '{:.2f}') if ratio_key else '':>5}"]
        goal = ""
        for key in (ratio_key, hub_key):
            if key in TARGETS:
                t, op = TARGETS[key]
                verdict = {True: "meets", False: "MISSES", None: ""}[ok.get(key)]
                goal = f"{op} {t:g} {verdict}"
                break
        lines.append(" ".join(cols) + f"  {goal}")
    lines.append("± = spread (max - min over the rounds); ratio = median of the per-round "
                 "ratios (each round's pair ran back to back)")
    return "\n".join(lines)


def run_line(name: str, result: dict[str, Any]) -> str:
    """One line per run: rate, machine busy, CPU ms per notice of every process."""
    if "error" in result:
        return f"   {name}: FAILED {result['error'][:300]}"
    load = result.get("loadavg_before", (0.0,))[0]
    head = f"   {name} (load {load:.1f}): "
    if name == "producer":
        batches = " ".join(f"{b}: {dig(result, f'hub.{b}.per_s') or 0:,.0f} vs "
                           f"{dig(result, f'pika.{b}.per_s') or 0:,.0f}"
                           for b in ("1", "10", "100", "all"))
        return (head + f"events/s hub vs pika by batch {batches}; kombu confirm/msg "
                f"{dig(result, 'kombu_per_message.per_s') or 0:,.0f}; CPU µs/event at 'all' "
                f"(publisher / RabbitMQ): hub {dig(result, 'hub.all.publisher_cpu_us_per_event')}"
                f" / {dig(result, 'hub.all.rabbitmq_cpu_us_per_event')}, pika "
                f"{dig(result, 'pika.all.publisher_cpu_us_per_event')} / "
                f"{dig(result, 'pika.all.rabbitmq_cpu_us_per_event')}")
    if name == "latency":
        parts = []
        for peer in ("hub", "celery_equal"):
            steps = ", ".join(f"{s['rate']:g}/s p99 {s['p99_ms']} ms"
                              f"{'' if s['passes'] else ' FAIL'} (gen CPU "
                              f"{s['generator']['cpu_share']:.0%}, busy {s['machine_busy']:.0%})"
                              for s in dig(result, f"{peer}.steps") or [])
            parts.append(f"{peer}: max {dig(result, f'{peer}.max_rate_p99_250ms')}/s [{steps}]")
        return head + "; ".join(parts)
    if name == "drain":
        return (head + f"{result.get('backlog'):,} notices in {result.get('seconds')} s "
                f"({result.get('per_s', 0):,.0f}/s), worker RSS peak "
                f"{result.get('rss_mb_peak')} MiB, complete {result.get('complete')}; machine "
                f"busy {result.get('machine_busy', 0):.0%}; CPU ms/notice: " + " ".join(
                    f"{k} {v:.2f}" for k, v in (result.get("cpu_ms_per_notice") or {}).items()))
    if name == "recovery":
        return (head + f"outage {result.get('outage_s')} s, rate before "
                f"{result.get('rate_before_per_s')}/s, first delivery "
                f"{result.get('first_delivery_s')} s, 90 % rate {result.get('to_90_percent_s')} "
                f"s, lost {result.get('lost')}, sent twice {result.get('sent_twice')}, "
                f"complete {result.get('complete')}"
                + ("" if result.get("complete") else
                   f", still queued {result.get('still_queued')} (see runs.recovery.logs)"))
    if "cpu_ms_per_notice" not in result:
        return head + json.dumps(result, ensure_ascii=False)[:400]
    cpu = " ".join(f"{k} {v:.2f}" for k, v in result["cpu_ms_per_notice"].items())
    return (head + f"{result.get('per_s', 0):,.0f}/s, machine busy "
            f"{result.get('machine_busy', 0):.0%}; CPU ms/notice: {cpu}; total "
            f"{result.get('cpu_ms_per_notice_total', 0):.2f}")


def cpu_table(runs: dict[str, list[dict[str, Any]]]) -> str:
    """Per throughput scenario, medians over the rounds: rate, machine busy, CPU ms per
    notice of every process (broker and PostgreSQL included)."""
    lines = ["", f"{'scenario':<24} {'per s':>7} {'busy':>5}  CPU ms per notice (median)",
             "-" * 100]
    if not any(runs.get(name) for name in THROUGHPUT):
        return ""
    for name in THROUGHPUT:
        ok = [r for r in runs.get(name, []) if "error" not in r]
        if not ok:
            continue
        rate = median_spread(r.get("per_s") for r in ok)[0] or 0.0
        busy = median_spread(r.get("machine_busy") for r in ok)[0] or 0.0
        procs_ = list(dict.fromkeys(k for r in ok for k in r.get("cpu_ms_per_notice", {})))
        parts = [f"{k} {median_spread(r.get('cpu_ms_per_notice', {}).get(k) for r in ok)[0]:.2f}"
                 for k in procs_]
        total = median_spread(r.get("cpu_ms_per_notice_total") for r in ok)[0] or 0.0
        lines.append(f"{name:<24} {rate:>7,.0f} {busy:>5.0%}  {' '.join(parts)}; "
                     f"total {total:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, one round (< 2 minutes on a quiet machine)")
    parser.add_argument("--only", nargs="+", metavar="SCENARIO",
                        help="run only these scenarios (see the list above)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="rounds of every scenario, interleaved (3; --quick: 1)")
    parser.add_argument("--concurrency", type=int, default=128,
                        help="sends in flight per worker, hub and peers (128)")
    parser.add_argument("--prefetch", type=int, default=256, help="prefetch per worker (256)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)

    mode = "quick" if args.quick else "full"
    sizes = SIZES[mode]
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    table_of = scenarios(sizes, args)
    chosen = args.only or list(table_of)
    unknown = [s for s in chosen if s not in table_of]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(table_of)}")
    slow_repeat = min(args.repeat, sizes["slow_repeat"])

    started = time.monotonic()
    info: dict[str, Any] = {**procs.machine_info(), **rabbitmq.broker_info(),
            "background_cpu_busy_before": background_cpu()}
    info["broker_before"] = rabbitmq.identity()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    grouped = [[n for n in g if n in chosen] for g in GROUPS]
    grouped += [[n] for n in chosen if not any(n in g for g in GROUPS)]
    for rnd, name in interleaved([g for g in grouped if g], args.repeat):
        if name in SLOW and rnd >= slow_repeat:
            continue
        print(f"-- round {rnd + 1}/{args.repeat}: {name} (load {procs.loadavg()[0]:.2f}) ...",
              file=sys.stderr, flush=True)
        t0 = time.monotonic()
        load, before = procs.loadavg(), rabbitmq.identity()
        try:
            result = table_of[name]()
        except Exception as exc:  # one failed run must not hide the others
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        after = rabbitmq.identity()
        result.update({"round": rnd + 1, "loadavg_before": load, "loadavg_after": procs.loadavg(),
                       "broker_before": before, "broker_after": after,
                       "broker_restarted": before.get("pid") != after.get("pid"),
                       "wall_seconds_total": round(time.monotonic() - t0, 1)})
        runs[name].append(result)
        print(run_line(name, result), file=sys.stderr, flush=True)
    info["background_cpu_busy_after"] = background_cpu()
    info["loadavg_at_end"] = procs.loadavg()
    info["broker_after"] = rabbitmq.identity()

    head = headline(runs)
    ok = verdicts(head)
    document = {
        **head,
        "targets": {k: f"{op} {t}" for k, (t, op) in TARGETS.items()},
        "meets": ok,
        "mode": mode,
        "repeat": args.repeat,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "duration_s": round(time.monotonic() - started, 1),
        "machine": info,
        "settings": {"concurrency": args.concurrency, "prefetch": args.prefetch,
                     "sizes": sizes},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(table(head, ok))
    print(cpu_table(runs))
    restarted = any(r.get("broker_restarted") for rs in runs.values() for r in rs)
    print(f"\n{mode} run, {args.repeat} rounds, in {document['duration_s']} s on "
          f"{info.get('cpus')} CPUs ({info.get('cpu_model')}); load average "
          f"{info['loadavg_at_start'][0]:.2f} at the start, {info['loadavg_at_end'][0]:.2f} "
          f"at the end; machine busy with other work: "
          f"{info['background_cpu_busy_before']:.0%} before, "
          f"{info['background_cpu_busy_after']:.0%} after; broker pid "
          f"{info['broker_before'].get('pid')} -> {info['broker_after'].get('pid')}"
          f"{' (RESTARTED during the run)' if restarted else ''}; results in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
