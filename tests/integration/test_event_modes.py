"""Both CloudEvents content modes on minwon.events, published by raw pika against a real
RabbitMQ: a structured and a binary event are both delivered; a bad binary one lands on
hub.rejected with the mode named and its content type kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pika
import pytest

from hub.topology import EVENTS_EXCHANGE, REJECTED_QUEUE
from tests.conftest import VHost, make_config
from tests.integration.harness import all_outbox, drain, queue_depth, running_hub, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def sample(event_id: str) -> dict[str, Any]:
    folder = ROOT / "templates" / "case.received" / "samples"
    event: dict[str, Any] = json.loads(sorted(folder.glob("*.json"))[0].read_text("utf-8"))
    event["id"] = event_id
    event["data"]["citizen"]["channels"] = ["sms"]
    return event


def publish_raw(url: str, messages: list[tuple[bytes, dict[str, Any], str, str]]) -> None:
    """Publish (body, headers, content type, routing key) with confirms, as an upstream
    system would with plain pika."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for body, headers, content_type, key in messages:
            channel.basic_publish(
                EVENTS_EXCHANGE, key, body,
                pika.BasicProperties(content_type=content_type, headers=headers,
                                     delivery_mode=2),
                mandatory=True)
    finally:
        connection.close()


def binary_message(event: dict[str, Any]) -> tuple[bytes, dict[str, Any], str, str]:
    headers = {f"ce-{k}": v for k, v in event.items() if k not in ("data", "datacontenttype")}
    return (json.dumps(event["data"], ensure_ascii=False).encode(), headers,
            "application/json", event["type"])


def test_structured_and_binary_events_are_both_delivered(vhost: VHost, tmp_path: Path) -> None:
    config = make_config(tmp_path, vhost.url)
    structured, as_binary, bad = sample("mode-structured"), sample("mode-binary"), \
        sample("mode-binary-bad")
    del bad["source"]
    with running_hub(config):
        publish_raw(vhost.url, [
            (json.dumps(structured, ensure_ascii=False).encode(), {},
             "application/cloudevents+json", structured["type"]),
            binary_message(as_binary),
            binary_message(bad),
        ])
        wait_for(lambda: {r["event_id"] for r in all_outbox(config)}
                 >= {"mode-structured", "mode-binary"}, timeout=60,
                 message="both events' notices in the outbox")
        wait_for(lambda: queue_depth(vhost.url, REJECTED_QUEUE) == 1, timeout=30,
                 message="the bad binary event on hub.rejected")
    sent = {r["event_id"]: r for r in all_outbox(config)}
    assert sent["mode-binary"]["body"] == sent["mode-structured"]["body"]
    assert "mode-binary-bad" not in sent
    ((body, headers),) = drain(vhost.url, REJECTED_QUEUE)
    assert json.loads(body) == bad["data"]
    assert headers["ce-id"] == "mode-binary-bad"
    assert headers["x-hub-reason"] == (
        "binary mode: (event): must contain ['source'] properties")
    assert headers["x-hub-reason-code"] == "invalid"


def test_a_rejected_binary_event_is_replayed_in_binary_mode(
        vhost: VHost, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a binary-mode event rejected as too large by a router with a small limit
    from tests.integration.test_admin_dlq import cli

    big = sample("mode-binary-big")
    big["data"]["note"] = "x" * 9000
    small = make_config(tmp_path, vhost.url, router={"max_event_bytes": 8192})
    with running_hub(small):
        publish_raw(vhost.url, [binary_message(big)])
        wait_for(lambda: queue_depth(vhost.url, REJECTED_QUEUE) == 1, message="the rejection")
    code, out = cli(small, capsys, "dlq", "list", "--queue", "rejected", "--json")
    (row,) = json.loads(out)
    assert (row["id"], row["reason_code"], row["org"]) == ("mode-binary-big", "too_large", "gumi")
    # When the limit is raised and it is replayed, it is read in binary mode again
    config = make_config(tmp_path, vhost.url)
    with running_hub(config):
        code, out = cli(config, capsys, "dlq", "replay", "--queue", "rejected")
        assert code == 0 and "replayed 1 events from hub.rejected" in out
        wait_for(lambda: {r["event_id"] for r in all_outbox(config)} == {"mode-binary-big"},
                 timeout=60, message="the notice of the replayed event")
    assert queue_depth(vhost.url, REJECTED_QUEUE) == 0


def test_the_node_example_publishes_both_modes_and_both_are_delivered(
        vhost: VHost, tmp_path: Path) -> None:
    # Given the hub running on its own vhost, and the Node.js example of docs/upstream.md
    import os
    import subprocess

    from tests.upstream import NODE_DIR, node_modules

    node_modules()
    config = make_config(tmp_path, vhost.url)
    with running_hub(config):
        # When it publishes one event in binary and one in structured mode
        done = subprocess.run(["node", "publish.mjs", "node-example"], cwd=NODE_DIR,
                              env={**os.environ, "MINWON_BROKER_URL": vhost.url},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines() == ["published node-example-binary",
                                            "published node-example-structured"]
        # Then both are delivered, alike
        wait_for(lambda: {r["event_id"] for r in all_outbox(config)}
                 == {"node-example-binary", "node-example-structured"}, timeout=60,
                 message="both events' notices in the outbox")
    sent = {r["event_id"]: r for r in all_outbox(config)}
    assert sent["node-example-binary"]["body"] == sent["node-example-structured"]["body"]
    assert queue_depth(vhost.url, REJECTED_QUEUE) == 0


def test_the_node_example_says_when_nothing_is_bound(vhost: VHost) -> None:
    # Given a vhost where the hub never declared its topology
    import os
    import subprocess

    from tests.upstream import NODE_DIR, node_modules

    node_modules()
    connection = pika.BlockingConnection(pika.URLParameters(vhost.url))
    connection.channel().exchange_declare(EVENTS_EXCHANGE, "topic", durable=True)
    connection.close()
    done = subprocess.run(["node", "publish.mjs", "nobody"], cwd=NODE_DIR,
                          env={**os.environ, "MINWON_BROKER_URL": vhost.url},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "unroutable" in done.stderr and "nobody-binary" in done.stderr
