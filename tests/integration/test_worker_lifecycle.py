"""A worker's life with slow providers: heartbeats keep flowing while sends run, and a
graceful stop finishes what is in flight and returns the rest to the queue."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hub.app import Hub
from tests.conftest import VHost, make_config
from tests.integration.harness import publish, queue_depth, wait_for

pytestmark = pytest.mark.integration


def _events(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{
        "specversion": "1.0", "id": f"{prefix}-{i}", "source": "/test", "type": "case.received",
        "data": {"org": "gumi", "case": {"id": f"L-{i}", "title": "t", "department": "d",
                                         "officer": {"name": "김담당", "phone": "054-480-0000"}},
                 "citizen": {"name": "홍길동", "phone": f"010-7777-{i:04d}", "channels": ["sms"]}},
    } for i in range(n)]


def _recorded(folder: Path) -> list[str]:
    lines = []
    for path in folder.glob("sms.*.tsv"):
        lines += [ln.split("\t")[0] for ln in path.read_text().splitlines() if ln.strip()]
    return lines


def _config(tmp_path: Path, vhost: VHost, latency_ms: int, concurrency: int,
            heartbeat: int = 10) -> Any:
    return make_config(
        tmp_path, vhost.url,
        broker={"heartbeat": heartbeat, "prefetch": concurrency},
        worker={"concurrency": concurrency, "shutdown_timeout": 30},
        channels={"sms": {"providers": ["latency"]}, "email": {"providers": ["outbox"]},
                  "push": {"providers": ["outbox"]}},
        providers={"latency": {"latency_ms": latency_ms, "record": str(tmp_path / "rec")}},
        ledger={"url": f"sqlite:///{tmp_path / 'ledger.db'}", "sweep_after": 3},
    )


def test_heartbeats_are_serviced_while_slow_sends_run(vhost: VHost, tmp_path: Path) -> None:
    # Given a 1 s heartbeat and a provider that takes 3.5 s per send
    config = _config(tmp_path, vhost, latency_ms=3500, concurrency=4, heartbeat=1)
    hub = Hub(config)
    hub.start()
    try:
        # When four sends run at once, longer than two heartbeat intervals
        publish(vhost.url, _events("hb", 4))
        wait_for(lambda: len(_recorded(tmp_path / "rec")) == 4, timeout=20,
                 message="the slow sends")
        # Then the broker never dropped the worker's connection
        restarts = {c.name: c.restarts for c in hub.components}
    finally:
        hub.stop()
    assert restarts == {"router": 0, "worker-sms": 0, "worker-email": 0, "worker-push": 0}


def test_graceful_stop_finishes_in_flight_and_returns_the_rest(vhost: VHost,
                                                              tmp_path: Path) -> None:
    # Given 20 notices, a 1.5 s provider and 5 sends in flight at most
    config = _config(tmp_path, vhost, latency_ms=1500, concurrency=5)
    hub = Hub(config)
    hub.start()
    publish(vhost.url, _events("stop", 20))
    wait_for(lambda: hub.components[1].stage.busy() >= 5, timeout=10,  # type: ignore[attr-defined]
             message="sends in flight")
    # When the hub is stopped while they run
    started = time.monotonic()
    hub.stop()
    stopped_after = time.monotonic() - started
    # Then what was in flight was finished, and the rest waits in the queue
    done = _recorded(tmp_path / "rec")
    assert 5 <= len(done) < 20
    assert stopped_after < 10
    # (a quorum queue counts returned messages a moment after the channel closed)
    # (an event the router had not taken yet is still on hub.router, one SMS each)
    wait_for(lambda: queue_depth(vhost.url, "hub.notify.sms")
             + queue_depth(vhost.url, "hub.router") == 20 - len(done), timeout=10,
             message="the unsent notices back in the queues")
    # And a new worker delivers the rest, each once
    hub = Hub(config)
    hub.start()
    try:
        wait_for(lambda: len(_recorded(tmp_path / "rec")) >= 20, timeout=30,
                 message="the rest delivered")
        time.sleep(0.5)
    finally:
        hub.stop()
    sent = _recorded(tmp_path / "rec")
    assert len(sent) == len(set(sent)) == 20
