"""hub.admin.dlq without a broker: reading parked messages, filters, the headers of a
replayed copy, and what list/show print (masked)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.admin.dlq import Filter, Parked, list_rows, render_show, replay_headers, show_json
from hub.jobs import Job, Recipient
from hub.topology import DEAD_QUEUE, REJECTED_QUEUE

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 15:00 KST


def job(*, channel: str = "sms", org: str = "gumi", address: str = "010-1234-5678") -> Job:
    return Job(
        notification_id="n-1", event_id="ev-1", event_type="case.answered",
        case_id="2026-0001234", org=org, channel=channel, template="case.answered",
        critical=False,
        recipient=Recipient("citizen", "citizen", "홍길동", address,
                            {"name": "홍길동", "phone": address}),
        event={"id": "ev-1", "type": "case.answered"},
        data={"org": org, "case": {"id": "2026-0001234"},
              "citizen": {"name": "홍길동", "phone": address}},
    )


def dead(*, code: str = "permanent", reason: str = "outbox SIM-PERMANENT: refused",
         channel: str = "sms", org: str = "gumi", age: timedelta = timedelta(minutes=10),
         attempt: int = 3, **extra: Any) -> Parked:
    headers = {
        "x-hub-reason": reason, "x-hub-reason-code": code, "x-hub-channel": channel,
        "x-hub-origin": f"hub.notify.{channel}", "x-hub-failed-at": (NOW - age).isoformat(),
        "x-hub-attempt": attempt, **extra,
    }
    return Parked.from_message(DEAD_QUEUE, job(channel=channel, org=org).encode(), headers)


def test_a_parked_job_is_read_from_its_body_and_headers() -> None:
    # Given a job parked by a worker (no message id: the id comes from the body)
    parked = dead(code="attempts_exhausted", reason="attempts used up (3): timeout")
    # Then every field operators filter and read by is there
    assert (parked.id, parked.channel, parked.org, parked.event_type, parked.case_id) == (
        "n-1", "sms", "gumi", "case.answered", "2026-0001234")
    assert (parked.reason_code, parked.attempt, parked.origin) == (
        "attempts_exhausted", 3, "hub.notify.sms")
    assert parked.failed_at == NOW - timedelta(minutes=10)
    assert parked.event_id == "ev-1"
    assert parked.recipient == "citizen 홍*동 <010-****-5678>"


def test_a_message_rabbitmq_dead_lettered_takes_its_reason_from_x_death() -> None:
    # Given a job RabbitMQ parked after too many redeliveries (no x-hub- headers)
    when = datetime(2026, 11, 24, 5, 0)  # py-amqp gives naive UTC
    headers = {
        "x-first-death-reason": "delivery_limit", "x-first-death-queue": "hub.notify.email",
        "x-death": [{"reason": "delivery_limit", "queue": "hub.notify.email", "time": when,
                     "count": 1}],
    }
    parked = Parked.from_message(DEAD_QUEUE, job(channel="email").encode(), headers)
    # Then its code is RabbitMQ's reason, with queue and time from x-death
    assert parked.reason_code == "delivery_limit"
    assert parked.reason == "dead-lettered by RabbitMQ (delivery_limit) from hub.notify.email"
    assert parked.origin == "hub.notify.email"
    assert parked.failed_at == when.replace(tzinfo=UTC)
    assert parked.attempt is None


def test_a_body_that_is_no_job_is_kept_readable_but_not_replayable() -> None:
    parked = Parked.from_message(DEAD_QUEUE, b"\xff not json", {
        "x-hub-reason-code": "malformed_job", "x-hub-reason": "malformed job: ...",
        "x-hub-channel": "push"}, "m-9")
    assert parked.job is None and parked.recipient is None
    assert (parked.id, parked.channel, parked.reason_code) == ("m-9", "push", "malformed_job")
    assert isinstance(parked.masked_body(), str)


def test_a_rejected_event_is_read_from_its_envelope() -> None:
    body = json.dumps({"id": "ev-7", "type": "case.unknown", "source": "/gumi/x",
                       "data": {"org": "gumi", "case": {"id": "C-1"},
                                "citizen": {"name": "홍길동", "phone": "010-1234-5678"}}})
    parked = Parked.from_message(REJECTED_QUEUE, body, {
        "x-hub-reason-code": "unknown_type", "x-hub-reason": "type: 'case.unknown' ...",
        "x-hub-rejected-at": NOW.isoformat()}, "ev-7")
    assert (parked.id, parked.event_type, parked.org, parked.case_id, parked.channel) == (
        "ev-7", "case.unknown", "gumi", "C-1", None)
    assert parked.failed_at == NOW and parked.event_id == "ev-7"
    assert "recipient" not in parked.summary()
    assert parked.masked_body()["data"]["citizen"] == {"name": "홍*동",
                                                       "phone": "010-****-5678"}


@pytest.mark.parametrize(("where", "matches"), [
    (Filter(), True),
    (Filter(reason="permanent"), True),
    (Filter(reason="PERMANENT"), True),
    (Filter(reason="perm"), True),  # a substring of the reason text ("SIM-PERMANENT")
    (Filter(reason="sim-permanent"), True),
    (Filter(reason="attempts_exhausted"), False),
    (Filter(reason="timeout"), False),
    (Filter(channel="sms"), True),
    (Filter(channel="email"), False),
    (Filter(org="gumi"), True),
    (Filter(org="pohang"), False),
    (Filter(older_than=300), True),  # parked 10 minutes ago
    (Filter(older_than=3600), False),
    (Filter(newer_than=3600), True),
    (Filter(newer_than=60), False),
    (Filter(older_than=60, newer_than=3600), True),
    (Filter(ids=frozenset({"n-1"})), True),
    (Filter(ids=frozenset({"n-2"})), False),
    (Filter(reason="permanent", channel="sms", org="pohang"), False),
])
def test_filters(where: Filter, matches: bool) -> None:
    assert where.matches(dead(), NOW) is matches


def test_an_unknown_parking_time_matches_no_age_filter() -> None:
    parked = Parked.from_message(DEAD_QUEUE, job().encode(), {"x-hub-reason-code": "permanent"})
    assert Filter().matches(parked, NOW)
    assert not Filter(older_than=1).matches(parked, NOW)
    assert not Filter(newer_than=10**9).matches(parked, NOW)


def test_a_replayed_copy_starts_again_at_attempt_one_without_parking_headers() -> None:
    # Given the headers of a parked job that RabbitMQ once dead-lettered as well
    headers = {
        "x-hub-attempt": 6, "x-hub-reason": "r", "x-hub-reason-code": "attempts_exhausted",
        "x-hub-channel": "sms", "x-hub-origin": "hub.notify.sms", "x-hub-failed-at": "t",
        "x-hub-not-before": "2026-11-24T08:00:00+09:00", "x-death": [{}],
        "x-first-death-reason": "delivery_limit", "x-last-death-queue": "q",
        "x-delivery-count": 2, "traceparent": "00-abc",
    }
    # When the replay headers are made
    # Then attempts restart, parking and broker headers are gone, the rest is kept
    assert replay_headers(headers, attempt=1) == {
        "x-hub-attempt": 1, "x-hub-not-before": "2026-11-24T08:00:00+09:00",
        "traceparent": "00-abc"}
    assert replay_headers({"x-hub-reason": "r", "x-hub-rejected-at": "t", "a": 1},
                          attempt=None) == {"a": 1}


def test_list_rows_show_no_recipient_and_mask_reasons() -> None:
    parked = dead(reason="provider says 010-1234-5678 is unknown; mail hong@example.kr")
    headers, rows = list_rows([parked], "Asia/Seoul")
    assert headers == ["ID", "CHANNEL", "ORG", "EVENT", "CASE", "CODE", "REASON",
                       "FAILED AT", "ATTEMPTS"]
    (row,) = rows
    assert row[:6] == ["n-1", "sms", "gumi", "case.answered", "2026-0001234", "permanent"]
    assert "010-****-5678" in row[6] and "h***@example.kr" in row[6]
    assert row[7:] == ["2026-11-24 14:50:00", "3"]  # KST
    assert "홍" not in " ".join(row)


def test_a_long_reason_is_cut_in_the_table_but_not_in_show() -> None:
    parked = dead(reason="x" * 200)
    _, rows = list_rows([parked], "UTC", reason_width=60)
    assert len(rows[0][6]) == 60 and rows[0][6].endswith("…")
    assert "x" * 200 in render_show(parked, "UTC")


@pytest.mark.parametrize("render", [
    lambda p: render_show(p, "Asia/Seoul"),
    show_json,
])
def test_show_masks_every_name_and_address(render: Any) -> None:
    parked = dead(reason="refused 010-1234-5678")
    text = render(parked)
    assert "010-1234-5678" not in text and "01012345678" not in text
    assert "홍길동" not in text
    assert "홍*동" in text and "010-****-5678" in text
    assert "x-hub-reason-code" in text and "permanent" in text
