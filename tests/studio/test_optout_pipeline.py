"""수신거부 end to end against a real RabbitMQ (own vhost): a running hub skips a
progress note to an opted-out number with reason ``opted_out`` in the ledger and sends
the critical transfer notice to the same number; after the opt-out is removed the next
progress note goes. (Surveys are skipped the same way, once their rule's delay is over.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.optouts import OptOuts
from tests.conftest import VHost, make_config
from tests.integration.harness import outbox, publish, running_hub, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PHONE = "010-7777-0001"


def event(event_type: str, sample: str, event_id: str, case_id: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        (ROOT / "templates" / event_type / "samples" / sample).read_text("utf-8"))
    found["id"] = event_id
    found.pop("time", None)
    found["data"]["org"] = "gumi"
    found["data"]["case"]["id"] = case_id
    found["data"]["citizen"] = {"name": "홍길동", "phone": PHONE, "channels": ["sms"]}
    return found


def test_opted_out_numbers_get_critical_notices_only(vhost: VHost, tmp_path: Path) -> None:
    config = make_config(tmp_path, vhost.url)
    with running_hub(config, channels=("sms",)) as hub:
        optouts = OptOuts(hub.ledger.engine, hub.ledger.hash_key)
        optouts.add(PHONE, "gumi", by="lee", note="전화 요청")
        # The workers' list is re-read every few seconds: wait until it is in force
        wait_for(lambda: hub.policy.optouts.blocks(PHONE, "gumi"), timeout=30,
                 message="the opt-out to reach the worker's policy")
        publish(vhost.url, [
            event("case.progress", "full.json", "oo-progress", "2026-8880001"),
            event("case.transferred", "full.json", "oo-transfer", "2026-8880002"),
        ])

        def settled(case_id: str) -> Any:
            story = hub.ledger.case_story(case_id)
            done = [n for n in story.notices if n.status in ("sent", "skipped")]
            return done[0] if done else None

        wait_for(lambda: settled("2026-8880001") and settled("2026-8880002"), timeout=60,
                 message="both notices settled")
        progress, transfer = settled("2026-8880001"), settled("2026-8880002")
        assert progress.status == "skipped"
        assert progress.history[-1].reason == "opted_out"
        assert transfer.status == "sent"
        assert [r["case_id"] for r in outbox(config, "sms")] == ["2026-8880002"]

        # Removed: the next progress note goes (once the workers re-read the list)
        assert optouts.remove(optouts.digest(PHONE), "gumi")
        wait_for(lambda: not hub.policy.optouts.blocks(PHONE, "gumi"), timeout=30,
                 message="the removal to reach the worker's policy")
        publish(vhost.url, [event("case.progress", "full.json", "oo-progress-2",
                                  "2026-8880003")])
        wait_for(lambda: settled("2026-8880003"), timeout=60,
                 message="the second progress note")
        assert settled("2026-8880003").status == "sent"
