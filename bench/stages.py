"""Each hub stage alone, to see where the time goes: the router draining a backlog of
events with nobody downstream, and one channel worker draining a backlog of jobs.

* router alone: ``count`` events preloaded in ``hub.router``; one ``minwon-hub router``
  process; the clock runs until ``hub.router`` is empty and every job is confirmed
  in ``hub.notify.*``;
* worker alone: ``count`` jobs (the router's own output, computed in-process)
  preloaded in ``hub.notify.sms``; one ``minwon-hub worker --channel sms``.

Both report the process's CPU seconds per message, which is what bounds the
throughput on a 2-core machine.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import pikapub, procs, rabbitmq, records, workload
from bench.hub_e2e import preload
from hub.jobs import ATTEMPT


def publish_jobs(url: str, channel: str, bodies: list[bytes]) -> None:
    """Put job bodies on ``hub.notify.<channel>`` as the router does (attempt 1),
    confirmed (:func:`bench.pikapub.load`)."""
    pikapub.load(url, (("hub.notify", channel, body, None, {ATTEMPT: 1}) for body in bodies))


def router_alone(*, events: int, channels: tuple[str, ...] = workload.CHANNELS,
                 profile: Path | None = None) -> dict[str, Any]:
    with rabbitmq.fresh_vhost("router") as url, \
            tempfile.TemporaryDirectory(prefix="minwon-bench-") as tmp:
        workdir = Path(tmp)
        config = workdir / "minwon.toml"
        config.write_text(workload.hub_config_toml(
            url=url, record=workdir / "record", latency_ms=0,
            ledger=f"sqlite:///{workdir / 'minwon-ledger.db'}", concurrency=128,
            prefetch=256, channels=channels), "utf-8")
        rabbitmq.declare_topology(url, channels)
        preload(url, workload.new_run_id("r"), events, channels=channels)
        hub = procs.HubProcesses(config, workdir, channels=(), router=True)
        expected = events * len(channels)
        try:
            hub.start()
            rabbitmq.wait_for_consumers(url, {"hub.router": 1})
            hub.mark_cpu()
            started = time.perf_counter()
            spies = hub.profile(profile, seconds=max(2.0, events / 1500)) if profile else []
            while True:
                left, _ = rabbitmq.queue_depth(url, "hub.router")
                done = sum(rabbitmq.queue_depth(url, f"hub.notify.{c}")[0] for c in channels)
                if left == 0 and done >= expected:
                    break
                hub.check_alive()
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
            cpu = hub.cpu_since_mark()["router"]
            for spy in spies:
                spy.wait(60)
        finally:
            hub.stop()
    return {"events": events, "jobs": expected, "seconds": round(elapsed, 2),
            "events_per_s": round(events / elapsed, 1),
            "cpu_ms_per_event": round(1000 * cpu / events, 3)}


def worker_alone(*, jobs: int, latency_ms: float = 0.0, channel: str = "sms",
                 concurrency: int = 128, prefetch: int = 256,
                 profile: Path | None = None, ledger: str | None = None) -> dict[str, Any]:
    with rabbitmq.fresh_vhost("worker") as url, \
            tempfile.TemporaryDirectory(prefix="minwon-bench-") as tmp:
        workdir = Path(tmp)
        record = workdir / "record"
        config = workdir / "minwon.toml"
        config.write_text(workload.hub_config_toml(
            url=url, record=record, latency_ms=latency_ms,
            ledger=ledger or f"sqlite:///{workdir / 'minwon-ledger.db'}",
            concurrency=concurrency, prefetch=prefetch, channels=(channel,)), "utf-8")
        rabbitmq.declare_topology(url, (channel,))
        bodies = workload.jobs_for(list(workload.events(workload.new_run_id("w"), jobs,
                                                        channels=(channel,))), channel)
        publish_jobs(url, channel, bodies)
        hub = procs.HubProcesses(config, workdir, channels=(channel,), router=False)
        counter = records.RecordCounter(record)
        try:
            hub.mark_cpu()
            hub.start()
            spies = []
            if profile is not None:
                rabbitmq.wait_for_consumers(url, {f"hub.notify.{channel}": 1})
                spies = hub.profile(profile, seconds=max(2.0, jobs / 1500))
            counter.wait_for(jobs, 300, check=hub.check_alive)
            cpu = sum(hub.cpu_since_mark().values())
            for spy in spies:
                spy.wait(60)
        finally:
            hub.stop()
        found = records.load(record)
    rate = records.throughput(found)
    return {"jobs": jobs, "delivered": len(found), "per_s": round(rate, 1),
            "cpu_ms_per_notice": round(1000 * cpu / max(len(found), 1), 3),
            "note": "cpu includes process start-up (imports, ~1 s)"}


if __name__ == "__main__":  # python -m bench.stages router|worker COUNT [PROFILE_DIR]
    import json
    import sys

    which, n = sys.argv[1], int(sys.argv[2])
    prof = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    result = router_alone(events=n, profile=prof) if which == "router" else \
        worker_alone(jobs=n, profile=prof)
    print(json.dumps(result, indent=2))
