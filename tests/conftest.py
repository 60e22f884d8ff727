"""Shared fixtures: a real RabbitMQ vhost per test module, configurations in tmp dirs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from hub.config import Config, load_config

AMQP_ROOT = os.environ.get("MINWON_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")


def _broker_reachable() -> bool:
    parts = urlsplit(AMQP_ROOT)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2):
            return True
    except OSError:
        return False


def rabbitmqctl(*args: str) -> str:
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    out = subprocess.run([exe, *args], check=True, capture_output=True, text=True, timeout=60)
    return out.stdout


class VHost:
    """A throw-away RabbitMQ virtual host: every queue and exchange of a test lives and
    dies with it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = f"{AMQP_ROOT}/{name}"

    def create(self) -> None:
        rabbitmqctl("add_vhost", self.name)
        rabbitmqctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")

    def delete(self) -> None:
        try:
            rabbitmqctl("delete_vhost", self.name)
        except subprocess.CalledProcessError:
            pass


@pytest.fixture(scope="session")
def rabbit() -> str:
    if not _broker_reachable():
        pytest.fail(f"RabbitMQ is not reachable at {AMQP_ROOT}: start it "
                    "(`rabbitmq-server -detached`) or run `bash .ci/run`", pytrace=False)
    return AMQP_ROOT


@pytest.fixture
def vhost(rabbit: str) -> Iterator[VHost]:
    host = VHost(f"test-{uuid.uuid4().hex[:10]}")
    host.create()
    try:
        yield host
    finally:
        host.delete()


def make_config(tmp_path: Path, url: str, **sections: dict[str, Any]) -> Config:
    """A configuration for one test: its own outbox, ledger, short delay tiers."""
    base: dict[str, Any] = {
        "broker": {"url": url, "prefetch": 64, "heartbeat": 10},
        "providers": {"outbox": {"dir": str(tmp_path / "outbox")}},
        "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        "retry": {"tiers": ["1s", "2s"], "max_attempts": 4, "quick_retries": 0,
                  "quick_wait": 0.01},
        "policy": {"quiet_hours": ""},
        "metrics": {"port": 0},
        "worker": {"concurrency": 32, "shutdown_timeout": 10},
        "orgs": {"gumi": {"name": "구미시", "callcenter": "054-480-2114",
                          "internal_unit": "민원여권과", "internal_phone": "054-480-6000",
                          "url": "https://www.gumi.go.kr", "sms_sender": "0544802114",
                          "email_from": "minwon@gumi.example.kr"}},
    }
    config = load_config(environ={})
    config = config.with_overrides(base)
    return config.with_overrides(sections) if sections else config
