"""A worker killed with SIGKILL in the middle of a batch loses nothing: what it had
taken but not acked goes back to the queue and another worker delivers it. Every event
is also published twice: the ledger sends each notice once all the same."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hub.ledger import open_ledger
from hub.ledger.privacy import DEV_HASH_KEY
from tests.conftest import VHost
from tests.integration.harness import publish, queue_depth, wait_for

pytestmark = pytest.mark.integration

N = 600


def _env(vhost: VHost, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINWON")}
    env.update({
        "MINWON__BROKER__URL": vhost.url,
        "MINWON__BROKER__PREFETCH": "100",
        "MINWON__WORKER__CONCURRENCY": "50",
        "MINWON__PROVIDERS__OUTBOX__DIR": str(tmp_path / "outbox"),
        "MINWON__LEDGER__URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "MINWON__POLICY__QUIET_HOURS": '""',
        "MINWON__METRICS__PORT": "0",
        "MINWON__LEDGER__SWEEP_AFTER": "3",
        "MINWON__RETRY__TIERS": '["1s", "5s"]',
        "MINWON__LOGGING__LEVEL": "WARNING",
        # the organisation the events name (nothing stands in for an unconfigured one)
        "MINWON__ORGS__GUMI__NAME": "구미시",
        "MINWON__ORGS__GUMI__CALLCENTER": "054-480-2114",
        "MINWON__ORGS__GUMI__INTERNAL_UNIT": "민원여권과",
        "MINWON__ORGS__GUMI__INTERNAL_PHONE": "054-480-6000",
        "MINWON__ORGS__GUMI__SMS_SENDER": "0544802114",
    })
    return env


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "hub.cli", "worker", "--channel", "sms"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _sent(tmp_path: Path) -> list[str]:
    path = tmp_path / "outbox" / "sms.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["notification_id"]
            for line in path.read_text("utf-8").splitlines() if line.strip()]


def test_worker_killed_mid_batch_loses_nothing(vhost: VHost, tmp_path: Path) -> None:
    env = _env(vhost, tmp_path)
    router = subprocess.Popen([sys.executable, "-m", "hub.cli", "router"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = second = None
    try:
        # Given many notices waiting for the SMS worker
        wait_for(lambda: _queue_exists(vhost.url), timeout=20, message="the topology")
        events = []
        for i in range(N):
            events.append({
                "specversion": "1.0", "id": f"kill-{i}", "source": "/test", "type":
                "case.received", "data": {"org": "gumi", "case": {
                    "id": f"K-{i}", "title": "t", "department": "d",
                    "officer": {"name": "김담당", "phone": "054-480-0000"}},
                    "citizen": {"name": "홍길동", "phone": f"010-5555-{i:04d}",
                                "channels": ["sms"]}}})
        publish(vhost.url, events)
        publish(vhost.url, events)  # an upstream system that published everything twice
        wait_for(lambda: queue_depth(vhost.url, "hub.notify.sms") >= 2 * N, timeout=30,
                 message="the jobs routed")
        # When a worker is killed while it has a batch in hand
        first = _worker(env)
        wait_for(lambda: len(_sent(tmp_path)) >= 50, timeout=30, message="the first sends")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        delivered_before = len(set(_sent(tmp_path)))
        assert delivered_before < N, "the worker finished before it could be killed"
        # Then a new worker delivers the rest, and nothing is lost
        second = _worker(env)
        wait_for(lambda: len(set(_sent(tmp_path))) >= N, timeout=60,
                 message="every notice delivered")
        # (a claim the killed worker left in "sending" is settled by the sweeper)
        wait_for(lambda: _ledger_statuses(tmp_path, set(_sent(tmp_path))) == {"sent"},
                 timeout=30, interval=0.5, message="the ledger to settle every notice")
    finally:
        for proc in (router, first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
    sent = _sent(tmp_path)
    lost = N - len(set(sent))
    twice = len(sent) - len(set(sent))
    print(f"published {N}, delivered {len(set(sent))}, lost {lost}, sent twice {twice}, "
          f"delivered before the kill {delivered_before}")
    assert lost == 0
    assert twice == 0, "the sweeper must settle stale claims from the outbox, not resend"
    assert _ledger_statuses(tmp_path, set(sent)) == {"sent"}
    assert second is not None and second.returncode == 0, "graceful stop on SIGTERM failed"


def _ledger_statuses(tmp_path: Path, ids: set[str]) -> set[str | None]:
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", hash_key=DEV_HASH_KEY)
    try:
        return {getattr(ledger.notice(nid), "status", None) for nid in ids}
    finally:
        ledger.close()


def _queue_exists(url: str) -> bool:
    try:
        queue_depth(url, "hub.notify.sms")
        return True
    except Exception:
        return False
