"""No silent fallbacks, against a real RabbitMQ (own vhost): a notice for an
organisation the configuration does not know, or one whose template needs a fact
the organisation's profile lacks, is parked on hub.dead with its reason code;
nothing goes out under a made-up name or number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.topology import DEAD_QUEUE
from tests.conftest import VHost, make_config
from tests.integration.harness import all_outbox, drain, outbox, publish, running_hub, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def received(event_id: str, org: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (ROOT / "templates/case.received/samples/full.json").read_text("utf-8"))
    event["id"] = event_id
    event["data"]["org"] = org
    event["data"]["citizen"]["channels"] = ["sms"]
    return event


def parked_until(url: str, count: int) -> list[tuple[bytes, dict[str, Any]]]:
    parked: list[tuple[bytes, dict[str, Any]]] = []
    wait_for(lambda: bool(parked.extend(drain(url, DEAD_QUEUE))) or len(parked) >= count,
             timeout=60, message=f"{count} parked notice(s)")
    return parked


def test_an_unconfigured_org_is_parked_with_its_reason(vhost: VHost, tmp_path: Path) -> None:
    # Given a hub that knows gumi only
    config = make_config(tmp_path, vhost.url)
    with running_hub(config):
        # When events come for gumi and for pohang
        publish(vhost.url, [received("pohang-1", "pohang"), received("gumi-1", "gumi")])
        wait_for(lambda: len(outbox(config, "sms")) == 1, timeout=60, message="gumi's SMS")
        parked = parked_until(vhost.url, 1)
    # Then gumi's notice went out and pohang's is parked, saying why
    (body, headers), = parked
    assert headers["x-hub-reason-code"] == "org_not_configured"
    assert "organisation 'pohang' is not configured" in headers["x-hub-reason"]
    assert "[orgs.pohang]" in headers["x-hub-reason"]
    assert json.loads(body)["event_id"] == "pohang-1"
    # and no notice carries a placeholder name or number
    sent = all_outbox(config)
    assert [r["event_id"] for r in sent] == ["gumi-1"]
    assert all("[pohang]" not in r["body"] and " 110" not in r["body"] for r in sent)


def test_a_missing_fact_is_parked_with_its_reason(vhost: VHost, tmp_path: Path) -> None:
    # Given gumi configured without its internal contact
    config = make_config(tmp_path, vhost.url)
    config = config.with_overrides({"orgs": {"gumi": {"internal_phone": ""}}})
    event: dict[str, Any] = json.loads(
        (ROOT / "templates/case.due_soon/samples/d3.json").read_text("utf-8"))
    event["data"]["case"]["officer"] = {"name": "김담당", "email": "kim@gumi.example.kr"}
    with running_hub(config):
        # When an officer's reminder (which names the internal contact) comes
        publish(vhost.url, [event])
        parked = parked_until(vhost.url, 1)
    # Then it is parked: missing_fact, naming the setting to add
    (_body, headers), = parked
    assert headers["x-hub-reason-code"] == "missing_fact"
    assert "org.internal_phone" in headers["x-hub-reason"]
    assert "[orgs.gumi] internal_phone" in headers["x-hub-reason"]
    assert all_outbox(config) == []
