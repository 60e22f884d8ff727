"""Draining a backlog: 100,000 notices waiting (a third each in ``hub.notify.sms``,
``.email``, ``.push``: the router's jobs, varied per notice) when the three
``minwon-hub worker`` processes start (PostgreSQL ledger, provider at 50 ms, status
events to a bound queue). Reported: seconds from the first provider call to the last
acceptance, notices/s, and every worker's resident memory sampled every half second
(``VmRSS``) and at its peak (``VmHWM``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import peers, pg, pikapub, procs, rabbitmq, records, workload
from hub.jobs import ATTEMPT
from hub.topology import NOTIFY_EXCHANGE


def jobs(channel: str, count: int, run_id: str) -> Iterator[pikapub.Message]:
    """``count`` distinct jobs for ``channel``, built from the router's job for one
    event (ids, names and addresses varied)."""
    template = json.loads(workload.jobs_for([workload.event(run_id, 0)], channel)[0])
    for i in range(count):
        job = dict(template)
        job["notification_id"] = str(uuid.uuid4())
        job["event_id"] = f"{run_id}-{i:08d}"
        job["case_id"] = f"2026-{i:07d}"
        recipient = dict(job["recipient"])
        recipient["name"] = workload.SURNAMES[i % 10] + workload.GIVEN[i % 8]
        job["recipient"] = recipient
        body = json.dumps(job, ensure_ascii=False, separators=(",", ":")).encode()
        yield NOTIFY_EXCHANGE, channel, body, job["notification_id"], {ATTEMPT: 1}


def run(*, backlog: int = 100_000, latency_ms: float = 50.0, concurrency: int = 128,
        prefetch: int = 256, timeout: float = 900.0) -> dict[str, Any]:
    channels = workload.CHANNELS
    per_channel = -(-backlog // len(channels))
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(1) as side:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="minwon-bench-")))
        record, config = workdir / "record", workdir / "minwon.toml"
        made = side.submit(pg.create)
        url = stack.enter_context(rabbitmq.fresh_vhost("drain"))
        db = made.result()
        stack.callback(pg.drop, db)
        config.write_text(workload.hub_config_toml(
            url=url, record=record, latency_ms=latency_ms, ledger=pg.url(db),
            concurrency=concurrency, prefetch=prefetch, channels=channels), "utf-8")
        rabbitmq.declare_topology(url, channels)
        rabbitmq.bind_status_queue(url)
        run_id = workload.new_run_id("d")
        for channel in channels:
            pikapub.load(url, jobs(channel, per_channel, run_id))
        expected = per_channel * len(channels)
        p = peers.plan("hub", url=url, config=config, record=record, workdir=workdir,
                       channels=channels, concurrency=concurrency, prefetch=prefetch,
                       latency_ms=latency_ms)
        launcher = peers.Launcher(workdir)
        stack.callback(launcher.stop)
        samples: dict[str, list[float]] = {}
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.5):
                for r in launcher.running:
                    samples.setdefault(r.name, []).append(procs.rss_mb(r.popen.pid)[0])

        groups: dict[str, Callable[[], list[int]]] = {
            x.name: functools.partial(launcher.pids, x.name) for x in p.first}
        groups["rabbitmq"] = rabbitmq.beam_pids
        groups["postgresql"] = functools.partial(procs.postgres_pids, db)
        meter = procs.CpuMeter(groups)
        meter.mark()
        for launch in p.first:
            launcher.spawn(launch)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        got = records.RecordCounter(record).wait_for(expected, timeout, idle_timeout=60.0,
                                                     check=launcher.check)
        if got < expected:
            raise RuntimeError(f"drain: {got} of {expected} notices delivered; logs:\n"
                               f"{launcher.tails()}")
        usage = meter.read()
        peak = {r.name: round(procs.rss_mb(r.popen.pid)[1], 1) for r in launcher.running}
        done.set()
        sampler.join()
        launcher.stop()
        found = records.load(record)
    rate = records.throughput(found)
    return {
        "backlog": expected,
        "complete": got >= expected,
        "delivered": len({r.notification_id for r in found}),
        "sent_twice": records.duplicates(found),
        "seconds": round(len(found) / rate, 2) if rate else None,
        "per_s": round(rate, 1),
        "rss_mb_peak": max(peak.values()) if peak else None,
        "rss_mb_peak_by_worker": peak,
        "rss_mb_samples_max": {k: round(max(v), 1) for k, v in samples.items() if v},
        "rss_mb_at_end": {k: round(v[-1], 1) for k, v in samples.items() if v},
        "latency_ms": latency_ms,
        **usage,  # the workers' start-up included (they start on the backlog)
        "cpu_ms_per_notice": {k: round(1000 * v / max(len(found), 1), 3)
                              for k, v in usage["cpu_seconds"].items()},
    }


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps(run(backlog=n), indent=2))
