"""The local RabbitMQ as the benchmark uses it: a fresh vhost per scenario, queue depths,
and the broker's own numbers.

Vhosts are made and removed through the management API when it answers (fast), else
with ``rabbitmqctl`` (``add_vhost``, ``set_permissions``, ``delete_vhost``, about a
second each). Every vhost the benchmark
makes is named ``bench-<scenario>-<random>`` and deleted afterwards, even on failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import quote

from kombu import Connection

AMQP_HOST = os.environ.get("BENCH_AMQP_HOST", "localhost:5672")
AMQP_USER = os.environ.get("BENCH_AMQP_USER", "guest")
AMQP_PASSWORD = os.environ.get("BENCH_AMQP_PASSWORD", "guest")
MANAGEMENT = os.environ.get("BENCH_MANAGEMENT_URL", "http://localhost:15672")


def _api(method: str, path: str, body: object | None = None) -> bool:
    """Call the management API; False when it is not there."""
    import requests

    try:
        answer = requests.request(method, f"{MANAGEMENT}/api/{path}", json=body,
                                  auth=(AMQP_USER, AMQP_PASSWORD), timeout=30)
    except requests.RequestException:
        return False
    if answer.status_code >= 400 and answer.status_code != 404:
        raise RuntimeError(f"management API {method} {path}: {answer.status_code} "
                           f"{answer.text[:200]}")
    return True


def rabbitmqctl(*args: str, timeout: float = 60.0) -> str:
    """Run ``rabbitmqctl ARGS``; raise with its output on failure."""
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: "
                           f"{done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def url_for(vhost: str) -> str:
    return f"amqp://{AMQP_USER}:{AMQP_PASSWORD}@{AMQP_HOST}/{quote(vhost, safe='')}"


def create_vhost(name: str) -> str:
    quoted = quote(name, safe="")
    if _api("PUT", f"vhosts/{quoted}"):
        _api("PUT", f"permissions/{quoted}/{quote(AMQP_USER, safe='')}",
             {"configure": ".*", "write": ".*", "read": ".*"})
    else:
        rabbitmqctl("add_vhost", name)
        rabbitmqctl("set_permissions", "-p", name, AMQP_USER, ".*", ".*", ".*")
    return url_for(name)


def delete_vhost(name: str) -> None:
    with contextlib.suppress(Exception):
        if not _api("DELETE", f"vhosts/{quote(name, safe='')}"):
            rabbitmqctl("delete_vhost", name)


@contextlib.contextmanager
def fresh_vhost(scenario: str) -> Iterator[str]:
    """A new vhost for one scenario; yields its AMQP URL; deleted afterwards."""
    name = f"bench-{scenario}-{uuid.uuid4().hex[:8]}"
    url = create_vhost(name)
    try:
        yield url
    finally:
        delete_vhost(name)


def queue_depth(url: str, queue: str) -> tuple[int, int]:
    """(messages ready, consumers) of ``queue``, by a passive declare."""
    with Connection(url, connect_timeout=10) as conn:
        channel = conn.channel()
        ok = channel.queue_declare(queue, passive=True)
        return int(ok.message_count), int(ok.consumer_count)


def wait_for_consumers(url: str, queues: dict[str, int], timeout: float = 60.0,
                       interval: float = 0.2,
                       check: Callable[[], None] | None = None) -> None:
    """Until each queue has at least its number of consumers (``check`` each round:
    raise to abort, e.g. when a process died)."""
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        missing = {q: n for q, n in queues.items() if queue_depth(url, q)[1] < n}
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no consumers on {sorted(missing)} after {timeout}s")
        time.sleep(interval)


def broker_info() -> dict[str, str]:
    """RabbitMQ and Erlang versions, for the results."""
    info: dict[str, str] = {}
    with contextlib.suppress(Exception):
        out = rabbitmqctl("status", "--formatter", "json", timeout=20)
        import json

        status = json.loads(out)
        info["rabbitmq"] = str(status.get("rabbitmq_version", ""))
        info["erlang"] = str(status.get("erlang_version", "")).split(" ")[0:3].__str__()
    return info


#: In the home folder of the benchmark's private RabbitMQ nodes (bench.private_broker),
#: which are not "the broker" of the other scenarios.
PRIVATE_MARK = b"minwon-bench-rabbit"


def beam_pids() -> list[int]:
    """Process ids of the broker's Erlang VM (not of ``rabbitmqctl``, which runs one
    too), to sample its CPU use."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except OSError:
            continue
        if b"beam" in cmdline.split(b"\0", 1)[0] and b"rabbit\0boot" in cmdline \
                and PRIVATE_MARK not in cmdline:
            pids.append(int(entry))
    return pids


def declare_topology(url: str, channels: tuple[str, ...] = ("sms", "email", "push"), *,
                     quorum: bool = True) -> None:
    """The hub's exchanges and queues in the vhost of ``url`` (as the hub declares them)."""
    from hub.config import load_config
    from hub.topology import Topology

    config = load_config(environ={})
    topology = Topology.build(channels, config["retry"]["tiers"], quorum_queues=quorum)
    with Connection(url, connect_timeout=10) as conn:
        topology.declare(conn.channel())


def identity() -> dict[str, object]:
    """The broker's Erlang VM: pid and uptime in seconds (a restart during a run shows
    as a new pid or a smaller uptime)."""
    from bench.procs import started_at

    pids = sorted(beam_pids())
    if not pids:
        return {"pid": None, "uptime_s": None}
    start = started_at(pids[0])
    return {"pid": pids[0], "uptime_s": round(time.time() - start, 1) if start else None}


STATUS_QUEUE = "bench.status"


def bind_status_queue(url: str, *, quorum: bool = True) -> None:
    """A queue bound to ``minwon.notifications`` (every status event), as an upstream
    system would have, so status events cost the broker what they cost in production.
    Nobody consumes it during the run; it goes with the vhost."""
    from kombu import Exchange, Queue

    from hub.topology import STATUS_EXCHANGE

    args = {"x-queue-type": "quorum"} if quorum else {}
    with Connection(url, connect_timeout=10) as conn:
        channel = conn.channel()
        exchange = Exchange(STATUS_EXCHANGE, "topic", durable=True)
        exchange.declare(channel=channel)
        Queue(STATUS_QUEUE, exchange, routing_key="#", durable=True,
              queue_arguments=args).declare(channel=channel)
