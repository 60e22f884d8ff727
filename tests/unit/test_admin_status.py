"""hub.admin.status without a broker: the ledger's counts of the last hour
(``counts_since`` on every ledger), how they become per-channel rows, and the table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.admin.rabbit import QueueStats
from hub.admin.status import ChannelCounts, StatusReport, channel_counts, open_ledger_of
from hub.config import load_config
from hub.jobs import Job, Recipient
from hub.ledger import Ledger, open_ledger

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def job(n: int, channel: str) -> Job:
    return Job(
        notification_id=f"n-{n}", event_id="ev-1", event_type="case.answered", case_id="C-1",
        org="gumi", channel=channel, template="case.answered", critical=False,
        recipient=Recipient("citizen", "citizen", "홍길동", "010-1234-5678"),
        event={"id": "ev-1"}, data={"org": "gumi"},
    )


LEDGERS: dict[str, Callable[[Path, Clock], Ledger]] = {
    "memory": lambda tmp, clock: open_ledger("memory://", hash_key=b"k", clock=clock),
    "sqlite": lambda tmp, clock: open_ledger(f"sqlite:///{tmp / 'l.db'}", hash_key=b"k",
                                             clock=clock),
    "null": lambda tmp, clock: open_ledger("null://", hash_key=b"k", clock=clock),
}


@pytest.mark.parametrize("kind", sorted(LEDGERS))
def test_counts_since_counts_notices_by_channel_and_current_status(
        kind: str, tmp_path: Path) -> None:
    # Given notices whose last change was two hours ago, and others within the hour
    clock = Clock()
    ledger = LEDGERS[kind](tmp_path, clock)
    try:
        ledger.record(job(1, "sms"), "sent", attempt=1)  # old: not counted
        clock.now = T0 + timedelta(hours=2)
        ledger.record(job(2, "sms"), "sent", attempt=1)
        ledger.record(job(3, "sms"), "retrying", attempt=1)
        ledger.record(job(4, "sms"), "retrying", attempt=1)
        ledger.record(job(4, "sms"), "dead", attempt=2)  # counted once, as dead
        ledger.record(job(5, "email"), "sent", attempt=1)
        # When counted since an hour ago
        counts = ledger.counts_since(clock.now - timedelta(hours=1))
    finally:
        ledger.close()
    # Then each notice counts once, by its current status (the null ledger keeps nothing)
    if kind == "null":
        assert counts == {}
    else:
        assert counts == {("sms", "sent"): 1, ("sms", "retrying"): 1, ("sms", "dead"): 1,
                          ("email", "sent"): 1}


def test_channel_counts_sum_failures_and_keep_configured_channels_first() -> None:
    counts = {("sms", "sent"): 5, ("sms", "retrying"): 2, ("sms", "dead"): 1,
              ("sms", "failed"): 1, ("sms", "skipped"): 4, ("sms", "queued"): 9,
              ("alimtalk", "sent"): 3}
    assert channel_counts(counts, ["sms", "email"]) == [
        ChannelCounts("sms", sent=5, failed=4, parked=1, skipped=4),
        ChannelCounts("email"),
        ChannelCounts("alimtalk", sent=3),
    ]


def test_the_table_says_when_rates_are_missing_and_counts_parking_lots() -> None:
    from hub.admin.status import render_text

    report = StatusReport(
        since=T0,
        queues=[QueueStats("hub.router", 3, 1, source="amqp"),
                QueueStats("hub.dead", 2, 0, source="amqp"),
                QueueStats("hub.rejected", None, None, exists=False, source="amqp")],
        queue_source="amqp",
        channels=[ChannelCounts("sms", sent=5, failed=2, parked=1)],
    )
    text = render_text(report)
    assert "AMQP passive declares, depth and consumers only, no rates" in text
    assert "hub.router" in text and "not declared" in text
    assert "parked on hub.dead: 2" in text and "rejected on hub.rejected: -" in text
    assert "minwon-hub dlq list" in text
    lines = text.splitlines()
    sms = next(line for line in lines if line.startswith("sms"))
    assert sms.split() == ["sms", "5", "2", "1", "0"]
    assert report.ok and report.parked == 2 and report.rejected is None


def test_a_missing_sqlite_ledger_is_reported_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    config = load_config(environ={}).with_overrides({"ledger": {"url": f"sqlite:///{path}"}})
    with pytest.raises(FileNotFoundError, match="no ledger at"):
        open_ledger_of(config)
    assert not path.exists()
