"""Poison between good events, against a running ``minwon-hub run`` and a real broker:
every good event is delivered, each poison body lands on ``hub.rejected`` with its
reason code, ``hub.router`` is left empty, and the idle hub does not spin a core."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hub.topology import REJECTED_QUEUE, ROUTER_QUEUE
from hub.transport import connect
from tests.conftest import VHost
from tests.integration.harness import drain, queue_depth, wait_for

pytestmark = pytest.mark.integration

#: Bodies that stopped the router before (issue 10), with the reason code each gets.
POISON: dict[str, tuple[bytes, str]] = {
    "deep": (b'{"id": "poison-deep", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}",
             "too_deep"),
    "digits": (b'{"id": "poison-digits", "n": ' + b"9" * 5000 + b"}", "bad_number"),
    "not_utf8": (b'{"id": "poison-\xff"}', "not_utf8"),
    "not_json": (b"\x00\x01 not json", "bad_json"),
}


def good(i: int, **case: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0", "id": f"good-{i}", "source": "/test", "type": "case.received",
        "data": {"org": "gumi",
                 "case": {"id": f"P-{i}", "title": "도로 파손", "department": "도로과",
                          "officer": {"name": "김담당"}, **case},
                 "citizen": {"name": "홍길동", "phone": f"010-3333-{i:04d}",
                             "channels": ["sms"]}},
    }


def poison_events() -> dict[str, tuple[bytes, str]]:
    found = dict(POISON)
    surrogate = json.dumps(good(900, title="\ud800")).replace("good-900", "poison-surrogate")
    found["surrogate"] = (surrogate.encode(), "bad_text")
    nul = json.dumps(good(901, id="2026\u00000001")).replace("good-901", "poison-nul")
    found["nul_case_id"] = (nul.encode(), "bad_text")
    return found


def _env(vhost: VHost, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINWON")}
    env.update({
        "MINWON__BROKER__URL": vhost.url,
        "MINWON__PROVIDERS__OUTBOX__DIR": str(tmp_path / "outbox"),
        "MINWON__LEDGER__URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "MINWON__POLICY__QUIET_HOURS": '""',
        "MINWON__METRICS__PORT": "0",
        "MINWON__WORKER__CONCURRENCY": "8",
        "MINWON__LOGGING__LEVEL": "WARNING",
        "MINWON__LEDGER__HASH_KEY": "poison-test",
        "MINWON__ORGS__GUMI__NAME": "구미시",
        "MINWON__ORGS__GUMI__CALLCENTER": "054-480-2114",
        "MINWON__ORGS__GUMI__INTERNAL_UNIT": "민원여권과",
        "MINWON__ORGS__GUMI__INTERNAL_PHONE": "054-480-6000",
    })
    return env


def _sent(tmp_path: Path) -> set[str]:
    path = tmp_path / "outbox" / "sms.jsonl"
    if not path.exists():
        return set()
    return {json.loads(line)["event_id"]
            for line in path.read_text("utf-8").splitlines() if line.strip()}


def _publish_raw(url: str, bodies: list[bytes]) -> None:
    with connect(url) as conn:
        channel = conn.default_channel
        for body in bodies:
            message = channel.prepare_message(body, content_type="application/cloudevents+json",
                                              content_encoding="binary")
            channel.basic_publish(message, exchange="", routing_key=ROUTER_QUEUE)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_poison_between_good_events_is_rejected_and_the_rest_flows(
        vhost: VHost, tmp_path: Path) -> None:
    log = (tmp_path / "hub.log").open("wb")
    hub = subprocess.Popen([sys.executable, "-m", "hub.cli", "run"], env=_env(vhost, tmp_path),
                           stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_for(lambda: _queue_exists(vhost.url, ROUTER_QUEUE), timeout=30,
                 message="the topology")
        poison = poison_events()
        # Given five good events, the poison set, and five good events more
        bodies = [json.dumps(good(i)).encode() for i in range(5)]
        bodies += [body for body, _ in poison.values()]
        bodies += [json.dumps(good(i)).encode() for i in range(5, 10)]
        _publish_raw(vhost.url, bodies)
        # Then every good event is delivered
        try:
            wait_for(lambda: len(_sent(tmp_path)) == 10, timeout=30,
                     message="the good notices")
        except AssertionError:
            log.flush()
            tail = (tmp_path / "hub.log").read_text("utf-8", "replace")[-3000:]
            raise AssertionError(f"{len(_sent(tmp_path))} of 10 delivered; hub log:\n{tail}")\
                from None
        assert _sent(tmp_path) == {f"good-{i}" for i in range(10)}
        # And each poison body is on hub.rejected, as it came, with its reason code
        wait_for(lambda: queue_depth(vhost.url, REJECTED_QUEUE) == len(poison), timeout=15,
                 message="the rejections")
        rejected = {body: headers for body, headers in drain(vhost.url, REJECTED_QUEUE)}
        for name, (body, code) in poison.items():
            assert rejected[body]["x-hub-reason-code"] == code, name
            assert rejected[body]["x-hub-reason"]
        # And nothing is left on hub.router; the hub is still the one process it was
        assert queue_depth(vhost.url, ROUTER_QUEUE) == 0
        assert hub.poll() is None
        # And idle, it does not spin: CPU time over five seconds stays a few percent
        time.sleep(1.0)
        before = _cpu_seconds(hub.pid)
        time.sleep(5.0)
        used = _cpu_seconds(hub.pid) - before
        print(f"idle hub CPU: {used:.2f} s in 5 s (load average {os.getloadavg()[0]:.1f})")
        assert used < 0.5, f"the idle hub used {used:.2f} s of CPU in 5 s"
    finally:
        hub.terminate()
        try:
            hub.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()
        log.close()
    assert "Traceback" not in (tmp_path / "hub.log").read_text("utf-8", "replace")


def _queue_exists(url: str, name: str) -> bool:
    try:
        queue_depth(url, name)
    except Exception:
        return False
    return True
