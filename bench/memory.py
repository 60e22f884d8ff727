"""Worker memory with a backlog: 100,000 jobs waiting in ``hub.notify.sms``.

What runs where: the benchmark process fills ``hub.notify.sms`` with ``backlog``
distinct SMS jobs (the router's output for one event, varied per job: ids, names,
phone numbers); then one ``minwon-hub worker --channel sms`` process (production
defaults: prefetch 256, 128 sends in flight, SQLite ledger, metrics; provider at
50 ms) consumes for ``seconds``. Its resident memory (``VmRSS`` from
``/proc/<pid>/status``) is sampled every half second; the peak (``VmHWM``) is
reported, with how many jobs were still waiting at the end.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import procs, rabbitmq, records, workload
from bench.stages import publish_jobs


def varied_jobs(count: int, run_id: str) -> list[bytes]:
    """``count`` distinct SMS jobs built from the router's job for one event."""
    template = json.loads(workload.jobs_for([workload.event(run_id, 0, channels=("sms",))],
                                            "sms")[0])
    bodies = []
    for i in range(count):
        job = dict(template)
        job["notification_id"] = str(uuid.uuid4())
        job["event_id"] = f"{run_id}-{i:08d}"
        job["case_id"] = f"2026-{i:07d}"
        recipient = dict(job["recipient"])
        recipient["address"] = f"010-{1000 + i % 9000:04d}-{i % 10000:04d}"
        recipient["name"] = workload.SURNAMES[i % 10] + workload.GIVEN[i % 8]
        job["recipient"] = recipient
        bodies.append(json.dumps(job, ensure_ascii=False, separators=(",", ":")).encode())
    return bodies


def run(*, backlog: int = 100_000, seconds: float = 20.0, latency_ms: float = 50.0,
        concurrency: int = 128, prefetch: int = 256) -> dict[str, Any]:
    with rabbitmq.fresh_vhost("memory") as url, \
            tempfile.TemporaryDirectory(prefix="minwon-bench-") as tmp:
        workdir = Path(tmp)
        record = workdir / "record"
        config = workdir / "minwon.toml"
        config.write_text(workload.hub_config_toml(
            url=url, record=record, latency_ms=latency_ms,
            ledger=f"sqlite:///{workdir / 'minwon-ledger.db'}",
            concurrency=concurrency, prefetch=prefetch, channels=("sms",)), "utf-8")
        rabbitmq.declare_topology(url, ("sms",))
        publish_jobs(url, "sms", varied_jobs(backlog, workload.new_run_id("m")))
        hub = procs.HubProcesses(config, workdir, ("sms",), router=False)
        samples: list[float] = []
        try:
            hub.start()
            rabbitmq.wait_for_consumers(url, {"hub.notify.sms": 1})
            worker = hub.by_name("worker-sms")
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                hub.check_alive()
                samples.append(procs.rss_mb(worker.pid)[0])
                time.sleep(0.5)
            current, peak = procs.rss_mb(worker.pid)
            waiting, _ = rabbitmq.queue_depth(url, "hub.notify.sms")
        finally:
            hub.stop()
        sent = records.RecordCounter(record).poll()
    return {
        "backlog": backlog,
        "seconds": seconds,
        "sent_meanwhile": sent,
        "still_waiting": waiting,
        "rss_mb_end": round(current, 1),
        "rss_mb_peak": round(peak, 1),
        "rss_mb_samples_max": round(max(samples), 1) if samples else None,
        "prefetch": prefetch,
        "concurrency": concurrency,
    }


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    s = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    print(json.dumps(run(backlog=n, seconds=s), indent=2))
