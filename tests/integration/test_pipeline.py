"""The whole path, against a real RabbitMQ: events in, notices out, failures parked,
bad input rejected with its reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.app import Hub
from hub.events import EVENT_TYPES, parse_event
from hub.rules import load_rules
from hub.topology import DEAD_QUEUE, REJECTED_QUEUE
from tests.conftest import VHost, make_config
from tests.integration.harness import all_outbox, drain, outbox, publish, running_hub, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def sample(event_type: str) -> dict[str, Any]:
    folder = ROOT / "templates" / event_type / "samples"
    first = sorted(folder.glob("*.json"))[0]
    event: dict[str, Any] = json.loads(first.read_text("utf-8"))
    return event


def case_event(event_id: str, phone: str, *, channels: list[str] | None = None) -> dict[str, Any]:
    event = sample("case.received")
    event["id"] = event_id
    event["data"]["citizen"] = {"name": "홍길동", "phone": phone,
                                "channels": channels or ["sms"]}
    return event


def expected_jobs(hub: Hub, events: list[dict[str, Any]]) -> set[str]:
    rules = load_rules()
    fields = hub.address_fields()
    return {
        job.notification_id
        for e in events
        for job, _ in rules.jobs(parse_event(json.dumps(e).encode()), fields)
        if job.recipient.address
    }


def test_every_event_type_is_delivered_to_every_recipient(vhost: VHost, tmp_path: Path) -> None:
    # Given one sample event of every type
    events = [sample(t) for t in EVENT_TYPES]
    for i, e in enumerate(events):
        e["id"] = f"all-types-{i}"
        e.pop("time", None)  # no rule delay should depend on it
    config = make_config(tmp_path, vhost.url, router={"rules": str(tmp_path / "rules.toml")})
    # (the survey's one-hour delay is not what this test is about)
    shipped = (ROOT / "hub" / "rules.toml").read_text("utf-8")
    (tmp_path / "rules.toml").write_text(shipped.replace('delay = "1h"', 'delay = "0s"'))
    with running_hub(config) as hub:
        want = expected_jobs(hub, events)
        assert len(want) >= len(EVENT_TYPES)
        # When they are published
        publish(vhost.url, events)
        # Then every (recipient, channel) gets exactly one notice
        wait_for(lambda: {r["notification_id"] for r in all_outbox(config)} >= want,
                 timeout=30, message="every notice in the outbox")
    records = all_outbox(config)
    ids = [r["notification_id"] for r in records]
    assert len(ids) == len(set(ids)), "a notice was sent twice"
    assert set(ids) == want
    types = {r["event_type"] for r in records}
    assert types == set(EVENT_TYPES)
    for r in records:
        assert r["body"] and r["template_version"] and r["attempt"] == 1
        assert r["template"].endswith(f"{r['channel']}.j2")
        if r["channel"] == "sms":
            assert r["kind"] in ("SMS", "LMS")


def test_transient_failure_is_retried_through_a_delay_tier(vhost: VHost, tmp_path: Path) -> None:
    # Given a phone that fails twice, then accepts (no in-process retries)
    config = make_config(tmp_path, vhost.url)
    with running_hub(config):
        # When its notice is published
        publish(vhost.url, [case_event("flaky-1", "010-0000-1002")])
        # Then it arrives on the third attempt, after two delay tiers
        wait_for(lambda: len(outbox(config, "sms")) == 1, timeout=20, message="the retried SMS")
    (record,) = outbox(config, "sms")
    assert record["attempt"] == 3
    assert record["to"] == "010-0000-1002"
    assert drain(vhost.url, DEAD_QUEUE) == []


def test_permanent_failure_is_parked_with_its_reason(vhost: VHost, tmp_path: Path) -> None:
    config = make_config(tmp_path, vhost.url)
    with running_hub(config):
        publish(vhost.url, [case_event("perm-1", "010-0000-2000"),
                            case_event("ok-1", "010-2222-3333")])
        wait_for(lambda: len(outbox(config, "sms")) == 1, message="the good SMS")
        parked: list[tuple[bytes, dict[str, Any]]] = []
        wait_for(lambda: bool(parked.extend(drain(vhost.url, DEAD_QUEUE)) or parked),
                 message="the parked notice")
    (body, headers), = parked
    assert headers["x-hub-reason-code"] == "permanent"
    assert "SIM-PERMANENT" in headers["x-hub-reason"]
    assert headers["x-hub-channel"] == "sms"
    assert json.loads(body)["event_id"] == "perm-1"
    assert [r["event_id"] for r in outbox(config, "sms")] == ["ok-1"]


def test_attempts_used_up_are_parked(vhost: VHost, tmp_path: Path) -> None:
    config = make_config(tmp_path, vhost.url, retry={"max_attempts": 2})
    with running_hub(config):
        publish(vhost.url, [case_event("always-1", "010-0000-3000")])
        parked: list[tuple[bytes, dict[str, Any]]] = []
        wait_for(lambda: bool(parked.extend(drain(vhost.url, DEAD_QUEUE)) or parked),
                 timeout=20, message="the parked notice")
    (_, headers), = parked
    assert headers["x-hub-reason-code"] == "attempts_exhausted"
    assert headers["x-hub-attempt"] == 2
    assert outbox(config, "sms") == []


BAD_INPUTS = [
    pytest.param(b'{"specversion": "1.0", "id": ', "bad_json", "not JSON", id="bad-json"),
    pytest.param(b'{"id": "\xff\xfe"}', "not_utf8", "not UTF-8", id="not-utf8"),
    pytest.param(b"[1, 2]", "not_an_object", "JSON object", id="not-an-object"),
    pytest.param("unknown-type", "unknown_type", "type: 'case.unknown'", id="unknown-type"),
    pytest.param("missing-case-id", "invalid", "data.case: must contain ['id']",
                 id="missing-field"),
    pytest.param("too-large", "too_large", "over the limit of 8192", id="too-large"),
]


@pytest.mark.parametrize(("body", "code", "reason"), BAD_INPUTS)
def test_bad_input_is_rejected_with_its_reason(vhost: VHost, tmp_path: Path, body: Any,
                                               code: str, reason: str) -> None:
    good = case_event("good-after-bad", "010-2222-3333")
    if body == "unknown-type":
        body = json.dumps({**good, "id": "bad", "type": "case.unknown"}).encode()
    elif body == "missing-case-id":
        bad = json.loads(json.dumps(good))
        bad["id"] = "bad"
        del bad["data"]["case"]["id"]
        body = json.dumps(bad).encode()
    elif body == "too-large":
        body = json.dumps({**good, "id": "bad", "padding": "x" * 9000}).encode()
    config = make_config(tmp_path, vhost.url, router={"max_event_bytes": 8192})
    with running_hub(config):
        # When a bad event is followed by a good one
        publish(vhost.url, [body, good])
        # Then the good one is still delivered (the router goes on)
        wait_for(lambda: len(outbox(config, "sms")) == 1, message="the good event's SMS")
        rejected: list[tuple[bytes, dict[str, Any]]] = []
        wait_for(lambda: bool(rejected.extend(drain(vhost.url, REJECTED_QUEUE)) or rejected),
                 message="the rejected event")
    # And the bad one is kept, byte for byte, with its reason
    (kept, headers), = rejected
    assert kept == body
    assert headers["x-hub-reason-code"] == code
    assert reason in headers["x-hub-reason"]
