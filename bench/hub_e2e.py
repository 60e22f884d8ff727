"""The hub end to end: events → router → channel workers → latency provider.

What runs where (each a separate OS process, as in production):

* the benchmark process publishes the events *before* the hub starts (a backlog in
  ``hub.router``; the producer is measured on its own in :mod:`bench.publishing`), then
  only watches the provider's record files;
* ``minwon-hub worker --channel sms|email|push``: one process per channel (three),
  started first; each keeps up to ``worker.concurrency`` sends in flight;
* ``minwon-hub router``: started once the workers consume; the clock starts at the
  first provider call and stops at the last acceptance.

Every process reads the same ``minwon.toml``: production defaults (SQLite ledger file
shared by all processes, metrics served, quorum queues, publisher confirms, status
events) except the provider (``latency``) and quiet hours (off: a benchmark runs at
any hour).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procs, rabbitmq, records, workload
from hub.producer import open_producer


def preload(url: str, run: str, count: int, *, channels: tuple[str, ...]) -> None:
    """Publish ``count`` events to ``minwon.events`` (confirmed) before anyone consumes."""
    with open_producer(url) as producer:
        sent = 0
        while sent < count:
            chunk = min(5000, count - sent)
            result = producer.publish_batch(
                workload.events(run, chunk, start=sent, channels=channels))
            if not result.ok:
                raise RuntimeError(f"preload failed: {result.failed[:3]}")
            sent += chunk


def run(*, latency_ms: float, events: int, concurrency: int, prefetch: int,
        channels: tuple[str, ...] = workload.CHANNELS, timeout: float = 600.0,
        profile: Path | None = None, ledger: str | None = None,
        whatif: str = "", code: Path | None = None) -> dict[str, Any]:
    """One end-to-end run in a fresh vhost; returns its figures. ``ledger`` replaces
    the SQLite file; ``whatif`` names patches of :mod:`bench.whatif.sitecustomize`
    (experiments only); ``code`` runs the hub processes from another checkout (e.g.
    ``git archive <commit>`` unpacked), to compare commits."""
    expected = events * len(channels)
    with rabbitmq.fresh_vhost(f"hub{int(latency_ms)}ms") as url, \
            tempfile.TemporaryDirectory(prefix="minwon-bench-") as tmp:
        workdir = Path(tmp)
        record = workdir / "record"
        config = workdir / "minwon.toml"
        config.write_text(workload.hub_config_toml(
            url=url, record=record, latency_ms=latency_ms,
            ledger=ledger or f"sqlite:///{workdir / 'minwon-ledger.db'}",
            concurrency=concurrency, prefetch=prefetch, channels=channels), "utf-8")
        rabbitmq.declare_topology(url, channels, quorum="classic" not in whatif)
        run_id = workload.new_run_id("e2e")
        preload(url, run_id, events, channels=channels)

        root = Path(__file__).resolve().parent
        source = str(code or root.parent)
        env: dict[str, str] = {"PYTHONPATH": source}
        if whatif:
            env = {"BENCH_WHATIF": whatif, "PYTHONPATH": f"{root / 'whatif'}:{source}"}
        hub = procs.HubProcesses(config, workdir, channels, router=False, env=env)
        counter = records.RecordCounter(record)
        beam = rabbitmq.beam_pids()
        try:
            hub.start()
            rabbitmq.wait_for_consumers(url, {f"hub.notify.{c}": 1 for c in channels})
            beam_cpu = sum(procs.cpu_seconds(p) for p in beam)
            busy0, total0 = procs.total_cpu_busy()
            hub.mark_cpu()
            router = hub.spawn("router")
            # the router's own start-up (imports, ~1 s of CPU) is not part of the work
            rabbitmq.wait_for_consumers(url, {"hub.router": 1}, interval=0.02)
            router.cpu_mark = procs.cpu_seconds(router.pid)
            spies = []
            if profile is not None:
                rabbitmq.wait_for_consumers(url, {"hub.router": 1})
                spies = hub.profile(profile, seconds=max(2.0, events * len(channels) / 2000))
            got = counter.wait_for(expected, timeout, check=hub.check_alive)
            cpu = hub.cpu_since_mark()
            busy1, total1 = procs.total_cpu_busy()
            beam_cpu = sum(procs.cpu_seconds(p) for p in beam) - beam_cpu
            rss = {p.name: round(procs.rss_mb(p.pid)[1], 1) for p in hub.procs}
            time.sleep(0.5)  # let the last acks go out before stopping
            for spy in spies:
                spy.wait(60)
        finally:
            hub.stop()
        found = records.load(record)
        rate = records.throughput(found)
        span = len(found) / rate if rate else 0.0
        return {
            "latency_ms": latency_ms,
            "events": events,
            "notices_expected": expected,
            "notices_delivered": len({r.notification_id for r in found}),
            "sent_twice": records.duplicates(found),
            "complete": got >= expected,
            "per_s": round(rate, 1),
            "seconds": round(span, 2),
            "concurrency": concurrency,
            "prefetch": prefetch,
            "cpu_seconds": {**cpu, "rabbitmq": round(beam_cpu, 2)},
            "machine_cpu_busy": round((busy1 - busy0) / max(total1 - total0, 1), 3),
            # CPU seconds the machine spent on anything but this run (other people's work)
            "other_cpu_seconds": round(max(0.0, (busy1 - busy0) / procs.CLK_TCK
                                           - sum(cpu.values()) - beam_cpu), 2),
            "peak_rss_mb": rss,
        }


if __name__ == "__main__":  # python -m bench.hub_e2e LATENCY_MS EVENTS
    import json
    import sys

    ms = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    prof = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    print(json.dumps(run(latency_ms=ms, events=n, concurrency=128, prefetch=256, profile=prof),
                     indent=2))
