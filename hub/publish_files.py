"""``minwon-hub publish FILE…``: publish CloudEvents read from JSON or JSON-lines files."""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from hub.config import DEFAULT_AMQP_URL, Config
from hub.producer import open_producer


def read_events(path: str) -> Iterator[bytes]:
    """Each event of a file as raw bytes: a JSON array, one JSON object, or JSON lines.
    Lines that are not JSON are passed on as they are: the router rejects them with
    their reason, so nothing in a file is silently skipped."""
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    data = data.removeprefix(codecs.BOM_UTF8)  # editors on Windows write one
    stripped = data.strip()
    if not stripped:
        return
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
    if isinstance(whole, list):
        for item in whole:
            yield json.dumps(item, ensure_ascii=False).encode()
        return
    if isinstance(whole, dict):
        yield stripped
        return
    for line in data.splitlines():
        if line.strip():
            yield line.strip()


def publish_files(config: Config, files: Sequence[str], *, url: str | None = None) -> int:
    url = url or config.broker_url or DEFAULT_AMQP_URL
    total_failed = 0
    with open_producer(url) as producer:
        for path in files:
            try:
                events = list(read_events(path))
            except OSError as exc:
                print(f"{path}: {exc}", file=sys.stderr)
                total_failed += 1
                continue
            result = producer.publish_batch(events)
            print(f"{path}: published {result.published}, confirmed {result.confirmed}, "
                  f"failed {len(result.failed)}")
            for event_id, reason in result.failed:
                print(f"  {event_id or '(no id)'}: {reason}", file=sys.stderr)
            total_failed += len(result.failed)
    return 1 if total_failed else 0
