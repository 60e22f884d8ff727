"""Helpers for tests that run the hub against a real broker: start it in-process,
publish, wait for the outbox, read what was parked or rejected."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.app import Hub
from hub.config import Config
from hub.producer import open_producer
from hub.transport import connect


@contextmanager
def running_hub(config: Config, **start: Any) -> Iterator[Hub]:
    hub = Hub(config)
    hub.start(**start)
    try:
        yield hub
    finally:
        hub.stop()


def publish(url: str, events: Iterable[dict[str, Any] | bytes]) -> None:
    with open_producer(url) as producer:
        result = producer.publish_batch(list(events))
    assert result.ok, result.failed


def outbox(config: Config, channel: str) -> list[dict[str, Any]]:
    path = Path(config["providers"]["outbox"]["dir"]) / f"{channel}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


def all_outbox(config: Config) -> list[dict[str, Any]]:
    return [r for c in config["channels"] for r in outbox(config, c)]


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05,
             message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    assert predicate(), f"timed out after {timeout}s waiting for {message}"


def drain(url: str, queue: str) -> list[tuple[bytes, dict[str, Any]]]:
    """Take every message from ``queue`` (acked): (body, headers)."""
    out = []
    with connect(url) as conn:
        channel = conn.channel()
        while True:
            message = channel.basic_get(queue, no_ack=True)
            if message is None:
                break
            body = message.body if isinstance(message.body, bytes) else message.body.encode()
            out.append((body, dict(message.headers or {})))
    return out


def queue_depth(url: str, queue: str) -> int:
    with connect(url) as conn:
        _, count, _ = conn.channel().queue_declare(queue, passive=True)
        return int(count)
