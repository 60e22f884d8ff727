"""What-if runs: where the hub's CPU goes, measured by taking one cost away at a time.

``python -m bench.experiments [--events N] [--latency-ms 0]`` runs the end-to-end
scenario (:mod:`bench.hub_e2e`: router + three worker processes) once per variant and
prints throughput and CPU milliseconds per notice for the router, the workers and
RabbitMQ. CPU per notice is the steadier figure on a shared machine: on 2 cores the
throughput ceiling is about 2,000 / (total CPU ms per notice).

Variants (patches in :mod:`bench.whatif.sitecustomize`, never used in production):

=================  =============================================================
baseline           the hub as shipped
noblockeddrain     py-amqp without its ``drain_events(timeout=0)`` before every publish
nostatus           workers publish no status events
ledger-memory      in-process ledger (no SQLite, no group-commit thread)
ledger-null        no ledger at all (no dedupe: only to measure its cost)
ledger-postgres    the production ledger: PostgreSQL on 127.0.0.1 (a database
                   ``minwon_bench``, made if missing; a fresh schema per run)
classic            classic durable queues instead of quorum queues
switch             GIL switch interval 0.5 ms instead of 5 ms
all                noblockeddrain + nostatus + ledger-null + classic
=================  =============================================================
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench import hub_e2e

VARIANTS: dict[str, dict[str, str]] = {
    "baseline": {},
    "noblockeddrain": {"whatif": "noblockeddrain"},
    "nostatus": {"whatif": "nostatus"},
    "ledger-memory": {"ledger": "memory://"},
    "ledger-null": {"ledger": "null://"},
    "ledger-postgres": {"ledger": "postgres"},
    "classic": {"whatif": "classic"},
    "switch": {"whatif": "switch"},
    "all": {"whatif": "noblockeddrain,nostatus,classic", "ledger": "null://"},
}


POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/minwon_bench"


def postgres_ledger() -> str:
    """A fresh database for the PostgreSQL ledger variant (dropped and made again)."""
    import subprocess

    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc",
                    "DROP DATABASE IF EXISTS minwon_bench"], check=True, capture_output=True)
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc",
                    "CREATE DATABASE minwon_bench"], check=True, capture_output=True)
    return POSTGRES


def cpu_per_notice(result: dict[str, Any]) -> dict[str, float]:
    n = max(1, int(result["notices_delivered"]))
    cpu = result["cpu_seconds"]
    workers = sum(v for k, v in cpu.items() if k.startswith("worker-"))
    out = {
        "router": 1000 * cpu.get("router", 0.0) / n,
        "workers": 1000 * workers / n,
        "rabbitmq": 1000 * cpu.get("rabbitmq", 0.0) / n,
    }
    out["total"] = sum(out.values())
    return {k: round(v, 3) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.experiments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--code", type=Path, action="append", default=[],
                        help="also run the baseline from this checkout (git archive of "
                             "another commit, unpacked); repeatable")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per variant (interleaved); the best run is shown")
    args = parser.parse_args(argv)
    best: dict[str, dict[str, Any]] = {}
    variants: dict[str, dict[str, Any]] = {v: dict(VARIANTS[v]) for v in args.variants}
    for code in args.code:
        variants[f"code:{code.name}"] = {"code": code}
    for name in [v for _ in range(args.repeat) for v in variants]:
        print(f"-- {name} ...", file=sys.stderr, flush=True)
        if variants[name].get("ledger") == "postgres":
            variants[name] = {**variants[name], "ledger": postgres_ledger()}
        result = hub_e2e.run(latency_ms=args.latency_ms, events=args.events, concurrency=128,
                             prefetch=256, **variants[name])
        row = {"variant": name, "per_s": result["per_s"],
               "complete": result["complete"], "sent_twice": result["sent_twice"],
               "cpu_ms_per_notice": cpu_per_notice(result),
               "machine_cpu_busy": result["machine_cpu_busy"]}
        print(f"   {json.dumps(row)}", file=sys.stderr, flush=True)
        if name not in best or row["cpu_ms_per_notice"]["total"] < \
                best[name]["cpu_ms_per_notice"]["total"]:
            best[name] = row
    rows = [best[name] for name in variants]
    print(f"{'variant':<16} {'notices/s':>10} {'router':>8} {'workers':>8} {'rabbitmq':>9} "
          f"{'total':>7}   (CPU ms per notice)")
    for row in rows:
        c = row["cpu_ms_per_notice"]
        print(f"{row['variant']:<16} {row['per_s']:>10,.0f} {c['router']:>8.3f} "
              f"{c['workers']:>8.3f} {c['rabbitmq']:>9.3f} {c['total']:>7.3f}")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
