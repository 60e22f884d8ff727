"""Broker URLs against the real RabbitMQ: a vhost holding a '/' (percent-encoded), and a
failover list whose first broker is down, work the same for pika (`minwon-hub publish`)
and kombu (the consuming side)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from hub.topology import ROUTER_QUEUE
from hub.transport import connect
from tests.conftest import AMQP_ROOT, VHost

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def slash_vhost(rabbit: str) -> Iterator[VHost]:
    host = VHost(f"test-{uuid.uuid4().hex[:8]}/cf")  # a '/' inside the name
    host.create()
    host.url = f"{AMQP_ROOT}/{quote(host.name, safe='')}"
    try:
        yield host
    finally:
        host.delete()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def publish(tmp_path: Path, broker_url: str) -> tuple[subprocess.CompletedProcess[str], str]:
    event = json.loads((ROOT / "templates/case.received/samples/full.json").read_text("utf-8"))
    event["id"] = f"url-{uuid.uuid4().hex[:8]}"
    (tmp_path / "e.json").write_text(json.dumps(event), "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINWON")}
    env["MINWON__BROKER__URL"] = broker_url
    result = subprocess.run([sys.executable, "-m", "hub.cli", "publish", "e.json"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return result, event["id"]


def waiting_ids(url: str) -> list[str]:
    ids = []
    with connect(url) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(ROUTER_QUEUE, no_ack=True)) is not None:
            ids.append(message.properties.get("message_id"))
    return ids


def test_a_vhost_with_a_slash_is_the_same_vhost_for_pika_and_kombu(
    slash_vhost: VHost, tmp_path: Path
) -> None:
    # When `publish` (pika) sends an event to .../test-…%2Fcf
    result, event_id = publish(tmp_path, slash_vhost.url)
    assert result.returncode == 0, result.stderr
    assert "published 1, confirmed 1, failed 0, invalid 0" in result.stdout
    # Then kombu, given the same URL, finds it waiting on hub.router of that vhost
    assert waiting_ids(slash_vhost.url) == [event_id]


def test_a_failover_list_skips_a_broker_that_is_down(vhost: VHost, tmp_path: Path) -> None:
    dead = f"amqp://guest:guest@127.0.0.1:{closed_port()}/{vhost.name}"
    urls = json.dumps([dead, vhost.url])  # a TOML array, as in the environment
    # pika (`publish`) goes on to the second broker
    result, event_id = publish(tmp_path, urls)
    assert result.returncode == 0, result.stderr
    # and so does kombu, given the same list
    assert waiting_ids(f"{dead};{vhost.url}") == [event_id]
