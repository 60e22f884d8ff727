"""The ceiling: a bare kombu consumer that decodes each message (``json.loads``) and acks
it, one ``basic.ack`` per message, nothing else.

What runs where: the benchmark process fills ``hub.notify.sms`` (the hub's own
quorum queue, declared by the hub's topology) with ``count`` notification jobs, then
starts one consumer process (``python -m bench.ceiling consume``) with the hub's
prefetch; the clock runs from its first delivery to its last ack.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import broker, procs, workload
from bench.stages import publish_jobs


def consume(url: str, queue: str, count: int, prefetch: int) -> dict[str, Any]:
    """The consumer itself (runs in its own process)."""
    from kombu import Connection, Consumer, Queue

    seen = 0
    first = last = 0.0

    def on_message(message: Any) -> None:
        nonlocal seen, first, last
        json.loads(message.body)
        message.ack()
        seen += 1
        if seen == 1:
            first = time.perf_counter()
        last = time.perf_counter()

    cpu0 = time.process_time()
    with Connection(url) as conn:
        channel = conn.channel()
        consumer = Consumer(channel, queues=[Queue(queue, no_declare=True)],
                            on_message=on_message, prefetch_count=prefetch, auto_declare=False)
        consumer.consume()
        deadline = time.monotonic() + 300
        while seen < count and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=1)
            except TimeoutError:
                continue
    cpu = time.process_time() - cpu0
    elapsed = max(last - first, 1e-9)
    return {"messages": seen, "per_s": round((seen - 1) / elapsed, 1),
            "cpu_us_per_message": round(1e6 * cpu / max(seen, 1), 1)}


def run(*, messages: int, prefetch: int = 256) -> dict[str, Any]:
    with broker.fresh_vhost("ceiling") as url:
        broker.declare_topology(url, ("sms",))
        bodies = workload.jobs_for(list(workload.events(workload.new_run_id("c"), messages,
                                                        channels=("sms",))), "sms")
        publish_jobs(url, "sms", bodies)
        beam = broker.beam_pids()
        beam_cpu = sum(procs.cpu_seconds(p) for p in beam)
        done = subprocess.run(
            [sys.executable, "-m", "bench.ceiling", "consume", url, "hub.notify.sms",
             str(messages), str(prefetch)],
            capture_output=True, text=True, timeout=600, check=True,
            cwd=Path(__file__).resolve().parent.parent)
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["rabbitmq_cpu_seconds"] = round(sum(procs.cpu_seconds(p) for p in beam)
                                               - beam_cpu, 2)
        result["prefetch"] = prefetch
        result["queue"] = "hub.notify.sms (quorum)"
        return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["consume"]:
        url, queue, n, pf = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(consume(url, queue, n, pf)))
    else:
        print(json.dumps(run(messages=int(sys.argv[1]) if len(sys.argv) > 1 else 20000),
                         indent=2))
