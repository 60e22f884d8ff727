"""The whole hub in one process on kombu's in-memory transport (the embedded default):
events in through the producer, notices out in the outbox, a transient failure
retried by the in-process delay pump, failures parked, bad input rejected.

The memory transport's queues are process-global: every test uses its own event ids
and looks only at what carries them."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from hub.app import Hub
from hub.config import Config
from hub.ledger import open_ledger
from hub.producer import open_producer
from hub.topology import DEAD_QUEUE, REJECTED_QUEUE
from hub.transport import connect
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
URL = "memory://"


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    assert predicate(), f"timed out after {timeout}s waiting for {what}"


def memory_config(folder: Path) -> Config:
    # Only the templates these tests use: a smaller store starts faster
    templates = folder / "templates"
    shutil.copytree(ROOT / "templates" / "case.received", templates / "case.received")
    return make_config(
        folder, URL,
        ledger={"url": "memory://"},
        retry={"tiers": ["1s"], "max_attempts": 3, "quick_retries": 0, "quick_wait": 0.0},
        templates={"dir": str(templates), "reload_interval": 0},
        worker={"concurrency": 8, "shutdown_timeout": 5},
    )


def outbox(config: Config, channel: str, event_id: str) -> list[dict[str, Any]]:
    path = Path(config["providers"]["outbox"]["dir"]) / f"{channel}.jsonl"
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    return [r for r in records if r["event_id"] == event_id]


class Parked:
    """What lands on a parking queue, kept across looks (drained as it is read)."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.seen: list[tuple[bytes, dict[str, Any]]] = []

    def for_event(self, event_id: str) -> list[tuple[bytes, dict[str, Any]]]:
        with connect(URL) as conn:
            channel = conn.channel()
            while (message := channel.basic_get(self.queue, no_ack=True)) is not None:
                body = message.body if isinstance(message.body, bytes) else message.body.encode()
                self.seen.append((body, dict(message.headers or {})))
        return [(b, h) for b, h in self.seen if event_id.encode() in b]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Hub, Config]]:
    """A hub per test (it starts in a fraction of a second): two hubs running at once
    would share the memory transport's queues."""
    config = memory_config(tmp_path)
    hub = Hub(config, ledger=open_ledger("memory://", hash_key=b"k"))
    hub.start(wait=10)
    try:
        yield hub, config
    finally:
        hub.stop()


def received(event_id: str, **citizen: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (ROOT / "templates" / "case.received" / "samples" / "full.json").read_text("utf-8"))
    event["id"] = event_id
    event["data"]["citizen"] = {"name": "홍길동", **citizen}
    return event


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def publish(*events: dict[str, Any] | bytes) -> None:
    with open_producer(URL) as producer:
        result = producer.publish_batch(list(events))
    assert result.ok and result.published == len(events)


def test_an_event_becomes_notices_in_the_outbox(running: tuple[Hub, Config]) -> None:
    hub, config = running
    # Given a citizen with a phone and an e-mail address, and no push token
    event_id = unique("mem-ok")
    event = received(event_id, phone="010-1234-5678", email="hong@example.kr",
                     channels=["sms", "email", "push"])
    # When the event is published
    publish(event)
    # Then the SMS and the e-mail are in the outbox, each once, with every field
    wait_for(lambda: bool(outbox(config, "sms", event_id) and outbox(config, "email", event_id)),
             what="the SMS and the e-mail")
    (sms,) = outbox(config, "sms", event_id)
    (email,) = outbox(config, "email", event_id)
    assert (sms["to"], sms["kind"], sms["attempt"], sms["org"]) == (
        "010-1234-5678", sms["kind"], 1, "gumi")
    assert sms["kind"] in ("SMS", "LMS")
    assert sms["case_id"] == event["data"]["case"]["id"]
    assert sms["template"] == "case.received/sms.j2" and sms["template_version"]
    assert (email["to"], email["channel"]) == ("hong@example.kr", "email")
    assert email["subject"]
    # And the push notice, with no token to go to, is skipped in the ledger
    push = [j for j in _notices(hub, event) if j.channel == "push"]
    wait_for(lambda: hub.ledger.notice(push[0].id) is not None
             and hub.ledger.notice(push[0].id).status == "skipped",  # type: ignore[union-attr]
             what="the skipped push notice")
    assert outbox(config, "push", event_id) == []


def test_each_loop_reports_its_health(running: tuple[Hub, Config]) -> None:
    hub, _ = running
    # Given a running hub that has settled an event
    before = {c.name: c.loop.health().last_ack for c in hub.components if c.loop}
    event_id = unique("mem-health")
    publish(received(event_id, phone="010-1234-5678"))
    router = next(c for c in hub.components if c.name == "router")
    assert router.loop is not None
    wait_for(lambda: router.loop is not None
             and router.loop.health().last_ack > before["router"]
             and router.loop.health().unsettled == 0, what="the router to ack the event")
    # Then every loop says it is connected and consuming, nothing left unsettled
    for component in hub.components:
        assert component.loop is not None
        health = component.loop.health()
        assert health.connected and health.consuming, component.name
    # And a stopped loop says it is no longer consuming
    loop = router.loop
    loop.request_stop()
    wait_for(lambda: not loop.health().consuming, what="the stopped router loop")


