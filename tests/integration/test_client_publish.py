"""The light client against a real RabbitMQ: sync and asyncio publishing with confirms,
in both modes, with validate=True; and that it installs without the hub's dependencies."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pika
import pytest

from hub.topology import EVENTS_EXCHANGE
from minwon_client import CaseEvent, InvalidEvent, PublishError, open_producer
from minwon_client.aio import AsyncProducer
from tests.conftest import VHost, make_config
from tests.integration.harness import all_outbox, running_hub, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def received(event_id: str) -> CaseEvent:
    folder = ROOT / "templates" / "case.received" / "samples"
    data: dict[str, Any] = json.loads(sorted(folder.glob("*.json"))[0].read_text("utf-8"))["data"]
    data["citizen"]["channels"] = ["sms"]
    return CaseEvent.received(**data, id=event_id)


def test_sync_and_asyncio_publishing_in_both_modes_is_delivered(
        vhost: VHost, tmp_path: Path) -> None:
    config = make_config(tmp_path, vhost.url)
    bad = CaseEvent.create("case.received", org="gumi", case=received("x").data["case"])
    with running_hub(config):
        with open_producer(vhost.url, validate=True) as producer:
            producer.publish(received("client-sync-structured"))
            with pytest.raises(InvalidEvent, match="must contain \\['citizen'\\]"):
                producer.publish(bad)  # never reaches the broker
        with open_producer(vhost.url, mode="binary") as producer:
            result = producer.publish_batch([received(f"client-sync-binary-{i}")
                                             for i in range(3)])
            assert result.ok and result.confirmed == 3, result.failed

        async def publish_async() -> Any:
            async with AsyncProducer(vhost.url, validate=True, mode="binary") as producer:
                await producer.publish(received("client-async-binary"))
                return await producer.publish_batch(
                    [received("client-async-1"), received("client-async-2"), bad])

        result = asyncio.run(publish_async())
        assert (result.published, result.confirmed) == (2, 2)
        assert [(eid, reason.split(":")[0]) for eid, reason in result.failed] == [
            (bad.id, "invalid event")]
        want = {"client-sync-structured", "client-async-binary", "client-async-1",
                "client-async-2", *(f"client-sync-binary-{i}" for i in range(3))}
        wait_for(lambda: {r["event_id"] for r in all_outbox(config)} == want, timeout=60,
                 message="every event's notice")


def test_unroutable_and_missing_exchange_are_reported(vhost: VHost) -> None:
    # Given the exchange, but no queue bound to it (the hub never ran here)
    connection = pika.BlockingConnection(pika.URLParameters(vhost.url))
    connection.channel().exchange_declare(EVENTS_EXCHANGE, "topic", durable=True)
    connection.close()
    with open_producer(vhost.url) as producer, pytest.raises(PublishError, match="unroutable"):
        producer.publish(received("nobody-sync"))

    async def publish_async() -> Any:
        async with AsyncProducer(vhost.url) as producer:
            return await producer.publish_batch([received("nobody-async")])

    result = asyncio.run(publish_async())
    assert result.failed == [("nobody-async", "unroutable: case.received")]


def test_the_client_installs_without_the_hub_s_dependencies(tmp_path: Path) -> None:
    # Given the client's wheel, built from clients/python
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(wheels), str(ROOT / "clients" / "python")],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("minwon_client-*.whl")
    # When it is installed into an empty virtual environment
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", f"{wheel}[asyncio]"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    # Then it holds the client and what it needs only, and builds and checks events
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, timeout=120)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert {"minwon-client", "pika", "fastjsonschema", "aio-pika"} <= names
    heavy = {"minwon-hub", "sqlalchemy", "boto3", "botocore", "babel", "phonenumbers",
             "kombu", "jinja2", "alembic", "holidays"}
    assert names & heavy == set()
    script = (
        "from minwon_client import CaseEvent, InvalidEvent\n"
        "import minwon_client.aio\n"
        "e = CaseEvent.received(org='gumi', case={'id': '1', 'title': 't', "
        "'department': 'd', 'officer': {'name': 'n'}}, citizen={'name': 'c'}).validate()\n"
        "try:\n    CaseEvent.create('case.nope', org='gumi', case={}).validate()\n"
        "except InvalidEvent as exc:\n    print(exc.code)\n"
    )
    ran = subprocess.run([str(python), "-c", script], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "unknown_type"


def test_the_python_example_of_the_guide_publishes(vhost: VHost, tmp_path: Path) -> None:
    config = make_config(tmp_path, vhost.url)
    example = ROOT / "clients" / "python" / "examples" / "publish.py"
    with running_hub(config):
        done = subprocess.run([sys.executable, str(example), "py-example"],
                              env={**os.environ, "MINWON_BROKER_URL": vhost.url},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip() == "published py-example-received py-example-extended"
        wait_for(lambda: {r["event_id"] for r in all_outbox(config)}
                 == {"py-example-received", "py-example-extended"}, timeout=60,
                 message="both events' notices")
