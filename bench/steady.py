"""Latency at a steady rate: p50 / p95 / p99 from publish to provider call.

What runs where: ``minwon-hub router`` and two ``minwon-hub worker --channel sms``
processes (production defaults, latency provider at 50 ms; one worker process is held
to one core by the GIL, so SMS at 1,000/s takes two, as it would in production); the
benchmark process
publishes ``rate`` events a second with the hub's producer, in small batches every
10 ms, for ``seconds`` (after ``warmup`` seconds at the same rate, not counted). Each
event is a ``case.received`` for a citizen who asked for SMS only: one notice per
event, so 1,000 events/s are 1,000 notices/s. The publish time of each event is kept
by the benchmark (wall clock, taken just before its batch is handed to the producer);
the provider records the time of each call; latency = call − publish.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import broker, procs, records, workload
from hub.producer import PikaProducer


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def run(*, rate: float = 1000.0, seconds: float = 20.0, warmup: float = 3.0,
        latency_ms: float = 50.0, concurrency: int = 128, prefetch: int = 256,
        channels: tuple[str, ...] = ("sms",), workers: int = 2,
        ledger: str | None = None) -> dict[str, Any]:
    with broker.fresh_vhost("steady") as url, \
            tempfile.TemporaryDirectory(prefix="minwon-bench-") as tmp:
        workdir = Path(tmp)
        record = workdir / "record"
        config = workdir / "minwon.toml"
        config.write_text(workload.hub_config_toml(
            url=url, record=record, latency_ms=latency_ms,
            ledger=ledger or f"sqlite:///{workdir / 'minwon-ledger.db'}",
            concurrency=concurrency, prefetch=prefetch, channels=channels), "utf-8")
        broker.declare_topology(url, channels)
        hub = procs.HubProcesses(config, workdir, channels * workers, router=True)
        run_id = workload.new_run_id("lat")
        published: dict[str, float] = {}
        counted_from = 0
        try:
            hub.start()
            broker.wait_for_consumers(url, {"hub.router": 1,
                                            **{f"hub.notify.{c}": workers for c in channels}})
            producer = PikaProducer(url)
            total = int(rate * (seconds + warmup))
            counted_from = int(rate * warmup)
            seq = 0
            started = time.perf_counter()
            load0 = procs.loadavg()
            while seq < total:
                due = min(total, int((time.perf_counter() - started) * rate) + 1)
                if due > seq:
                    batch = []
                    now = time.time()
                    for i in range(seq, due):
                        event = workload.event(run_id, i, channels=channels)
                        published[event["id"]] = now
                        batch.append(event)
                    result = producer.publish_batch(batch)
                    if not result.ok:
                        raise RuntimeError(f"publish failed: {result.failed[:3]}")
                    seq = due
                hub.check_alive()
                time.sleep(0.01)
            achieved = total / (time.perf_counter() - started)
            producer.close()
            counter = records.RecordCounter(record)
            got = counter.wait_for(total * len(channels), 120, check=hub.check_alive)
        finally:
            hub.stop()
        found = records.load(record)
    first_counted = f"{run_id}-{counted_from:08d}"
    latencies = sorted(
        (r.called_at - published[r.event_id]) * 1000 for r in found
        if r.event_id in published and r.event_id >= first_counted and r.attempt == 1
    )
    return {
        "rate_target": rate,
        "processes": f"router + {workers} x worker per channel ({', '.join(channels)})",
        "rate_achieved": round(achieved, 1),
        "seconds": seconds,
        "notices": len(latencies),
        "complete": got >= total * len(channels),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "loadavg_before": load0,
    }


if __name__ == "__main__":
    import json
    import sys

    r = float(sys.argv[1]) if len(sys.argv) > 1 else 1000.0
    s = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    w = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    print(json.dumps(run(rate=r, seconds=s, workers=w), indent=2))