def _notices(hub: Hub, event: dict[str, Any]) -> list[Any]:
    return hub.ledger.case_story(event["data"]["case"]["id"]).notices


def test_a_transient_failure_is_retried_by_the_delay_pump(running: tuple[Hub, Config]) -> None:
    _, config = running
    # Given a phone that fails once, then accepts (no in-process retries)
    event_id = unique("mem-flaky")
    # When its event is published
    started = time.monotonic()
    publish(received(event_id, phone="010-0000-1001", channels=["sms"]))
    # Then the SMS arrives on the second attempt, after the 1s tier
    wait_for(lambda: bool(outbox(config, "sms", event_id)), timeout=10, what="the retried SMS")
    (record,) = outbox(config, "sms", event_id)
    assert record["attempt"] == 2
    assert time.monotonic() - started >= 1.0


def test_a_permanent_failure_is_parked(running: tuple[Hub, Config]) -> None:
    _, config = running
    event_id = unique("mem-perm")
    parked = Parked(DEAD_QUEUE)
    publish(received(event_id, phone="010-0000-2000", channels=["sms"]))
    wait_for(lambda: bool(parked.for_event(event_id)), what="the parked SMS")
    ((body, headers),) = parked.for_event(event_id)
    assert headers["x-hub-reason-code"] == "permanent"
    assert headers["x-hub-channel"] == "sms"
    assert json.loads(body)["event_id"] == event_id
    assert outbox(config, "sms", event_id) == []


def test_an_invalid_event_is_rejected_and_the_hub_goes_on(running: tuple[Hub, Config]) -> None:
    _, config = running
    # Given an event missing its case id, followed by a good one
    bad_id, good_id = unique("mem-bad"), unique("mem-good")
    bad = received(bad_id, phone="010-1234-5678")
    del bad["data"]["case"]["id"]
    body = json.dumps(bad, ensure_ascii=False).encode()
    rejected = Parked(REJECTED_QUEUE)
    # When both are published
    publish(body, received(good_id, phone="010-1234-5678", channels=["sms"]))
    # Then the good one is delivered, and the bad one kept as it came, with its reason
    wait_for(lambda: bool(outbox(config, "sms", good_id)), what="the good SMS")
    wait_for(lambda: bool(rejected.for_event(bad_id)), what="the rejected event")
    ((kept, headers),) = rejected.for_event(bad_id)
    assert kept == body
    assert headers["x-hub-reason-code"] == "invalid"
    assert headers["x-hub-reason"].startswith("structured mode: data.case: must contain ['id']")


def duplicates() -> float:
    value = REGISTRY.get_sample_value(
        "minwon_notices_total", {"channel": "sms", "provider": "none", "outcome": "duplicate"})
    return value or 0.0


def test_a_duplicate_event_is_sent_once(running: tuple[Hub, Config]) -> None:
    _, config = running
    # Given an event published twice (an upstream retry)
    event_id = unique("mem-dup")
    event = received(event_id, phone="010-1234-5678", channels=["sms"])
    before = duplicates()
    publish(event, event)
    # When both copies have been through the worker (one sent, one found in the ledger)
    wait_for(lambda: duplicates() >= before + 1, what="the second copy")
    # Then the citizen got one SMS
    assert len(outbox(config, "sms", event_id)) == 1


def test_stop_is_clean(tmp_path: Path) -> None:
    # Given a hub running on the memory transport
    config = memory_config(tmp_path)
    hub = Hub(config, ledger=open_ledger("memory://", hash_key=b"k"))
    before = {t.ident for t in threading.enumerate()}
    hub.start(wait=10)
    names = [c.name for c in hub.components]
    assert names == ["router", "worker-sms", "worker-email", "worker-push"]
    threads = [c.thread for c in hub.components]
    # And one notice delivered through it
    event_id = unique("mem-stop")
    publish(received(event_id, phone="010-1234-5678", channels=["sms"]))
    wait_for(lambda: bool(outbox(config, "sms", event_id)), what="the SMS")
    # When it is stopped
    started = time.monotonic()
    hub.stop()
    # Then it stops promptly, its threads end, and no component restarted on the way
    assert time.monotonic() - started < 5
    assert not any(t.is_alive() for t in threads)
    assert hub.components == []
    pump = hub._pump
    assert pump is not None and pump._thread is not None and not pump._thread.is_alive()
    leftover = [t for t in threading.enumerate()
                if t.ident not in before and t.name.startswith(("send-", "delay-pump", "router",
                                                                 "worker-", "ledger-sweeper"))]
    assert leftover == []
