"""``python -m tests.cluster [--events 20000] [--faults partition ...]``: the cluster fault
suite standalone (three RabbitMQ nodes, PostgreSQL, two workers per channel), a table
per fault and the figures in JSON. Needs root for the network namespaces of the nodes
(without, every fault but ``partition`` runs on loopback ports)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from tests.cluster.faults import FAULTS, FaultReport, Settings, Suite
from tests.reliability.faults import summarize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster", description=__doc__)
    parser.add_argument("--events", type=int, default=20000, help="good events per fault")
    parser.add_argument("--rate", type=float, default=300.0, help="events a second")
    parser.add_argument("--down", type=float, default=10.0,
                        help="seconds a stopped or killed node stays down")
    parser.add_argument("--partition", type=float, default=30.0,
                        help="seconds a node's link stays cut")
    parser.add_argument("--faults", nargs="+", choices=FAULTS, default=list(FAULTS))
    parser.add_argument("--json", type=Path, help="also write the reports here")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the nodes, PostgreSQL and hub processes are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    settings = Settings(events=args.events, rate=args.rate, down=args.down,
                        partition=args.partition)
    reports: list[FaultReport] = []
    started = time.monotonic()
    with Suite(settings) as suite:
        print(f"-- cluster up ({suite.cluster.layout}): {', '.join(suite.cluster.running_nodes())}"
              f" in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        faults = [f for f in args.faults
                  if f != "partition" or suite.cluster.layout == "netns"]
        for fault in faults:
            print(f"-- {fault} ...", file=sys.stderr, flush=True)
            report = suite.run(fault)
            reports.append(report)
            print(f"   {report.line()}  ({report.seconds:.0f} s)", file=sys.stderr, flush=True)
    return summarize(reports, time.monotonic() - started, recovery=True, json_path=args.json)

if __name__ == "__main__":
    raise SystemExit(main())
