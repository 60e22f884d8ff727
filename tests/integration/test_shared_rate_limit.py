"""Rate limits shared across replicas (hub.shared_rates), against the local Redis and, end
to end, two real ``minwon-hub worker`` processes on the real RabbitMQ."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from bench import procs
from channels.latency import read_records
from hub import metrics
from hub.policy import RateLimiter
from hub.producer import PikaProducer
from hub.shared_rates import SharedRateLimiter
from hub.topology import Topology
from hub.transport import connect
from tests.conftest import VHost
from tests.reliability.faults import ORG_TOML, good_event

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("MINWON_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), 1):
            return True
    except OSError:
        return False


@pytest.fixture
def org() -> str:
    if not _redis_up():
        pytest.fail("Redis is not reachable at 127.0.0.1:6379 (scripts/ensure-services.sh)",
                    pytrace=False)
    return f"org{uuid.uuid4().hex[:8]}"  # a bucket of this test's own


def _granted(limiters: list[SharedRateLimiter | RateLimiter], org: str,
             seconds: float) -> list[float]:
    """Every replica sends as fast as its limiter lets it for ``seconds``; the times of
    the sends, across all replicas."""
    sends: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def replica(limiter: SharedRateLimiter | RateLimiter) -> None:
        while time.monotonic() < stop:
            wait = limiter.acquire(org, "sms", max_wait=None)
            time.sleep(wait)
            with lock:
                sends.append(time.monotonic())

    threads = [threading.Thread(target=replica, args=(lim,)) for lim in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sends


def _most_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_replicas_sharing_redis_stay_within_the_limit_together(org: str) -> None:
    # Given two replicas, each with its own limiter on the same Redis, 20/s burst 1
    limits = {f"{org}.sms": {"rate": 20, "burst": 1}}
    replicas = [SharedRateLimiter(REDIS_URL, limits) for _ in range(2)]
    # When both send as fast as they may for 3 s
    sends = _granted(list(replicas), org, 3.0)
    # Then together they sent about 20 a second, not 40
    assert 50 <= len(sends) <= 3 * 20 + 2, len(sends)
    assert _most_in_any_second(sends) <= 20 + 2


def test_separate_in_process_buckets_would_double_the_rate(org: str) -> None:
    # The control: the same two replicas with buckets of their own send twice the limit
    limits = {f"{org}.sms": {"rate": 20, "burst": 1}}
    sends = _granted([RateLimiter(limits), RateLimiter(limits)], org, 3.0)
    assert len(sends) >= 100


def test_a_wait_longer_than_max_wait_takes_no_token(org: str) -> None:
    limiter = SharedRateLimiter(REDIS_URL, {f"{org}.sms": {"rate": 1, "burst": 1}})
    assert limiter.acquire(org, "sms", max_wait=0.5) == 0.0  # the burst token
    first = limiter.acquire(org, "sms", max_wait=0.5)  # ~1 s: too long, not reserved
    second = limiter.acquire(org, "sms", max_wait=0.5)
    assert first > 0.5 and second > 0.5
    assert second <= first  # nothing was reserved by the refused calls


def test_pairs_without_a_limit_never_touch_redis(org: str) -> None:
    limiter = SharedRateLimiter("redis://127.0.0.1:1/0", {"other.sms": 5})
    assert limiter.acquire(org, "sms") == 0.0


def test_an_unreachable_store_defers_instead_of_sending_unmetered(org: str) -> None:
    # Given a store nobody listens on
    limiter = SharedRateLimiter("redis://127.0.0.1:1/0", {"*": 5}, unavailable_wait=7.0,
                                timeout=0.2)
    before = metrics.RATE_STORE_ERRORS._value.get()
    # When a replica asks for a token
    wait = limiter.acquire(org, "sms", max_wait=1.0)
    # Then it is told to wait longer than it may sleep (so the worker defers), counted
    assert wait == 7.0
    assert metrics.RATE_STORE_ERRORS._value.get() == before + 1


def test_two_worker_processes_send_within_the_shared_limit(org: str, tmp_path: Path) -> None:
    # Given a router and two SMS worker processes sharing a 10/s limit in Redis
    vhost = VHost(f"test-rates-{uuid.uuid4().hex[:8]}")
    vhost.create()
    record = tmp_path / "record"
    config = tmp_path / "minwon.toml"
    rate = 10
    config.write_text("\n".join([
        "[broker]", f'url = "{vhost.url}"', "prefetch = 64",
        "[retry]", 'tiers = ["1s", "2s"]', "max_attempts = 6", "quick_retries = 0",
        "[ledger]", f'url = "sqlite:///{tmp_path / "ledger.db"}"',
        "[policy]", 'quiet_hours = ""', f'rate_store = "{REDIS_URL}"',
        "[policy.rate_limits]", f'"{org}.sms" = {{rate = {rate}, burst = 1}}',
        "[logging]", 'level = "WARNING"',
        "[providers.latency]", "latency_ms = 1", f'record = "{record}"',
        "[channels.sms]", 'providers = ["latency"]',
        "[channels.email]", 'providers = ["latency"]',
        "[channels.push]", 'providers = ["latency"]',
    ]) + "\n" + ORG_TOML.replace("[orgs.gumi]", f"[orgs.{org}]"), "utf-8")
    hub = procs.HubProcesses(config, tmp_path, ["sms", "sms"], router=True)
    try:
        with connect(vhost.url) as conn:
            Topology.build(("sms", "email", "push"), ["1s", "2s"]).declare(conn.channel())
        hub.start()
        _wait_consumers(vhost.url, "hub.notify.sms", 2)
        # When 50 SMS notices arrive at once
        events = []
        for i in range(50):
            event = good_event(org, i + 1)  # seq not divisible by 3: SMS only
            event["data"]["org"] = org
            event["data"]["citizen"]["channels"] = ["sms"]
            events.append(event)
        with PikaProducer(vhost.url) as producer:
            assert producer.publish_batch(events).ok
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            sent = list(read_records(record))
            if len(sent) >= 50:
                break
            hub.check_alive()
            time.sleep(0.5)
        # Then all went out, from both processes, and never faster than the limit
        assert len(sent) == 50
        assert len({r.pid for r in sent}) == 2
        times = [r.called_at for r in sent]
        assert _most_in_any_second(times) <= rate + 2, sorted(times)
        assert max(times) - min(times) >= (50 - 1) / rate * 0.8
    finally:
        hub.stop()
        vhost.delete()


def _wait_consumers(url: str, queue: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connect(url) as conn:
            _, _, consumers = conn.channel().queue_declare(queue, passive=True)
        if consumers >= n:
            return
        time.sleep(0.3)
    raise TimeoutError(f"{queue}: fewer than {n} consumers after {timeout}s")


