"""``minwon-hub status`` against the real RabbitMQ while a hub runs: depths and
consumers of the hub queues (management API, and AMQP when the API is not there),
deliveries of the last hour from the ledger, parked and rejected counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.admin.status import StatusReport, gather
from hub.cli import build_parser
from hub.config import Config
from hub.topology import DEAD_QUEUE, REJECTED_QUEUE
from tests.conftest import VHost, make_config
from tests.integration.harness import outbox, publish, queue_depth, running_hub, wait_for
from tests.integration.test_admin_dlq import case_event

pytestmark = pytest.mark.integration

MANAGEMENT_DOWN = "http://127.0.0.1:9"  # discard port: nothing answers HTTP there


def status(config: Config, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["status", *argv])
    code = args.func(config, args)
    out, err = capsys.readouterr()
    return code, out + err


def _consumed(report: StatusReport, *names: str) -> bool:
    by_name = {q.name: q for q in report.queues}
    return all((by_name[n].consumers or 0) >= 1 for n in names)


@pytest.mark.parametrize(("management_url", "source"), [
    ("", "management"),
    (MANAGEMENT_DOWN, "amqp"),
])
def test_status_shows_queues_deliveries_and_parking_lots(
        vhost: VHost, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        management_url: str, source: str) -> None:
    # Given a running hub that sent one SMS, parked one and rejected one event
    config = make_config(tmp_path, vhost.url, retry={"max_attempts": 1},
                         broker={"management_url": management_url})
    with running_hub(config):
        publish(vhost.url, [case_event("ok", phone="010-0000-0000"),
                            case_event("perm", phone="010-0000-2000"),
                            b'{"specversion": "1.0", "id": '])
        wait_for(lambda: len(outbox(config, "sms")) == 1, message="the SMS")
        wait_for(lambda: queue_depth(vhost.url, DEAD_QUEUE) == 1
                 and queue_depth(vhost.url, REJECTED_QUEUE) == 1, message="parked, rejected")
        # When status is asked (the management API refreshes its numbers every few s)
        report: dict[str, Any] = {}

        def settled() -> bool:
            r = gather(config)
            report["r"] = r
            return (_consumed(r, "hub.router", "hub.notify.sms", "hub.notify.email")
                    and r.parked == 1 and r.rejected == 1)

        wait_for(settled, timeout=30, interval=0.5, message="status to show the running hub")
        code, text = status(config, capsys)
        json_code, raw = status(config, capsys, "--json")
    # Then every hub queue is listed with its depth and consumers, from the right source
    r: StatusReport = report["r"]
    assert r.ok and r.queue_source == source
    names = [q.name for q in r.queues]
    assert names[:4] == ["hub.router", "hub.notify.sms", "hub.notify.email", "hub.notify.push"]
    assert {"hub.retry.1s", "hub.retry.2s", DEAD_QUEUE, REJECTED_QUEUE} <= set(names)
    # ... the last hour's deliveries per channel from the ledger
    sms = next(c for c in r.channels if c.channel == "sms")
    assert (sms.sent, sms.failed, sms.parked) == (1, 1, 1)
    # ... and the table says all that, without personal data
    assert code == 0 and json_code == 0
    assert "hub.notify.sms" in text and "CONSUMERS" in text and "SENT" in text
    assert "parked on hub.dead: 1" in text and "rejected on hub.rejected: 1" in text
    if source == "amqp":
        assert "AMQP passive declares, depth and consumers only" in text
        assert all(q.publish_rate is None for q in r.queues)
    else:
        assert "RabbitMQ management API" in text
    data = json.loads(raw)
    assert data["queue_source"] == source and data["parked"] == 1
    assert {"channel": "sms", "sent": 1, "failed": 1, "parked": 1, "skipped": 0} in data[
        "channels"]
    for output in (text, raw):
        assert "010-0000" not in output and "홍길동" not in output


def test_status_reports_an_unreachable_broker_and_still_shows_the_ledger(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a broker address where nothing listens, and an existing (empty) ledger
    config = make_config(tmp_path, "amqp://guest:guest@127.0.0.1:9//",
                         broker={"management_url": MANAGEMENT_DOWN, "connect_timeout": 1})
    from hub.ledger import ledger_from_config

    ledger_from_config(config).close()
    # When status is asked
    code, text = status(config, capsys)
    # Then it says the broker is unreachable, shows the ledger part, and exits 2
    # (a connection problem; stderr has the one line)
    assert code == 2
    assert "minwon-hub: status: broker unreachable" in text
    assert "broker unreachable" in text
    assert "deliveries in the last hour" in text and "sms" in text
