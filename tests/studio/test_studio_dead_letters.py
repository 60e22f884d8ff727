"""Dead letters in the studio against a real RabbitMQ (own vhost): an operator sees
their organisation's parked notices with the reason, replays one only after a
confirmation page, and it is back on its channel queue; an editor may not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.ledger import ledger_from_config
from hub.studio.accounts import Accounts
from hub.studio.app import create_app
from hub.studio.audit import AuditLog
from hub.topology import DEAD_QUEUE
from tests.conftest import VHost, make_config
from tests.integration.harness import publish, queue_depth, running_hub, wait_for
from tests.integration.test_admin_dlq import case_event
from tests.studio.conftest import PASSWORD, csrf_of

pytestmark = pytest.mark.integration
SMS_QUEUE = "hub.notify.sms"


def _client(app: Any, user: str) -> TestClient:
    c = TestClient(app)
    page = c.get("/login")
    r = c.post("/login", data={"username": user, "password": PASSWORD,
                               "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    return c


def test_operator_replays_a_parked_notice_after_confirming(vhost: VHost,
                                                           tmp_path: Path) -> None:
    config = make_config(tmp_path, vhost.url, retry={"max_attempts": 1})
    events = [case_event("dl-gumi", phone="010-0000-1001"),
              case_event("dl-chilgok", phone="010-0000-1002", org="chilgok")]
    with running_hub(config):
        publish(vhost.url, events)
        wait_for(lambda: queue_depth(vhost.url, DEAD_QUEUE) == 2, timeout=30,
                 message="two parked notices")
    ledger = ledger_from_config(config)
    try:
        accounts = Accounts(ledger.engine)
        accounts.add("lee", PASSWORD, org="gumi", role="operator")
        accounts.add("kim", PASSWORD, org="gumi", role="editor")
        app = create_app(config, ledger=ledger, broker_url=vhost.url)
        editor = _client(app, "kim")
        assert editor.get("/dead").status_code == 403
        assert editor.post("/dead/replay", data={
            "id": "x", "csrf": csrf_of(editor.get("/login").text)}).status_code in (403,)

        c = _client(app, "lee")
        page = c.get("/dead").text
        # Only gumi's notice, with its reason, recipient masked
        assert "attempts_exhausted" in page and "010-****-1001" in page
        assert "1002" not in page and "chilgok" not in page
        notice_id = page.split('name="id" value="')[1].split('"')[0]
        token = csrf_of(page)
        # First POST: a confirmation page, nothing replayed yet
        confirm = c.post("/dead/replay", data={"id": notice_id, "csrf": token})
        assert "다시 보낼까요" in confirm.text and 'id="confirm-replay"' in confirm.text
        assert queue_depth(vhost.url, DEAD_QUEUE) == 2
        # Another organisation's notice cannot be replayed by this operator
        other = c.post("/dead/replay", data={"id": "n-does-not-matter", "csrf": token})
        assert other.status_code == 404
        # Confirmed: back on the SMS queue, audited
        done = c.post("/dead/replay", data={"id": notice_id, "csrf": token,
                                            "confirm": "yes"})
        assert "다시 보냈습니다" in done.text
        assert queue_depth(vhost.url, SMS_QUEUE) == 1
        wait_for(lambda: queue_depth(vhost.url, DEAD_QUEUE) == 1,
                 message="the replayed notice to leave hub.dead")
        assert any(e.action == "replay" and e.detail == "replayed"
                   for e in AuditLog(ledger.engine).recent())
    finally:
        ledger.close()
