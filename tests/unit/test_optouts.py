"""수신거부: stored by keyed hash only; the policy skips non-critical notices to an
opted-out address with reason ``opted_out`` and lets critical ones through; a change
is seen by a running policy within its refresh interval."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hub.config import DEFAULTS, Config
from hub.jobs import Job, Recipient
from hub.ledger import open_ledger
from hub.ledger.privacy import DEV_HASH_KEY
from hub.optouts import ALL_ORGS, OptOuts
from hub.policy import OPTED_OUT, Decision, Policy

PHONE = "010-2345-6789"


class Ticks:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}", hash_key=DEV_HASH_KEY) as led:
        yield led


def job(*, critical: bool = False, org: str = "gumi", address: str = PHONE,
        required: bool = False, quiet_hours: bool = False) -> Job:
    return Job(
        notification_id="n-1", event_id="e-1", event_type="survey.requested",
        case_id="2026-1", org=org, channel="sms", template="survey.requested",
        critical=critical, quiet_hours=quiet_hours, required=required,
        recipient=Recipient("citizen", "citizen", "홍길동", address),
        event={"id": "e-1"}, data={"org": org, "citizen": {"phone": address}},
    )


def test_the_address_is_stored_as_keyed_hash_and_mask_only(ledger: Any, tmp_path: Path) -> None:
    optouts = OptOuts(ledger.engine, ledger.hash_key)
    entry = optouts.add("+82 10-2345-6789", "gumi", by="op", note="전화 요청")
    assert entry.masked == "010-****-6789"
    assert entry.address_hash == optouts.digest("01023456789")
    with sqlite3.connect(tmp_path / "l.db") as db:
        dump = "\n".join(db.iterdump())
    assert "2345" not in dump and "23456789" not in dump


def test_policy_skips_non_critical_notices_and_lets_critical_ones_go(ledger: Any) -> None:
    ticks = Ticks()
    optouts = OptOuts(ledger.engine, ledger.hash_key, refresh=5.0, monotonic=ticks)
    policy = Policy(Config(DEFAULTS), optouts=optouts)
    now = __import__("datetime").datetime(2026, 11, 24, 3, 0, tzinfo=__import__(
        "datetime").UTC)
    assert policy.decide(job(), now) == Decision.send()
    # When the number opts out of gumi (written by another process: the studio)
    OptOuts(ledger.engine, ledger.hash_key).add("01023456789", "gumi", by="op")
    # Then the policy sees it once its list is refreshed
    assert policy.decide(job(), now) == Decision.send()  # still cached
    ticks.t = 5.0
    assert policy.decide(job(), now) == Decision.skip(OPTED_OUT)
    # Critical notices and other organisations still go
    assert policy.decide(job(critical=True), now) == Decision.send()
    assert policy.decide(job(org="seoul"), now) == Decision.send()
    # An opt-out from every organisation covers them all
    optouts.add(PHONE, ALL_ORGS, by="admin")
    assert policy.decide(job(org="seoul"), now) == Decision.skip(OPTED_OUT)
    # Removing it (and the gumi one) restores sending
    assert optouts.remove(optouts.digest(PHONE), ALL_ORGS)
    assert optouts.remove(optouts.digest(PHONE), "gumi")
    assert policy.decide(job(), now) == Decision.send()
    assert not optouts.remove(optouts.digest(PHONE), "gumi")


def test_an_unreadable_list_keeps_the_last_one(ledger: Any) -> None:
    ticks = Ticks()
    optouts = OptOuts(ledger.engine, ledger.hash_key, refresh=1.0, monotonic=ticks)
    optouts.add(PHONE, "gumi", by="op")
    assert optouts.blocks(PHONE, "gumi")
    ledger.engine.dispose()
    optouts.engine = __import__("sqlalchemy").create_engine("sqlite:////nonexistent/x.db")
    ticks.t = 10.0
    assert optouts.blocks(PHONE, "gumi")


def test_empty_addresses_are_refused(ledger: Any) -> None:
    optouts = OptOuts(ledger.engine, ledger.hash_key)
    with pytest.raises(ValueError):
        optouts.add("   ", "gumi", by="op")
    assert not optouts.blocks("", "gumi")


def test_notices_the_law_requires_reach_an_opted_out_number_after_quiet_hours(
        ledger: Any) -> None:
    from datetime import UTC, datetime

    from hub.rules import load_rules

    # Given a number that opted out of gumi's notices
    optouts = OptOuts(ledger.engine, ledger.hash_key)
    optouts.add(PHONE, "gumi", by="op")
    policy = Policy(Config(DEFAULTS), optouts=optouts)
    noon, night = datetime(2026, 11, 24, 3, 0, tzinfo=UTC), datetime(2026, 11, 24, 14, 0,
                                                                     tzinfo=UTC)
    # Then a notice the law requires (처리결과) still goes, but not at 23:00 KST
    assert policy.decide(job(required=True), noon) == Decision.send()
    assert policy.decide(job(required=True, quiet_hours=True), night).action == "defer"
    assert policy.decide(job(), noon) == Decision.skip(OPTED_OUT)
    # and the shipped rules mark the notices the law requires, not the optional ones
    rules = load_rules()
    required = {r.event for rules_ in rules.by_event.values() for r in rules_ if r.required}
    assert {"case.received", "case.answered", "case.extended", "case.transferred",
            "case.supplement_requested"} <= required
    assert not required & {"survey.requested", "case.progress"}
