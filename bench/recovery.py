"""Recovery from a broker restart: the hub (router + three workers, PostgreSQL ledger,
provider at 50 ms) works through a backlog on a **private** RabbitMQ node
(:mod:`bench.private_broker`; the shared broker is never restarted); after
``before`` seconds of steady work the node's RabbitMQ application is restarted
(``rabbitmqctl stop_app`` / ``start_app``: every connection drops, the quorum queues
recover from disk). Reported, counted from the moment ``start_app`` returned:

* ``first_delivery_s``: the first provider call after the restart;
* ``to_90_percent_s``: the end of the first one-second window whose rate is at least
  90 % of the rate in the ``before`` seconds before the restart (None when the
  backlog ran out first);
* ``outage_s``: from the AMQP port closing to ``start_app`` returning;
  ``still_queued``, ``lost`` (neither delivered nor queued), ``sent_twice``; when not
  everything came, the end of every process's log (``logs``).

The rate before is measured over the ``before`` seconds before the port closed.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import peers, pg, pikapub, rabbitmq, records, workload
from bench.private_broker import private_broker

WINDOW = 1.0


def first_window(times: list[float], start: float, rate: float, share: float = 0.9,
                 step: float = 0.05) -> float | None:
    """End of the first ``WINDOW``-long window starting at or after ``start`` holding at
    least ``share × rate × WINDOW`` of ``times`` (sorted); None if there is none."""
    need = share * rate * WINDOW
    t = start
    end = times[-1] if times else start
    while t + WINDOW <= end + step:
        n = bisect.bisect_left(times, t + WINDOW) - bisect.bisect_left(times, t)
        if n >= need:
            return t + WINDOW
        t += step
    return None


def run(*, backlog: int = 30_000, before: float = 3.0, latency_ms: float = 50.0,
        concurrency: int = 128, prefetch: int = 256, timeout: float = 300.0) -> dict[str, Any]:
    channels = workload.CHANNELS
    events = -(-backlog // len(channels))
    with contextlib.ExitStack() as stack:
        node = stack.enter_context(private_broker())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="minwon-bench-")))
        record, config = workdir / "record", workdir / "minwon.toml"
        db = pg.create()
        stack.callback(pg.drop, db)
        config.write_text(workload.hub_config_toml(
            url=node.url, record=record, latency_ms=latency_ms, ledger=pg.url(db),
            concurrency=concurrency, prefetch=prefetch, channels=channels), "utf-8")
        rabbitmq.declare_topology(node.url, channels)
        rabbitmq.bind_status_queue(node.url)
        pikapub.load(node.url, (pikapub.event_message(e) for e in
                                workload.events(workload.new_run_id("r"), events)))
        expected = events * len(channels)
        p = peers.plan("hub", url=node.url, config=config, record=record, workdir=workdir,
                       channels=channels, concurrency=concurrency, prefetch=prefetch,
                       latency_ms=latency_ms)
        launcher = peers.Launcher(workdir)
        stack.callback(launcher.stop)
        for launch in p.first:
            launcher.spawn(launch)
        rabbitmq.wait_for_consumers(node.url, p.first_queues, check=launcher.check)
        assert p.last is not None
        launcher.spawn(p.last)
        counter = records.RecordCounter(record)
        counter.wait_for(1, 120, check=launcher.check)
        started = time.time()
        while time.time() - started < before:
            launcher.check()
            time.sleep(0.05)
        pid_before = node.server.pid if node.server else None
        # the stop counts from when the AMQP port closes (rabbitmqctl takes a while to
        # start on a busy machine, and the hub works on meanwhile)
        stopping = threading.Thread(target=node.ctl, args=("stop_app",))
        stopping.start()
        while node.accepting() and stopping.is_alive():
            time.sleep(0.01)
        t_stop = time.time()
        stopping.join()
        node.ctl("start_app")
        t_up = time.time()
        got = counter.wait_for(expected, timeout, idle_timeout=60.0, check=launcher.check)
        launcher.check()
        tails = launcher.tails(1500) if got < expected else ""
        launcher.stop()
        found = records.load(record)
        queued = {q: rabbitmq.queue_depth(node.url, q)[0]
                  for q in ("hub.router", *(f"hub.notify.{c}" for c in channels))}
    calls = sorted(r.called_at for r in found)
    accepted = sorted(r.accepted_at for r in found)
    rate_before = (bisect.bisect_left(accepted, t_stop)
                   - bisect.bisect_left(accepted, t_stop - before)) / before
    after = [t for t in calls if t >= t_up]
    reached = first_window(accepted, t_up, rate_before)
    delivered = len({r.notification_id for r in found})
    return {
        "backlog": expected,
        "how": "rabbitmqctl stop_app / start_app on a private node",
        "outage_s": round(t_up - t_stop, 2),
        "rate_before_per_s": round(rate_before, 1),
        "first_delivery_s": round(after[0] - t_up, 2) if after else None,
        "to_90_percent_s": round(reached - t_up, 2) if reached else None,
        "delivered": delivered,
        # still on the queues (an event on hub.router is a notice per channel); these may
        # include deliveries sent but not acked when the connection dropped, which the
        # ledger answers as duplicates: "lost" is what is neither delivered nor queued
        "still_queued": queued,
        "lost": max(0, expected - delivered - sum(
            v * (len(channels) if q == "hub.router" else 1) for q, v in queued.items())),
        "complete": got >= expected,
        "sent_twice": records.duplicates(found),
        "broker_node_pid": pid_before,
        **({"logs": tails} if tails else {}),
    }


if __name__ == "__main__":
    import sys

    print(json.dumps(run(backlog=int(sys.argv[1]) if len(sys.argv) > 1 else 30_000), indent=2))
