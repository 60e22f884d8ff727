"""dlq replay and purge of many messages tell how far they are (stderr), against a real
RabbitMQ."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pika
import pytest

from hub.admin import cli as admin_cli
from hub.admin.cli import Progress
from hub.app import Hub
from hub.ledger import ledger_from_config
from hub.topology import DEAD_QUEUE, REJECTED_QUEUE
from tests.conftest import VHost, make_config
from tests.integration.harness import queue_depth
from tests.integration.test_admin_dlq import cli

pytestmark = pytest.mark.integration


class FakePass:
    def __init__(self, depth: int) -> None:
        self.seen, self.depth, self.acked = 0, depth, 0


def test_progress_speaks_at_most_every_interval_and_not_at_the_end() -> None:
    now = [0.0]
    out = io.StringIO()
    progress = Progress("dlq purge hub.dead", "deleted", every=2.0, clock=lambda: now[0],
                        stream=out)
    p = FakePass(50_000)
    for step in range(1, 50_001):
        p.seen = p.acked = step
        now[0] = step * 0.001  # a thousand messages a second
        progress(p)
    lines = out.getvalue().splitlines()
    assert len(lines) == 24  # every 2 s of 50 s, none for the last message
    assert lines[0] == "dlq purge hub.dead: 2,000 of 50,000 read, 2,000 deleted"


def park(url: str, queue: str, n: int) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    for i in range(n):
        body: dict[str, Any] = {"id": f"lost-{i}", "type": "case.received"}
        channel.basic_publish("", queue, json.dumps(body).encode(),
                              pika.BasicProperties(headers={"x-hub-reason-code": "invalid",
                                                            "x-hub-reason": "r"}))
    connection.close()


def test_purge_and_replay_report_progress(vhost: VHost, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin_cli, "PROGRESS_EVERY", 0.0)
    config = make_config(tmp_path, vhost.url)
    Hub(config).declare()
    park(vhost.url, DEAD_QUEUE, 40)
    code, out = cli(config, capsys, "dlq", "purge", "--yes")
    assert code == 0 and "purged 40 message(s) from hub.dead" in out
    lines = [x for x in out.splitlines() if x.startswith("dlq purge hub.dead: ")]
    assert lines[0] == "dlq purge hub.dead: 1 of 40 read, 1 deleted"
    assert lines[-1] == "dlq purge hub.dead: 39 of 40 read, 39 deleted"
    assert queue_depth(vhost.url, DEAD_QUEUE) == 0

    park(vhost.url, REJECTED_QUEUE, 5)
    ledger_from_config(config).close()  # replay reads the workers' ledger
    code, out = cli(config, capsys, "dlq", "replay", "--queue", "rejected")
    assert "dlq replay hub.rejected: 4 of 5 read, 4 done" in out
