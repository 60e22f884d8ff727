"""``minwon-hub publish FILE…``: publish CloudEvents read from JSON or JSON-lines files.

Each event is checked as the router would check it (:func:`hub.events.parse_event`:
the schema, the size limit) before anything is published; an invalid one is reported
with its position, id and reason and not published, the valid ones are. The exit
status is 1 when any event was invalid or not confirmed.

The hub's topology is declared first (idempotent, the same declarations as ``run``), so
events published before the hub first ran wait on ``hub.router`` instead of being
returned as unroutable."""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from hub.config import DEFAULT_AMQP_URL, Config
from hub.events import EventRejected, parse_event
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


def _event_id(body: bytes) -> str:
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return "(no id)"
    eid = obj.get("id") if isinstance(obj, dict) else None
    return repr(eid[:80]) if isinstance(eid, str) else "(no id)"


def check_events(events: Sequence[bytes], max_bytes: int) -> tuple[list[bytes], list[str]]:
    """(the valid events, one line per invalid one: position, id, reason)."""
    valid: list[bytes] = []
    invalid: list[str] = []
    for number, body in enumerate(events, 1):
        try:
            parse_event(body, max_bytes=max_bytes)
        except EventRejected as exc:
            invalid.append(f"event {number} {_event_id(body)}: {exc.code}: {exc.reason}")
            continue
        except (ValueError, RecursionError, UnicodeError) as exc:  # the router rejects these too
            invalid.append(f"event {number} {_event_id(body)}: unreadable: "
                           f"{type(exc).__name__}")
            continue
        valid.append(body)
    return valid, invalid


def declare_topology(config: Config, url: str) -> None:
    from hub.topology import from_config
    from hub.transport import connect, profile_for

    profile = profile_for(url)
    topology = from_config(config, quorum_queues=profile.quorum)
    with connect(url, heartbeat=float(config["broker"]["heartbeat"]),
                 connect_timeout=float(config["broker"]["connect_timeout"])) as conn:
        topology.declare(conn.channel())


def publish_files(config: Config, files: Sequence[str], *, url: str | None = None,
                  check: bool = True) -> int:
    url = url or config.broker_url or DEFAULT_AMQP_URL
    max_bytes = int(config["router"]["max_event_bytes"])
    declare_topology(config, url)
    total_failed = 0
    with open_producer(url) as producer:
        for path in files:
            try:
                events = list(read_events(path))
            except OSError as exc:
                print(f"{path}: {exc}", file=sys.stderr)
                total_failed += 1
                continue
            invalid: list[str] = []
            if check:
                events, invalid = check_events(events, max_bytes)
            result = producer.publish_batch(events)
            print(f"{path}: published {result.published}, confirmed {result.confirmed}, "
                  f"failed {len(result.failed)}, invalid {len(invalid)}")
            for line in invalid:
                print(f"  {path}: {line}", file=sys.stderr)
            for event_id, reason in result.failed:
                print(f"  {path}: {event_id or '(no id)'}: {reason}", file=sys.stderr)
            total_failed += len(result.failed) + len(invalid)
    return 1 if total_failed else 0
