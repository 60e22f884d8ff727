"""The Celery baseline run (see :mod:`bench.celery_app` for the task).

What runs where: the benchmark process publishes one Celery task per notice (the
same jobs the hub's router makes for the same events: three per event, one per
channel) to three queues ``bench.sms|email|push`` in a vhost of its own, *before* any
worker starts; then three ``celery worker -P threads -c <concurrency>`` processes
(one per queue, as the hub has one worker process per channel) drain them. The
clock runs from the first provider call to the last acceptance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import broker, procs, records, workload


def _preload(url: str, run_id: str, events: int, channels: tuple[str, ...]) -> int:
    """Publish the tasks with Celery's own client; returns how many."""
    os.environ["BENCH_CELERY_BROKER"] = url
    from bench.celery_app import app, notify

    evs = list(workload.events(run_id, events, channels=channels))
    total = 0
    # A connection of its own to this run's vhost (the app's pool may hold one to the
    # vhost of an earlier run).
    with app.connection_for_write(url) as conn, conn.Producer() as producer:
        for channel in channels:
            for body in workload.jobs_for(evs, channel):
                notify.apply_async(args=[body.decode()], queue=f"bench.{channel}",
                                   producer=producer)
                total += 1
    # Wait until the broker holds them all.
    deadline = time.monotonic() + 120
    while sum(broker.queue_depth(url, f"bench.{c}")[0] for c in channels) < total:
        if time.monotonic() > deadline:
            raise TimeoutError("celery tasks did not all arrive")
        time.sleep(0.2)
    return total


def run(*, latency_ms: float, events: int, concurrency: int,
        channels: tuple[str, ...] = workload.CHANNELS, timeout: float = 600.0,
        profile: Path | None = None, acks_late: bool = False) -> dict[str, Any]:
    with broker.fresh_vhost("celery") as url, \
            tempfile.TemporaryDirectory(prefix="minwon-bench-") as tmp:
        workdir = Path(tmp)
        record = workdir / "record"
        expected = _preload(url, workload.new_run_id("cel"), events, channels)
        env = dict(os.environ)
        env.update({"BENCH_CELERY_BROKER": url, "BENCH_LATENCY_MS": str(latency_ms),
                    "BENCH_RECORD": str(record),
                    "BENCH_CELERY_ACKS_LATE": "1" if acks_late else "",
                    "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        celery_exe = Path(sys.executable).with_name("celery")
        workers: list[procs.Proc] = []
        counter = records.RecordCounter(record)
        beam = broker.beam_pids()
        beam_cpu = sum(procs.cpu_seconds(p) for p in beam)
        try:
            for channel in channels:
                log = workdir / f"celery-{channel}.log"
                with log.open("ab") as out:
                    popen = subprocess.Popen(
                        [str(celery_exe), "-A", "bench.celery_app", "worker", "-P", "threads",
                         "-c", str(concurrency), "-Q", f"bench.{channel}", "-n",
                         f"bench-{channel}@%h", "--without-gossip", "--without-mingle",
                         "--without-heartbeat", "-l", "WARNING"],
                        cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                        start_new_session=True)
                workers.append(procs.Proc(f"celery-{channel}", popen, log))

            def check() -> None:
                for w in workers:
                    if not w.alive():
                        raise RuntimeError(f"{w.name} exited: "
                                           f"{w.log.read_text('utf-8', 'replace')[-2000:]}")

            # CPU from the moment each worker consumes (its start-up is not the work)
            broker.wait_for_consumers(url, {f"bench.{c}": 1 for c in channels},
                                      interval=0.02)
            for w in workers:
                w.cpu_mark = procs.cpu_seconds(w.pid)
            spies: list[subprocess.Popen[bytes]] = []
            if profile is not None:
                hub = procs.HubProcesses(Path("."), workdir, (), procs=workers)
                spies = hub.profile(profile, seconds=max(2.0, expected / 1500))
            got = counter.wait_for(expected, timeout, check=check)
            cpu = {w.name: round(procs.cpu_seconds(w.pid) - w.cpu_mark, 2) for w in workers}
            rss = {w.name: round(procs.rss_mb(w.pid)[1], 1) for w in workers}
            beam_cpu = sum(procs.cpu_seconds(p) for p in beam) - beam_cpu
            for spy in spies:
                spy.wait(60)
        finally:
            for w in workers:
                if w.alive():
                    w.popen.terminate()
            deadline = time.monotonic() + 3
            for w in workers:  # the figures are in; a slow warm shutdown is not waited for
                try:
                    w.popen.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    w.popen.kill()
                    w.popen.wait(10)
        found = records.load(record)
    rate = records.throughput(found)
    return {
        "latency_ms": latency_ms,
        "events": events,
        "notices_expected": expected,
        "notices_delivered": len({r.notification_id for r in found}),
        "sent_twice": records.duplicates(found),
        "complete": got >= expected,
        "per_s": round(rate, 1),
        "seconds": round(len(found) / rate, 2) if rate else 0.0,
        "concurrency": concurrency,
        "acks_late": acks_late,
        "cpu_seconds": {**cpu, "rabbitmq": round(beam_cpu, 2)},
        "peak_rss_mb": rss,
    }


if __name__ == "__main__":  # python -m bench.celery_baseline LATENCY_MS EVENTS
    ms = float(sys.argv[1]) if len(sys.argv) > 1 else 50.0
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    prof = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    print(json.dumps(run(latency_ms=ms, events=n, concurrency=128, profile=prof), indent=2))
