"""What the benchmark sends: case events that fan out to one notice per channel, and the
organisation profile and configuration every hub process of a run shares.

Each event is a ``case.received`` for a citizen who asked for SMS, e-mail and push
(the shipped rules send ``case.received`` to the citizen on every channel the citizen
lists), so one event is three notices: one per channel worker. Ids are unique per
run; ``time`` carries the moment of publishing with milliseconds (the latency
scenario's clock start).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ORG = "gumi"
GUMI = {
    "name": "구미시",
    "callcenter": "054-480-2114",
    "url": "https://www.gumi.go.kr",
    "sms_sender": "0544802114",
    "email_from": "minwon@gumi.example.kr",
    "email_from_name": "구미시 민원실",
}
CHANNELS: tuple[str, ...] = ("sms", "email", "push")
EVENT_TYPE = "case.received"
SURNAMES = "김이박최정강조윤장임"
GIVEN = ("민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "하은")


def event(run: str, seq: int, *, channels: Sequence[str] = CHANNELS,
          when: datetime | None = None) -> dict[str, Any]:
    """Event number ``seq`` of run ``run``; ``when`` defaults to now (UTC, ms)."""
    now = when or datetime.now(UTC)
    case_id = f"2026-{seq:07d}"
    received = now - timedelta(minutes=5)
    name = SURNAMES[seq % len(SURNAMES)] + GIVEN[seq % len(GIVEN)]
    return {
        "specversion": "1.0",
        "id": f"{run}-{seq:08d}",
        "source": "/gumi/bench",
        "type": EVENT_TYPE,
        "time": now.isoformat(timespec="milliseconds"),
        "subject": case_id,
        "datacontenttype": "application/json",
        "data": {
            "org": ORG,
            "case": {
                "id": case_id,
                "title": "도로 파손 신고",
                "kind": "기타",
                "received_at": received.isoformat(timespec="seconds"),
                "due_at": (received + timedelta(days=3)).isoformat(timespec="seconds"),
                "department": "도로철도과",
                "officer": {"name": "김담당", "phone": "054-480-0000"},
                "url": f"https://minwon.gumi.example.kr/cases/{case_id}",
            },
            "citizen": {
                "name": name,
                "phone": f"010-{1000 + seq % 9000:04d}-{seq % 10000:04d}",
                "email": f"citizen{seq}@example.kr",
                "push_token": f"bench-token-{seq}",
                "channels": list(channels),
            },
        },
    }


def events(run: str, count: int, *, start: int = 0,
           channels: Sequence[str] = CHANNELS) -> Iterator[dict[str, Any]]:
    for seq in range(start, start + count):
        yield event(run, seq, channels=channels)


def new_run_id(prefix: str = "b") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def all_jobs(events_: Iterable[Mapping[str, Any]]) -> list[tuple[str, bytes]]:
    """(channel, job body) of every job the router makes for these events (the shipped
    rules, computed in-process with the router's own code)."""
    from hub.router import Router
    from hub.rules import load_rules

    router = Router(load_rules(None), {"sms": "phone", "email": "email", "push": "push_token"},
                    max_event_bytes=256 * 1024)
    return [(p.routing_key, p.body) for e in events_
            for p in router.route(json.dumps(e, ensure_ascii=False).encode())]


def jobs_for(events_: Sequence[Mapping[str, Any]], channel: str) -> list[bytes]:
    """The job bodies the router would put on ``hub.notify.<channel>`` for these events
    (the shipped rules, computed in-process with the router's own code)."""
    from hub.router import Router
    from hub.rules import load_rules

    router = Router(load_rules(None), {"sms": "phone", "email": "email", "push": "push_token"},
                    max_event_bytes=256 * 1024)
    bodies = []
    for e in events_:
        for publish in router.route(json.dumps(e, ensure_ascii=False).encode()):
            if publish.routing_key == channel:
                bodies.append(publish.body)
    return bodies


#: Secrets come from the environment, never from the file: every process the bench starts
#: gets these (:class:`bench.peers.Launcher`, :class:`bench.procs.HubProcesses`).
SECRET_ENV: dict[str, str] = {"MINWON__LEDGER__HASH_KEY": "bench-hash-key"}


def hub_config_toml(*, url: str, record: Path, latency_ms: float, ledger: str,
                    concurrency: int, prefetch: int, channels: Sequence[str] = CHANNELS,
                    fail_flag: Path | None = None, extra: str = "") -> str:
    """The ``minwon.toml`` of a benchmark run: production defaults except the provider
    (``latency``), no quiet hours (a benchmark runs at any hour) and the org profile."""
    lines = [
        "[broker]",
        f'url = "{url}"',
        f"prefetch = {prefetch}",
        "[worker]",
        f"concurrency = {concurrency}",
        "[ledger]",
        f'url = "{ledger}"',
        "[policy]",
        'quiet_hours = ""',
        "[providers.latency]",
        f"latency_ms = {latency_ms}",
        f'record = "{record}"',
    ]
    if fail_flag is not None:
        lines.append(f'fail_flag = "{fail_flag}"')
    for channel in channels:
        lines += [f"[channels.{channel}]", 'providers = ["latency"]']
    lines.append(f"[orgs.{ORG}]")
    lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in GUMI.items()]
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"
