"""``minwon-hub dlq`` against the real RabbitMQ, on notices parked by failing (simulated)
providers: list and filters, show (masked), replay (attempts reset, sent once), an
interrupted replay (nothing lost, nothing sent twice), purge, and rejected events."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hub.admin.dlq import Filter, Parked, Pass, Replay, collect
from hub.cli import build_parser
from hub.config import Config
from hub.ledger import ledger_from_config
from hub.topology import DEAD_QUEUE, REJECTED_QUEUE
from tests.conftest import VHost, make_config
from tests.integration.harness import outbox, publish, queue_depth, running_hub, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SMS_QUEUE = "hub.notify.sms"


def case_event(event_id: str, *, phone: str | None = None, email: str | None = None,
               org: str = "gumi") -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (ROOT / "templates" / "case.received" / "samples" / "full.json").read_text("utf-8"))
    event["id"] = event_id
    event.pop("time", None)
    event["data"]["org"] = org
    citizen: dict[str, Any] = {"name": "홍길동", "channels": []}
    if phone:
        citizen.update(phone=phone)
        citizen["channels"].append("sms")
    if email:
        citizen.update(email=email)
        citizen["channels"].append("email")
    event["data"]["citizen"] = citizen
    return event


def cli(config: Config, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(list(argv))
    code = args.func(config, args)
    out, err = capsys.readouterr()
    return code, out + err


@contextmanager
def parked(config: Config, url: str, events: list[dict[str, Any]], *,
           keep_running: bool = False) -> Iterator[None]:
    """Run a hub that parks every failing notice at its first attempt (max_attempts=1);
    the body runs while it still runs (``keep_running``) or after it stopped."""
    with running_hub(config):
        publish(url, events)
        wait_for(lambda: queue_depth(url, DEAD_QUEUE) == len(events), timeout=20,
                 message=f"{len(events)} parked notices")
        if keep_running:
            yield
            return
    yield


#: a second organisation, configured (an unconfigured one is parked as org_not_configured)
CHILGOK = {"chilgok": {"name": "칠곡군", "callcenter": "054-979-6114",
                       "internal_unit": "민원봉사과", "internal_phone": "054-979-6000",
                       "url": "https://www.chilgok.go.kr", "sms_sender": "0549796114",
                       "email_from": "minwon@chilgok.example.kr"}}

PARKED_EVENTS = [
    case_event("flaky-gumi", phone="010-0000-1001"),  # transient once: attempts used up
    case_event("perm-sms", phone="010-0000-2000"),  # permanent
    case_event("perm-email", email="permanent@simulator.invalid"),  # permanent, e-mail
    case_event("flaky-chilgok", phone="010-0000-1002", org="chilgok"),
]


@pytest.fixture(scope="module")
def lot(rabbit: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    """A vhost whose hub.dead holds the four notices of PARKED_EVENTS (hub stopped)."""
    host = VHost(f"test-dlq-{uuid.uuid4().hex[:8]}")
    host.create()
    try:
        config = make_config(tmp_path_factory.mktemp("lot"), host.url,
                             retry={"max_attempts": 1}, orgs=CHILGOK)
        with parked(config, host.url, PARKED_EVENTS):
            pass
        yield config
    finally:
        host.delete()


@pytest.mark.parametrize(("filters", "expected"), [
    ([], {"flaky-gumi", "perm-sms", "perm-email", "flaky-chilgok"}),
    (["--reason", "permanent"], {"perm-sms", "perm-email"}),
    (["--reason", "PERMANENT"], {"perm-sms", "perm-email"}),
    (["--reason", "attempts_exhausted"], {"flaky-gumi", "flaky-chilgok"}),
    (["--reason", "simulated transient"], {"flaky-gumi", "flaky-chilgok"}),
    (["--channel", "email"], {"perm-email"}),
    (["--org", "chilgok"], {"flaky-chilgok"}),
    (["--reason", "attempts_exhausted", "--org", "gumi"], {"flaky-gumi"}),
    (["--newer-than", "1h"], {"flaky-gumi", "perm-sms", "perm-email", "flaky-chilgok"}),
    (["--older-than", "1h"], set()),
])
def test_list_filters_parked_notices(lot: Config, capsys: pytest.CaptureFixture[str],
                                     filters: list[str], expected: set[str]) -> None:
    # Given four parked notices (lot)
    # When they are listed with the filters
    code, out = cli(lot, capsys, "dlq", "list", "--json", *filters)
    # Then exactly the matching ones are listed, with their reasons, and none is consumed
    assert code == 0
    rows = json.loads(out)
    assert {r["event_id"] for r in rows} == expected
    for r in rows:
        assert r["reason_code"] in ("permanent", "attempts_exhausted")
        assert r["reason"] and r["failed_at"] and r["attempt"] == 1
        assert "010-0000" not in json.dumps(r, ensure_ascii=False)
    assert queue_depth(lot.broker_url, DEAD_QUEUE) == 4


def test_list_keeps_the_queue_and_its_order(lot: Config, capsys: pytest.CaptureFixture[str],
                                            ) -> None:
    # When the lot is listed, listed with filters that skip some, and listed again
    code, first = cli(lot, capsys, "dlq", "list", "--json")
    cli(lot, capsys, "dlq", "list", "--reason", "permanent")
    cli(lot, capsys, "dlq", "list", "--org", "chilgok")
    _, second = cli(lot, capsys, "dlq", "list", "--json")
    _, limited = cli(lot, capsys, "dlq", "list", "--json", "--limit", "2")
    # Then the first and the last show the same notices in the same order (skipped
    # messages went back where they were), and the limit is honoured
    assert code == 0
    ids = [r["id"] for r in json.loads(first)]
    assert ids == [r["id"] for r in json.loads(second)]
    assert [r["id"] for r in json.loads(limited)] == ids[:2]
    assert queue_depth(lot.broker_url, DEAD_QUEUE) == 4


def test_list_table_and_show_mask_personal_data(lot: Config,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # When the table is printed and one notice shown in full
    code, table = cli(lot, capsys, "dlq", "list", "--reason", "attempts_exhausted",
                      "--org", "gumi")
    (parked,) = collect(lot.broker_url, DEAD_QUEUE, Filter(org="gumi",
                                                           reason="attempts_exhausted"))
    show_code, shown = cli(lot, capsys, "dlq", "show", str(parked.id))
    missing_code, _ = cli(lot, capsys, "dlq", "show", "no-such-notice")
    # Then the table names it with channel, org, event, code; show has everything, masked
    assert code == 0 and show_code == 0 and missing_code == 1
    assert "ID" in table and "ATTEMPTS" in table and str(parked.id) in table
    assert "attempts_exhausted" in table and "case.received" in table
    assert "1 message(s) on hub.dead" in table
    assert "citizen 홍*동 <010-****-1001>" in shown
    assert "origin" in shown and "hub.notify.sms" in shown
    for text in (table, shown):
        assert "010-0000-1001" not in text and "01000001001" not in text
        assert "홍길동" not in text
    assert '"x-hub-reason-code": "attempts_exhausted"' in shown


def test_replay_sends_again_with_attempts_reset_and_purge_deletes(
        vhost: VHost, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a running hub whose provider failed one notice transiently at both its
    # attempts (parked: attempts used up, x-hub-attempt 2) and refused another for good
    config = make_config(tmp_path, vhost.url, retry={"max_attempts": 2})
    events = [case_event("flaky", phone="010-0000-1002"),
              case_event("perm", phone="010-0000-2000")]
    with parked(config, vhost.url, events, keep_running=True):
        (before,) = collect(vhost.url, DEAD_QUEUE, Filter(reason="attempts_exhausted"))
        assert before.attempt == 2
        # When the attempts_exhausted one is replayed (the provider answers now)
        code, out = cli(config, capsys, "dlq", "replay", "--reason", "attempts_exhausted")
        # Then it is sent once, at attempt 1 again, and only the permanent one stays parked
        assert code == 0, out
        assert "replayed 1 notices from hub.dead" in out and "sms: 1" in out
        wait_for(lambda: len(outbox(config, "sms")) == 1, message="the replayed SMS")
    (sent,) = outbox(config, "sms")
    assert sent["event_id"] == "flaky" and sent["attempt"] == 1
    assert queue_depth(vhost.url, DEAD_QUEUE) == 1
    ledger = ledger_from_config(config)
    try:
        notice = ledger.notice(sent["notification_id"])
        assert notice is not None and notice.status == "sent"
        assert [h.status for h in notice.history][-3:] == ["queued", "sending", "sent"]
        assert notice.history[-3].reason == "dlq replay"
    finally:
        ledger.close()

    # When the permanent one is purged, first answering "no", then with --yes
    monkeypatch.setattr("builtins.input", lambda _prompt: "n")
    declined, out = cli(config, capsys, "dlq", "purge", "--reason", "permanent")
    assert declined == 1 and "nothing deleted" in out
    assert queue_depth(vhost.url, DEAD_QUEUE) == 1
    code, out = cli(config, capsys, "dlq", "purge", "--reason", "permanent", "--yes")
    # Then it is gone, and nothing else was sent
    assert code == 0 and "purged 1 message(s) from hub.dead" in out
    assert queue_depth(vhost.url, DEAD_QUEUE) == 0
    assert len(outbox(config, "sms")) == 1


class Interrupted(Exception):
    pass


class ReplayKilledBeforeAck(Replay):
    """A replay that dies after the broker confirmed the copy, before the parked message
    is acknowledged: the worst moment."""

    def acknowledge(self, p: Pass, parked: Parked, tag: int) -> None:
        raise Interrupted(parked.id)


def _all_settled(url: str) -> bool:
    return all(queue_depth(url, q) == 0 for q in (SMS_QUEUE, "hub.retry.1s", "hub.retry.2s"))


@pytest.mark.parametrize("workers", ["running", "stopped"])
def test_interrupted_replay_loses_nothing_and_sends_once(
        vhost: VHost, tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str) -> None:
    # Given a notice parked after one transient failure
    config = make_config(tmp_path, vhost.url, retry={"max_attempts": 1})
    ledger = ledger_from_config(config)
    try:
        with parked(config, vhost.url, [case_event("flaky", phone="010-0000-1001")],
                    keep_running=workers == "running"):
            # When a replay is killed after the copy is confirmed, before the ack
            with pytest.raises(Interrupted):
                ReplayKilledBeforeAck(vhost.url, ledger).run(DEAD_QUEUE, Filter())
            # Then the notice is still parked (nothing lost)
            assert queue_depth(vhost.url, DEAD_QUEUE) == 1
            if workers == "running":
                # ... and its copy was sent by the running worker
                wait_for(lambda: len(outbox(config, "sms")) == 1, message="the copy sent")
            else:
                assert queue_depth(vhost.url, SMS_QUEUE) == 1
            # When the replay is run again
            code, out = cli(config, capsys, "dlq", "replay")
            assert code == 0, out
            assert queue_depth(vhost.url, DEAD_QUEUE) == 0
            if workers == "running":
                # Then the parked copy is dropped: the ledger says it was sent
                assert "removed 1 already sent" in out and "replayed 0" in out
    finally:
        ledger.close()
    if workers == "stopped":
        # Then two copies wait on the channel queue ...
        assert queue_depth(vhost.url, SMS_QUEUE) == 2
        # ... and once workers run (the provider succeeding on its in-process retry), the
        # ledger's claim lets exactly one through
        config = make_config(tmp_path, vhost.url, retry={"quick_retries": 1})
        with running_hub(config):
            wait_for(lambda: len(outbox(config, "sms")) >= 1, message="the replayed SMS")
            wait_for(lambda: _all_settled(vhost.url), timeout=15, message="both copies handled")
        assert _all_settled(vhost.url)
    records = outbox(config, "sms")
    assert [r["event_id"] for r in records] == ["flaky"]
    assert queue_depth(vhost.url, DEAD_QUEUE) == 0


def test_rejected_events_are_listed_and_replayed_to_the_router(
        vhost: VHost, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an event rejected as too large by a router with a small limit
    big = case_event("big-1", phone="010-0000-0000")
    big["data"]["note"] = "x" * 9000
    small = make_config(tmp_path, vhost.url, router={"max_event_bytes": 8192})
    with running_hub(small):
        publish(vhost.url, [big])
        wait_for(lambda: queue_depth(vhost.url, REJECTED_QUEUE) == 1, message="the rejection")
    code, out = cli(small, capsys, "dlq", "list", "--queue", "rejected", "--json")
    assert code == 0
    (row,) = json.loads(out)
    assert (row["id"], row["reason_code"], row["org"]) == ("big-1", "too_large", "gumi")
    assert "recipient" not in row
    bad, out = cli(small, capsys, "dlq", "list", "--queue", "rejected", "--channel", "sms")
    assert bad == 2 and "--channel does not apply" in out
    # When the limit is raised and the event replayed
    config = make_config(tmp_path, vhost.url)
    with running_hub(config):
        code, out = cli(config, capsys, "dlq", "replay", "--queue", "rejected")
        # Then the router takes it this time and its notice is sent
        assert code == 0 and "replayed 1 events from hub.rejected" in out
        assert "rejected again" in out  # the warning
        wait_for(lambda: len(outbox(config, "sms")) == 1, message="the notice of the event")
    assert queue_depth(vhost.url, REJECTED_QUEUE) == 0
    assert outbox(config, "sms")[0]["event_id"] == "big-1"
