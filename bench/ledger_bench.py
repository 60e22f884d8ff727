"""Ledger throughput: claims + records per second from many send threads.

Each of ``--threads`` threads (a worker's sends in flight) takes unique notices and
does what the worker does for each: ``claim`` (NEW), then ``record(..., "sent")``. One
notice is therefore two durable ledger writes. The figure is writes per second, with
the mean batch (writes per transaction) and the latency of one call.

    python bench/ledger_bench.py                       # SQLite (temp file) and PostgreSQL
    python bench/ledger_bench.py --url sqlite:///x.db --threads 128 --notices 20000
    python bench/ledger_bench.py --no-group-commit     # one transaction per call, to compare

PostgreSQL runs in a temporary schema of ``--pg-url`` (default the local ``test``
database), dropped afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text

from hub.jobs import Job, Recipient
from hub.ledger import ClaimState, open_ledger
from hub.metrics import LEDGER_BATCH_SIZE, LEDGER_FLUSH

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def make_job(run: str, i: int) -> Job:
    return Job(
        notification_id=f"{run}-{i}", event_id=f"ev-{i // 3}", event_type="case.answered",
        case_id=f"2026-{i // 3:07d}", org="gumi", channel="sms", template="case.answered",
        critical=False,
        recipient=Recipient("citizen", "citizen", "홍길동", f"010-{i % 10000:04d}-5678"),
        event={"id": f"ev-{i // 3}"}, data={},
    )


def _batches() -> tuple[float, float, float]:
    """(transactions, writes, seconds spent in transactions) so far."""
    count = total = busy = 0.0
    for metric in LEDGER_BATCH_SIZE.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    for metric in LEDGER_FLUSH.collect():
        for sample in metric.samples:
            if sample.name.endswith("_sum") and sample.labels.get("operation") == "batch":
                busy = sample.value
    return count, total, busy


def bench(url: str, *, threads: int, notices: int, group_commit: bool,
          **options: Any) -> dict[str, Any]:
    if not group_commit:
        options.update(batch_size=1, flush_interval=0.0)
    ledger = open_ledger(url, hash_key=b"bench", **options)
    run = uuid.uuid4().hex[:8]
    jobs = [make_job(run, i) for i in range(notices)]
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)

    def worker(chunk: list[Job]) -> None:
        mine: list[float] = []
        barrier.wait()
        for job in chunk:
            t0 = time.perf_counter()
            claim = ledger.claim(job, 1)
            t1 = time.perf_counter()
            assert claim.state is ClaimState.NEW
            ledger.record(job, "sent", attempt=1, provider="bench", message_id=job.notification_id)
            t2 = time.perf_counter()
            mine += [t1 - t0, t2 - t1]
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(jobs[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    count0, total0, busy0 = _batches()
    barrier.wait()
    started = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    count1, total1, busy1 = _batches()
    ledger.close()
    latencies.sort()
    writes = 2 * notices
    return {
        "url": url.split("@")[-1],
        "group_commit": group_commit,
        "threads": threads,
        "notices": notices,
        "seconds": round(elapsed, 2),
        "writes_per_s": round(writes / elapsed),
        "notices_per_s": round(notices / elapsed),
        "mean_batch": round((total1 - total0) / max(1.0, count1 - count0), 1),
        # share of the wall time the writer thread spent in transactions
        "writer_busy": f"{(busy1 - busy0) / elapsed:.0%}",
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", action="append",
                        help="ledger URL (repeatable; default: a temp SQLite file and "
                             "PostgreSQL)")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--notices", type=int, default=5000)
    parser.add_argument("--no-group-commit", action="store_true",
                        help="one transaction per call (batch size 1), for comparison")
    args = parser.parse_args(argv)

    schema = f"ledger_bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        urls = args.url or [f"sqlite:///{tmp}/ledger.db", args.pg_url]
        try:
            for url in urls:
                options: dict[str, Any] = {}
                if url.startswith("postgresql"):
                    options["schema"] = schema
                result = bench(url, threads=args.threads, notices=args.notices,
                               group_commit=not args.no_group_commit, **options)
                print("  ".join(f"{k}={v}" for k, v in result.items()), flush=True)
        finally:
            if any(u.startswith("postgresql") for u in urls):
                engine = create_engine(args.pg_url)
                with engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
