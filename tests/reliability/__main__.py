"""``python -m tests.reliability [--events 20000] [--faults kill poison ...]``: the
fault suite standalone, with a table per fault and the figures in JSON.

The broker restart fault (``stop_app``/``start_app``) stops RabbitMQ for every vhost:
it runs here unless ``--no-broker-restart`` (it sets ``MINWON_FAULT_BROKER_RESTART=1``
for the run); do not run it while others use the same broker.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tests.reliability.faults import FAULTS, FaultReport, Settings, run, summarize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000, help="good events per fault")
    parser.add_argument("--rate", type=float, default=500.0, help="events a second")
    parser.add_argument("--kills", type=int, default=6, help="workers killed (kill fault)")
    parser.add_argument("--outage", type=float, default=30.0,
                        help="seconds the provider fails (provider fault)")
    parser.add_argument("--faults", nargs="+", choices=FAULTS, default=list(FAULTS))
    parser.add_argument("--no-broker-restart", action="store_true",
                        help="skip the broker fault (it stops RabbitMQ for every vhost)")
    parser.add_argument("--ledger", choices=("sqlite", "postgres"), default="sqlite",
                        help="the workers' shared ledger (postgres: a database of its own)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes per channel")
    parser.add_argument("--sweep-after", type=float, default=3.0,
                        help="seconds before the sweeper takes a claim for stale")
    parser.add_argument("--json", type=Path, help="also write the reports here")
    args = parser.parse_args(argv)

    faults = [f for f in args.faults if not (f == "broker" and args.no_broker_restart)]
    if "broker" in faults:
        os.environ["MINWON_FAULT_BROKER_RESTART"] = "1"
    settings = Settings(events=args.events, rate=args.rate, kills=args.kills,
                        outage=args.outage, ledger=args.ledger, workers=max(1, args.workers),
                        sweep_after=args.sweep_after)
    reports: list[FaultReport] = []
    started = time.monotonic()
    for fault in faults:
        print(f"-- {fault} ...", file=sys.stderr, flush=True)
        report = run(fault, settings)
        reports.append(report)
        print(f"   {report.line()}  ({report.seconds:.0f} s)", file=sys.stderr, flush=True)
    return summarize(reports, time.monotonic() - started, json_path=args.json)

if __name__ == "__main__":
    raise SystemExit(main())
