"""``minwon-hub demo``: the whole hub in one process, on sample events.

With no broker configured it runs on kombu's in-memory transport; with
``broker.url`` set it runs against that RabbitMQ. It publishes the sample scenario
(:mod:`hub.scenario`), follows the status events on ``minwon.notifications`` as an
upstream system would, and prints what was delivered per channel, what was retried
and parked, and where the outbox is.
"""

from __future__ import annotations

import json
import queue
import shutil
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

from kombu import Exchange, Queue

from hub.app import Hub
from hub.config import Config
from hub.events import parse_event
from hub.producer import open_producer
from hub.rules import parse_rules
from hub.scenario import demo_events
from hub.topology import STATUS_EXCHANGE
from hub.transport import MEMORY_URL, connect, safe_url

FINAL = {"sent", "dead", "skipped"}
DEMO_SURVEY_DELAY = "3s"

GUMI = {
    "name": "구미시",
    "callcenter": "054-480-2114",
    "internal_unit": "민원여권과",
    "internal_phone": "054-480-6000",
    "url": "https://www.gumi.go.kr",
    "sms_sender": "0544802114",
    "email_from": "minwon@gumi.example.kr",
    "email_from_name": "구미시 민원실",
}


def demo_config(config: Config, outbox: Path) -> Config:
    rules_path = outbox / "demo-rules.toml"
    shipped = resources.files("hub").joinpath("rules.toml").read_text("utf-8")
    rules_path.write_text(shipped.replace('delay = "1h"', f'delay = "{DEMO_SURVEY_DELAY}"'),
                          "utf-8")
    overrides: dict[str, Any] = {
        "broker": {"url": config.broker_url or MEMORY_URL},
        "providers": {"outbox": {"dir": str(outbox)}},
        "retry": {"tiers": ["1s", "2s", "5s"], "max_attempts": 4, "quick_retries": 1,
                  "quick_wait": 0.05},
        "policy": {"quiet_hours": ""},  # the demo runs at any hour
        "router": {"rules": str(rules_path)},
        "metrics": {"port": 0},
    }
    if config.get("ledger", "url") == "sqlite:///minwon-ledger.db":
        overrides["ledger"] = {"url": f"sqlite:///{outbox / 'ledger.db'}"}
    if "gumi" not in config.get("orgs", default={}):
        overrides["orgs"] = {"gumi": GUMI}
    return config.with_overrides(overrides)


def expected_notices(config: Config, hub: Hub, events: list[dict[str, Any]]) -> int:
    rules = parse_rules(__import__("tomllib").loads(
        Path(config["router"]["rules"]).read_text("utf-8")))
    fields = hub.address_fields()
    return sum(
        1 for e in events
        for _ in rules.jobs(parse_event(json.dumps(e).encode()), fields)
    )


class StatusWatcher:
    """Follows ``minwon.notifications`` the way an upstream system would."""

    def __init__(self, url: str) -> None:
        self.conn = connect(url)
        self.channel = self.conn.channel()
        name = f"demo.status.{uuid.uuid4().hex[:8]}"
        self.queue = Queue(name, Exchange(STATUS_EXCHANGE, "topic", durable=True),
                           routing_key="notification.#", exclusive=True, auto_delete=True)
        self.queue(self.channel).declare()
        self.events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.consumer = self.conn.Consumer(self.queue, callbacks=[self._on], accept=None)
        self.consumer.consume()

    def _on(self, body: Any, message: Any) -> None:
        raw = message.body
        self.events.put(json.loads(raw if isinstance(raw, (bytes, str)) else body))
        message.ack()

    def collect(self, expected: int, timeout: float) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        final: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(final) < expected and time.monotonic() < deadline:
            try:
                self.conn.drain_events(timeout=0.1)
            except Exception:  # socket.timeout and the memory transport's Empty
                pass
            while not self.events.empty():
                event = self.events.get()
                seen.append(event)
                if event["data"]["status"] in FINAL:
                    final.add(event["data"]["notification_id"])
        return seen

    def close(self) -> None:
        self.conn.release()


def summarize(statuses: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for event in statuses:
        data = event["data"]
        table[data["channel"]][data["status"]] += 1
    return table


def run_demo(config: Config, *, outbox: str | None = None, keep: bool = False) -> int:
    """Run the demo. Its outbox and ledger go to ``outbox`` (kept), or to a temporary
    folder that is removed at the end unless ``keep``."""
    folder = Path(outbox) if outbox else Path(tempfile.mkdtemp(prefix="minwon-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _run_demo(config, folder, kept=keep or outbox is not None)
    finally:
        if not keep and outbox is None:
            shutil.rmtree(folder, ignore_errors=True)


def _run_demo(config: Config, folder: Path, *, kept: bool) -> int:
    cfg = demo_config(config, folder)
    hub = Hub(cfg)
    print(f"minwon-hub demo on {safe_url(hub.url)} "
          f"({'embedded in-memory transport' if hub.url == MEMORY_URL else 'RabbitMQ'})")
    print(f"retry tiers {cfg['retry']['tiers']}, survey delayed {DEMO_SURVEY_DELAY} "
          "(1h in the shipped rules), quiet hours off")
    events = demo_events(prefix=f"demo-{uuid.uuid4().hex[:6]}")
    hub.start()
    watcher = StatusWatcher(hub.url)
    try:
        expected = expected_notices(cfg, hub, events)
        with open_producer(hub.url) as producer:
            result = producer.publish_batch(events)
        print(f"published {result.published} events ({result.confirmed} confirmed); "
              f"expecting {expected} notices\n")
        statuses = watcher.collect(expected, timeout=60)
    finally:
        watcher.close()
        hub.stop()

    table = summarize(statuses)
    print(f"{'channel':<8} {'sent':>5} {'retried':>8} {'deferred':>9} {'parked':>7} {'skipped':>8}")
    for channel in sorted(table):
        row = table[channel]
        print(f"{channel:<8} {row['sent']:>5} {row['failed']:>8} {row['deferred']:>9} "
              f"{row['dead']:>7} {row['skipped']:>8}")
    parked = [e["data"] for e in statuses if e["data"]["status"] == "dead"]
    if parked:
        print("\nparked on hub.dead (replay with `minwon-hub dlq replay`):")
        for d in parked:
            print(f"  {d['channel']:<6} {d['event_type']:<16} {d['recipient']['address']}: "
                  f"{d['reason']}")
    print(f"\noutbox: {folder}{'' if kept else ' (removed at the end; --keep keeps it)'}")
    for path in sorted(folder.glob("*.jsonl")):
        lines = path.read_text("utf-8").splitlines()
        print(f"  {path.name}: {len(lines)} notices")
    sms = folder / "sms.jsonl"
    if sms.exists():
        first = json.loads(sms.read_text("utf-8").splitlines()[0])
        print(f"\nfirst SMS ({first['kind']}, to {first['to']}):\n{first['body']}")
    ledger_url = cfg.get("ledger", "url")
    if kept or not ledger_url.startswith(f"sqlite:///{folder}"):
        print(f"\nthe case's story: MINWON__LEDGER__URL={ledger_url} "
              "minwon-hub trace 2026-0001234")
    finals = {e["data"]["notification_id"] for e in statuses if e["data"]["status"] in FINAL}
    if len(finals) < expected:
        print(f"\nonly {len(finals)} of {expected} notices settled in time")
        return 1
    return 0
