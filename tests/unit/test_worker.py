"""The channel worker's decisions, without a broker: ChannelWorker.process() with a fake
sender, the real templates, a memory ledger and a clock the test sets. Each outcome is
checked by what the worker asks to publish, what it sent and what the ledger says."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from channels.base import (
    CredentialsError,
    JobContext,
    Message,
    PermanentError,
    Receipt,
    SendError,
    TransientError,
)
from hub.config import DEFAULTS, Config, deep_merge
from hub.consumer import ConsumingLoop, Publish, Settlement
from hub.events import parse_event
from hub.jobs import (
    ATTEMPT,
    CHANNEL,
    DEFERRED_FLAG,
    FAILED_AT,
    NOT_BEFORE,
    ORIGIN,
    REASON,
    REASON_CODE,
    Job,
)
from hub.ledger import Ledger, open_ledger
from hub.ledger.memory import MemoryLedger
from hub.policy import Policy
from hub.retry import RetryPolicy
from hub.rules import load_rules
from hub.templates import TemplateStore
from hub.topology import DEAD_QUEUE, RETRY_EXCHANGE, STATUS_EXCHANGE, Topology
from hub.transport import PROFILES
from hub.worker import ChannelWorker

ROOT = Path(__file__).resolve().parents[2]
KST = ZoneInfo("Asia/Seoul")
FIELDS = {"sms": "phone", "email": "email", "push": "push_token"}
TOPOLOGY = Topology.build(["sms", "email", "push"], ["10s", "1m"])
GUMI = {"key": "gumi", "name": "구미시", "callcenter": "054-480-2114", "url": "https://gumi.go.kr",
        "internal_unit": "민원여권과", "internal_phone": "054-480-6000",
        "sms_sender": "0544802114", "email_from": "minwon@gumi.example.kr"}
MAX_ATTEMPTS = 3


def kst(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=KST)


class Clock:
    """The worker's clock; the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeSender:
    """Records every message; answers with the next planned outcome (a receipt by
    default, or raises the planned exception)."""

    def __init__(self, *outcomes: Exception) -> None:
        self.outcomes = list(outcomes)
        self.messages: list[Message] = []

    def prepare(self, message: Message, context: JobContext) -> Message:
        return message

    def send(self, message: Message) -> Receipt:
        self.messages.append(message)
        if self.outcomes:
            raise self.outcomes.pop(0)
        return Receipt("fake", f"fake-{len(self.messages)}")


@pytest.fixture(scope="module")
def store() -> Iterator[TemplateStore]:
    with TemplateStore(ROOT / "templates", {"gumi": GUMI}, reload_interval=0) as s:
        yield s


@pytest.fixture
def ledger() -> Ledger:
    return open_ledger("memory://", hash_key=b"k")


@pytest.fixture
def clock() -> Clock:
    return Clock(kst(24, 14))


def make_worker(
    store: TemplateStore,
    ledger: Ledger,
    clock: Clock,
    sender: FakeSender,
    *,
    channel: str = "sms",
    policy: Policy | None = None,
    quick_retries: int = 0,
) -> ChannelWorker:
    return ChannelWorker(
        channel,
        address_field=FIELDS[channel],
        sender=sender,
        store=store,
        ledger=ledger,
        retry=RetryPolicy(TOPOLOGY.tiers, MAX_ATTEMPTS, quick_retries, 0.0),
        topology=TOPOLOGY,
        orgs=lambda key: dict(GUMI) if key == "gumi" else {"key": key, "name": key},
        policy=policy,
        clock=clock,
    )


def sample(event_type: str, name: str = "full.json") -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (ROOT / "templates" / event_type / "samples" / name).read_text("utf-8"))
    return event


def make_job(channel: str = "sms", event_type: str = "case.received", *,
             event_id: str = "ev-worker-1", drop: str = "") -> Job:
    raw = sample(event_type)
    raw["id"] = event_id
    if "citizen" in raw["data"]:
        person = {"name": "홍길동", "phone": "010-1234-5678", "email": "hong@example.kr",
                  "push_token": "tok-hong"}
        raw["data"]["citizen"] = {k: v for k, v in person.items() if k != drop}
    event = parse_event(json.dumps(raw, ensure_ascii=False).encode())
    for job, _ in load_rules().jobs(event, FIELDS):
        if job.channel == channel:
            return job
    raise AssertionError(f"no {channel} job for {event_type}")


def status_events(settlement: Settlement) -> list[dict[str, Any]]:
    return [json.loads(p.body) for p in settlement.publishes if p.exchange == STATUS_EXCHANGE]


def others(settlement: Settlement) -> list[Publish]:
    return [p for p in settlement.publishes if p.exchange != STATUS_EXCHANGE]


def status_of(ledger: Ledger, job: Job) -> str | None:
    notice = ledger.notice(job.notification_id)
    return None if notice is None else notice.status


# -- sent -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("channel", "to", "sender_field", "subject"),
    [
        ("sms", "010-1234-5678", "0544802114", True),  # 접수 notices are LMS (접수번호, 처리기한)
        ("email", "hong@example.kr", "minwon@gumi.example.kr", True),
        ("push", "tok-hong", None, True),  # a push notification has no sender
    ],
)
def test_a_notice_is_rendered_sent_and_recorded(
    store: TemplateStore, ledger: Ledger, clock: Clock,
    channel: str, to: str, sender_field: str | None, subject: bool,
) -> None:
    # Given a job for the citizen on one channel
    sender = FakeSender()
    worker = make_worker(store, ledger, clock, sender, channel=channel)
    job = make_job(channel)
    # When it is processed as the first attempt
    settlement = worker.process(job, {ATTEMPT: 1}, 7, 1)
    # Then the provider got one rendered message
    (message,) = sender.messages
    assert (message.notification_id, message.to, message.channel) == (
        job.notification_id, to, channel)
    assert message.body and "구미시" in message.body + (message.subject or "")
    assert (message.subject is not None) is subject
    assert message.sender == sender_field
    assert message.template == f"case.received/{channel}.j2"
    assert message.template_version and message.attempt == 1
    assert message.kind == ("LMS" if channel == "sms" else message.kind)
    # And the settlement acks it with one status event, notification.sent
    assert settlement.delivery_tag == 7 and not settlement.reject
    assert others(settlement) == []
    (status,) = settlement.publishes
    assert (status.exchange, status.routing_key, status.mandatory) == (
        STATUS_EXCHANGE, "notification.sent", False)
    event = json.loads(status.body)
    assert event["type"] == "notification.sent"
    assert event["data"]["status"] == "sent"
    assert event["data"]["provider"] == "fake"
    assert event["data"]["provider_message_id"] == "fake-1"
    assert event["data"]["template_version"] == message.template_version
    assert event["data"]["notification_id"] == job.notification_id
    assert to not in status.body.decode()  # the recipient is masked
    assert event["time"] == "2026-11-24T14:00:00.000+09:00"
    # And the ledger says sent
    assert status_of(ledger, job) == "sent"
    assert settlement.after is not None


def test_the_ledger_keeps_the_template_version_sent(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    sender = FakeSender()
    make_worker(store, ledger, clock, sender).process(make_job(), {ATTEMPT: 1}, 1, 1)
    notice = ledger.notice(make_job().notification_id)
    assert notice is not None
    assert notice.template_version == sender.messages[0].template_version


def test_a_notice_already_sent_is_not_sent_again(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    # Given a job that was sent
    sender = FakeSender()
    worker = make_worker(store, ledger, clock, sender)
    job = make_job()
    worker.process(job, {ATTEMPT: 1}, 1, 1)
    # When the same job is delivered again (a redelivery, or a second worker)
    again = worker.process(job, {ATTEMPT: 1}, 2, 1)
    # Then nothing is sent and nothing is published: it is only acked
    assert len(sender.messages) == 1
    assert again.publishes == [] and not again.reject
    assert again.delivery_tag == 2
    assert status_of(ledger, job) == "sent"


def test_a_notice_claimed_by_another_worker_is_delayed_not_sent(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    # Given a job another worker holds (claimed, sending)
    sender = FakeSender()
    worker = make_worker(store, ledger, clock, sender)
    job = make_job()
    ledger.claim(job, 1)
    # When it is delivered here
    settlement = worker.process(job, {ATTEMPT: 1, "x-death": ["..."], "other": 1}, 3, 1)
    # Then it goes round the first delay tier, its attempt not counted, and nothing is sent
    assert sender.messages == []
    (publish,) = settlement.publishes
    assert (publish.exchange, publish.routing_key) == (RETRY_EXCHANGE, "10s")
    assert publish.headers == {ATTEMPT: 1, "CC": ["sms"]}  # only the hub's own headers
    assert publish.message_id == job.notification_id
    assert Job.decode(publish.body) == job


# -- not before -----------------------------------------------------------------------
def test_a_job_not_due_yet_waits_in_the_tiers_and_is_announced_once(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    # Given a job not to be sent before 14:30
    sender = FakeSender()
    worker = make_worker(store, ledger, clock, sender)
    job = make_job()
    due = kst(24, 14, 30)
    # When it arrives at 14:00
    first = worker.process(job, {ATTEMPT: 1, NOT_BEFORE: due.isoformat()}, 1, 1)
    # Then it goes to the longest tier not longer than the wait, flagged as announced
    (delay,) = others(first)
    assert (delay.exchange, delay.routing_key) == (RETRY_EXCHANGE, "1m")
    assert delay.headers == {ATTEMPT: 1, NOT_BEFORE: due.isoformat(), DEFERRED_FLAG: 1,
                             "CC": ["sms"]}
    # And one notification.deferred says until when
    (status,) = status_events(first)
    assert status["data"]["status"] == "deferred"
    assert status["data"]["retry_at"] == due.isoformat()
    assert status_of(ledger, job) == "deferred"
    # When it comes back at 14:29:55, still early
    clock.now = kst(24, 14, 29, 55)
    second = worker.process(job, delay.headers, 2, 1)
    # Then it waits again, in the tier that fits, without a second status event
    (again,) = second.publishes
    assert (again.exchange, again.routing_key) == (RETRY_EXCHANGE, "10s")
    assert again.headers[NOT_BEFORE] == due.isoformat()
    # When it comes back after 14:30
    clock.now = kst(24, 14, 30, 5)
    third = worker.process(job, again.headers, 3, 1)
    # Then it is sent
    assert len(sender.messages) == 1
    assert [s["data"]["status"] for s in status_events(third)] == ["sent"]
    assert status_of(ledger, job) == "sent"


@pytest.mark.parametrize(
    "not_before",
    ["2026-11-24T13:59:59+09:00", "2026-11-24T14:00:00+09:00", "garbage", ""],
)
def test_a_job_due_now_or_unreadable_not_before_is_sent(
    store: TemplateStore, ledger: Ledger, clock: Clock, not_before: str
) -> None:
    sender = FakeSender()
    settlement = make_worker(store, ledger, clock, sender).process(
        make_job(), {ATTEMPT: 1, NOT_BEFORE: not_before}, 1, 1)
    assert len(sender.messages) == 1
    assert [s["data"]["status"] for s in status_events(settlement)] == ["sent"]


# -- failures -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "code"),
    [
        (PermanentError("no such number", provider="fake", code="E404"), "permanent"),
        (CredentialsError("key refused", provider="fake", code="401"), "credentials"),
    ],
)
def test_a_refusal_for_good_is_parked_under_its_code(
    store: TemplateStore, ledger: Ledger, clock: Clock, error: Exception, code: str
) -> None:
    sender = FakeSender(error)
    settlement = make_worker(store, ledger, clock, sender, quick_retries=2).process(
        make_job(), {ATTEMPT: 1}, 1, 1)
    assert len(sender.messages) == 1
    (dead,) = others(settlement)
    assert (dead.routing_key, dead.headers[REASON_CODE]) == (DEAD_QUEUE, code)


def test_a_permanent_failure_is_parked_with_its_reason(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    # Given a provider that refuses the recipient for good
    sender = FakeSender(PermanentError("no such number", provider="fake", code="E404"))
    worker = make_worker(store, ledger, clock, sender, quick_retries=2)
    job = make_job()
    # When the job is processed
    settlement = worker.process(job, {ATTEMPT: 2}, 4, 2)
    # Then it was tried once, and goes to hub.dead with the reason in the headers
    assert len(sender.messages) == 1
    (dead,) = others(settlement)
    assert (dead.exchange, dead.routing_key) == ("", DEAD_QUEUE)
    assert dead.headers == {
        ATTEMPT: 2,
        REASON: "fake E404: no such number",
        REASON_CODE: "permanent",
        CHANNEL: "sms",
        ORIGIN: "hub.notify.sms",
        FAILED_AT: "2026-11-24T14:00:00+09:00",
    }
    assert Job.decode(dead.body) == job
    # And notification.dead tells upstream why
    (status,) = status_events(settlement)
    assert status["data"]["status"] == "dead"
    assert status["data"]["reason"] == "fake E404: no such number"
    assert status["data"]["provider"] == "fake"
    assert status_of(ledger, job) == "dead"


@pytest.mark.parametrize(
    ("attempt", "tier", "retry_at"),
    [
        (1, "10s", "2026-11-24T14:00:10+09:00"),
        (2, "1m", "2026-11-24T14:01:00+09:00"),
    ],
)
def test_a_transient_failure_goes_to_the_next_tier(
    store: TemplateStore, ledger: Ledger, clock: Clock, attempt: int, tier: str, retry_at: str
) -> None:
    # Given a provider that is busy
    sender = FakeSender(TransientError("busy", provider="fake", code="503"))
    worker = make_worker(store, ledger, clock, sender)
    job = make_job()
    # When attempt `attempt` fails
    settlement = worker.process(job, {ATTEMPT: attempt}, 1, attempt)
    # Then the job goes to the tier for that attempt, as the next attempt, to its channel
    (retry,) = others(settlement)
    assert (retry.exchange, retry.routing_key) == (RETRY_EXCHANGE, tier)
    assert retry.headers == {ATTEMPT: attempt + 1, "CC": ["sms"]}
    assert retry.message_id == job.notification_id
    assert Job.decode(retry.body) == job
    # And notification.failed says when it is tried again
    (status,) = status_events(settlement)
    assert status["data"]["status"] == "failed"
    assert status["data"]["attempt"] == attempt
    assert status["data"]["retry_at"] == retry_at
    assert status["data"]["reason"] == "fake 503: busy"
    assert status_of(ledger, job) == "retrying"


def test_quick_retries_happen_before_a_tier(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    # Given a provider busy twice, and two quick retries
    sender = FakeSender(TransientError("busy"), TransientError("busy"))
    settlement = make_worker(store, ledger, clock, sender, quick_retries=2).process(
        make_job(), {ATTEMPT: 1}, 1, 1)
    # Then the third call went through, as the same attempt
    assert len(sender.messages) == 3
    assert [s["data"]["status"] for s in status_events(settlement)] == ["sent"]
    assert others(settlement) == []


def test_the_last_attempt_failing_parks_the_job(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    sender = FakeSender(TransientError("busy", provider="fake", code="503"))
    job = make_job()
    settlement = make_worker(store, ledger, clock, sender).process(
        job, {ATTEMPT: MAX_ATTEMPTS}, 1, MAX_ATTEMPTS)
    (dead,) = others(settlement)
    assert dead.routing_key == DEAD_QUEUE
    assert dead.headers[REASON_CODE] == "attempts_exhausted"
    assert dead.headers[REASON] == f"attempts used up ({MAX_ATTEMPTS}): fake 503: busy"
    assert dead.headers[ATTEMPT] == MAX_ATTEMPTS
    assert [s["data"]["status"] for s in status_events(settlement)] == ["dead"]
    assert status_of(ledger, job) == "dead"


@pytest.mark.parametrize(
    ("error", "attempt", "outcome"),
    [
        (RuntimeError("boom"), 1, "retried"),
        (KeyError("x"), 2, "retried"),
        (RuntimeError("boom"), MAX_ATTEMPTS, "dead"),
    ],
)
def test_an_unexpected_error_in_the_sender_is_retried_not_lost(
    store: TemplateStore, ledger: Ledger, clock: Clock, error: Exception, attempt: int,
    outcome: str,
) -> None:
    # Given a sender with a bug
    sender = FakeSender(error)
    job = make_job()
    worker = make_worker(store, ledger, clock, sender)
    # When the delivery is processed
    settlement = worker.process(job, {ATTEMPT: attempt}, 9, attempt)
    # Then it is settled as a failure to retry (or, at the last attempt, to park)
    (publish,) = others(settlement)
    if outcome == "retried":
        assert (publish.exchange, publish.headers[ATTEMPT]) == (RETRY_EXCHANGE, attempt + 1)
        assert status_of(ledger, job) == "retrying"
    else:
        assert publish.routing_key == DEAD_QUEUE
        assert publish.headers[REASON_CODE] == "attempts_exhausted"
    (status,) = status_events(settlement)
    assert f"unexpected error: {type(error).__name__}" in status["data"]["reason"]


# -- templates --------------------------------------------------------------------------
def test_a_job_missing_a_template_variable_is_parked(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    # Given an answered-case job whose data lost its answer (the template needs it)
    job = make_job(event_type="case.answered")
    data = {k: v for k, v in job.data.items() if k != "answer"}
    job = dataclasses.replace(job, data=data)
    sender = FakeSender()
    # When it is processed
    settlement = make_worker(store, ledger, clock, sender).process(job, {ATTEMPT: 1}, 1, 1)
    # Then nothing is sent and it is parked as a template error
    assert sender.messages == []
    (dead,) = others(settlement)
    assert (dead.routing_key, dead.headers[REASON_CODE]) == (DEAD_QUEUE, "template_error")
    assert dead.headers[REASON].startswith("template error: ")
    assert "answer" in dead.headers[REASON]
    assert status_of(ledger, job) == "dead"


def test_a_job_naming_no_template_is_parked(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    job = dataclasses.replace(make_job(), template="case.nonexistent")
    settlement = make_worker(store, ledger, clock, FakeSender()).process(job, {ATTEMPT: 1}, 1, 1)
    (dead,) = others(settlement)
    assert dead.headers[REASON_CODE] == "template_error"
    assert "case.nonexistent/sms.j2" in dead.headers[REASON]


def test_a_broken_template_parks_the_job(tmp_path: Path, ledger: Ledger, clock: Clock) -> None:
    # Given a templates folder whose sms template does not compile
    folder = tmp_path / "templates" / "case.received"
    folder.mkdir(parents=True)
    (folder / "sms.j2").write_text("{% block body %}{{ case.title {% endblock %}", "utf-8")
    sender = FakeSender()
    with TemplateStore(tmp_path / "templates", reload_interval=0) as broken:
        worker = make_worker(broken, ledger, clock, sender)
        # When a job for it is processed
        settlement = worker.process(make_job(), {ATTEMPT: 1}, 1, 1)
    # Then it is parked as a template error, and nothing is sent
    assert sender.messages == []
    (dead,) = others(settlement)
    assert dead.headers[REASON_CODE] == "template_error"
    assert [s["data"]["status"] for s in status_events(settlement)] == ["dead"]


def test_a_template_running_away_for_one_case_parks_that_notice_and_others_flow(
        tmp_path: Path, ledger: Ledger, clock: Clock) -> None:
    # Given an sms template that loops without end for one case title only
    folder = tmp_path / "templates" / "case.received"
    folder.mkdir(parents=True)
    (folder / "sms.j2").write_text(
        "{% block body %}{% if '무한' in case.title %}{% for a in range(100000) %}"
        "{% for b in range(100000) %}{% endfor %}{% endfor %}{% endif %}"
        "[{{ org.name }}] {{ case.id }} 접수{% endblock %}", "utf-8")
    sender = FakeSender()
    with TemplateStore(tmp_path / "templates", reload_interval=0) as store:
        worker = make_worker(store, ledger, clock, sender)
        runaway = make_job(event_id="ev-runaway")
        runaway = dataclasses.replace(
            runaway, notification_id="n-runaway", data={
                **runaway.data, "case": {**runaway.data["case"], "title": "무한 반복"}})
        # When that case's notice and another one are processed
        parked = worker.process(runaway, {ATTEMPT: 1}, 1, 1)
        sent = worker.process(make_job(event_id="ev-fine"), {ATTEMPT: 1}, 2, 1)
    # Then the runaway one is parked on hub.dead with template_budget, nothing sent for it
    (dead,) = others(parked)
    assert (dead.routing_key, dead.headers[REASON_CODE]) == (DEAD_QUEUE, "template_budget")
    assert "over the template budget" in dead.headers[REASON]
    assert [s["data"]["status"] for s in status_events(parked)] == ["dead"]
    # And the other notice is sent
    assert [m.notification_id for m in sender.messages] == [
        make_job(event_id="ev-fine").notification_id]
    assert [s["data"]["status"] for s in status_events(sent)] == ["sent"]


# -- policy -----------------------------------------------------------------------------
@pytest.mark.parametrize(("channel", "field"), [("email", "email"), ("push", "push_token")])
def test_a_recipient_without_an_address_is_skipped(
    store: TemplateStore, ledger: Ledger, clock: Clock, channel: str, field: str
) -> None:
    # Given a job whose recipient has no address on the channel
    job = make_job(channel, drop=field)
    assert job.recipient.address == ""
    sender = FakeSender()
    # When it is processed
    settlement = make_worker(store, ledger, clock, sender, channel=channel).process(
        job, {ATTEMPT: 1}, 1, 1)
    # Then nothing is sent, and notification.skipped says why
    assert sender.messages == []
    assert others(settlement) == []
    (status,) = status_events(settlement)
    assert status["data"]["status"] == "skipped"
    assert status["data"]["reason"] == f"recipient has no {field}"
    assert status_of(ledger, job) == "skipped"


def quiet_policy(**policy: Any) -> Policy:
    return Policy(Config(deep_merge(DEFAULTS, {"policy": {"quiet_hours": "21:00-08:00",
                                                          "timezone": "Asia/Seoul", **policy}})))


def test_quiet_hours_defer_a_notice_until_morning_then_it_is_sent(
    store: TemplateStore, ledger: Ledger
) -> None:
    # Given quiet hours 21:00-08:00 KST and a clock at 23:00 KST
    clock = Clock(kst(24, 23))
    sender = FakeSender()
    worker = make_worker(store, ledger, clock, sender, policy=quiet_policy())
    job = make_job()
    assert not job.critical
    # When a non-critical notice is processed
    settlement = worker.process(job, {ATTEMPT: 1}, 1, 1)
    # Then it is deferred until 08:00 KST through the longest tier, and announced once
    morning = kst(25, 8)
    (delay,) = others(settlement)
    assert (delay.exchange, delay.routing_key) == (RETRY_EXCHANGE, "1m")
    assert delay.headers == {ATTEMPT: 1, NOT_BEFORE: morning.isoformat(), DEFERRED_FLAG: 1,
                             "CC": ["sms"]}
    (status,) = status_events(settlement)
    assert status["data"]["status"] == "deferred"
    assert status["data"]["retry_at"] == "2026-11-25T08:00:00+09:00"
    assert status["data"]["reason"] == "quiet hours 21:00-08:00 Asia/Seoul"
    assert sender.messages == []
    assert status_of(ledger, job) == "deferred"
    # When it comes back at 23:01, and again at 08:00:30
    clock.now = kst(24, 23, 1)
    waiting = worker.process(job, delay.headers, 2, 1)
    assert status_events(waiting) == [] and sender.messages == []
    clock.now = kst(25, 8, 0, 30)
    sent = worker.process(job, waiting.publishes[0].headers, 3, 1)
    # Then it is sent in the morning
    assert [s["data"]["status"] for s in status_events(sent)] == ["sent"]
    assert len(sender.messages) == 1


def test_a_critical_notice_is_sent_in_quiet_hours(store: TemplateStore, ledger: Ledger) -> None:
    # Given the same night, and a notice of a deadline extension (critical by the rules)
    clock = Clock(kst(24, 23))
    sender = FakeSender()
    worker = make_worker(store, ledger, clock, sender, policy=quiet_policy())
    job = make_job(event_type="case.extended")
    assert job.critical
    # When it is processed
    settlement = worker.process(job, {ATTEMPT: 1}, 1, 1)
    # Then it is sent at once
    assert len(sender.messages) == 1
    assert [s["data"]["status"] for s in status_events(settlement)] == ["sent"]


def test_a_rate_limit_defers_what_it_cannot_take(store: TemplateStore, ledger: Ledger) -> None:
    # Given one SMS a minute for the organisation, at noon
    clock = Clock(kst(24, 12))
    policy = Policy(Config(deep_merge(DEFAULTS, {"policy": {
        "quiet_hours": "", "rate_limits": {"gumi.sms": "1/m"}}})), clock=clock)
    sender = FakeSender()
    worker = make_worker(store, ledger, clock, sender, policy=policy)
    # When two notices arrive at once
    first = worker.process(make_job(event_id="ev-rate-1"), {ATTEMPT: 1}, 1, 1)
    second = worker.process(make_job(event_id="ev-rate-2"), {ATTEMPT: 1}, 2, 1)
    # Then the first is sent and the second deferred by about a minute
    assert [s["data"]["status"] for s in status_events(first)] == ["sent"]
    (status,) = status_events(second)
    assert (status["data"]["status"], status["data"]["reason"]) == ("deferred", "rate limit")
    (delay,) = others(second)
    assert delay.headers[NOT_BEFORE] == (kst(24, 12) + timedelta(seconds=60)).isoformat()
    assert len(sender.messages) == 1


def test_two_different_deferrals_have_different_status_event_ids(
    store: TemplateStore, ledger: Ledger
) -> None:
    # Given a notice scheduled for 21:30 (a rule delay), first seen at 20:30
    clock = Clock(kst(24, 20, 30))
    worker = make_worker(store, ledger, clock, FakeSender(), policy=quiet_policy())
    job = make_job()
    scheduled = worker.process(job, {ATTEMPT: 1, NOT_BEFORE: kst(24, 21, 30).isoformat()}, 1, 1)
    # When it is due at 21:30 and quiet hours defer it again, to 08:00
    clock.now = kst(24, 21, 30)
    quiet = worker.process(job, {ATTEMPT: 1}, 2, 1)
    (a,) = status_events(scheduled)
    (b,) = status_events(quiet)
    assert a["data"]["retry_at"] != b["data"]["retry_at"]
    # Then the two distinct events must not share an id (CloudEvents: source + id unique)
    assert a["id"] != b["id"]


# -- the delivery path (handle) ------------------------------------------------------------
class FakeLoop:
    def __init__(self) -> None:
        self.settled: list[Settlement] = []
        self.done = threading.Event()

    def settle(self, settlement: Settlement) -> None:
        self.settled.append(settlement)
        self.done.set()


def test_a_malformed_job_is_parked_at_once_with_its_body(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    worker = make_worker(store, ledger, clock, FakeSender())
    settlement = worker.handle(b"{not a job", {ATTEMPT: 2, "x-other": 1}, 11, False)
    assert settlement is not None
    (dead,) = settlement.publishes
    assert (dead.exchange, dead.routing_key, dead.body) == ("", DEAD_QUEUE, b"{not a job")
    assert dead.headers[REASON_CODE] == "malformed_job"
    assert dead.headers[REASON].startswith("malformed job: ")
    assert ATTEMPT not in dead.headers or dead.headers[ATTEMPT] == 2


def settled(loop: FakeLoop, count: int, timeout: float = 30.0) -> bool:
    """Wait until the loop was handed ``count`` settlements."""
    deadline = time.monotonic() + timeout
    while len(loop.settled) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(loop.settled) >= count


class CountingLedger(MemoryLedger):
    """Counts the ledger's batch calls."""

    def __init__(self) -> None:
        super().__init__(hash_key=b"k")
        self.calls: list[tuple[str, int]] = []

    def claim_many(self, items: Any) -> Any:
        self.calls.append(("claim_many", len(items)))
        return super().claim_many(items)

    def record_many(self, outcomes: Any) -> Any:
        self.calls.append(("record_many", len(outcomes)))
        return super().record_many(outcomes)


def test_a_turns_deliveries_are_one_batch_sent_concurrently_and_settled(
    store: TemplateStore, clock: Clock
) -> None:
    # Given a worker started on a (fake) loop, and a provider that takes a while
    ledger = CountingLedger()
    both_in_flight = threading.Barrier(3, timeout=30)

    class Slow(FakeSender):
        def send(self, message: Message) -> Receipt:
            both_in_flight.wait()  # three sends at once, or this times out
            return super().send(message)

    sender = Slow()
    worker = make_worker(store, ledger, clock, sender)
    loop = started(worker)
    worker.pool = ThreadPoolExecutor(4)
    jobs = [make_job(event_id=f"ev-batch-{i}") for i in range(3)]
    try:
        # When three deliveries arrive in one loop turn
        for tag, job in enumerate(jobs, start=41):
            assert worker.handle(job.encode(), {ATTEMPT: 1}, tag, False) is None
        assert worker.busy() == 3
        worker.tick(0)
        # Then they are claimed in one call, sent concurrently, recorded in one call
        assert settled(loop, 3)
        assert sorted(s.delivery_tag for s in loop.settled) == [41, 42, 43]
        assert ledger.calls == [("claim_many", 3), ("record_many", 3)]
        assert len(sender.messages) == 3
        assert all(status_of(ledger, job) == "sent" for job in jobs)
        # And the worker is idle once the loop acked them
        for settlement in loop.settled:
            assert settlement.after is not None
            settlement.after()
        assert worker.busy() == 0
    finally:
        worker.pool.shutdown()
        worker.batches.shutdown()  # type: ignore[union-attr]


def test_the_same_notice_twice_in_a_batch_is_sent_once(
    store: TemplateStore, clock: Clock
) -> None:
    ledger = MemoryLedger(hash_key=b"k")
    sender = FakeSender()
    worker = make_worker(store, ledger, clock, sender)
    loop = started(worker)
    job = make_job()
    try:
        worker.handle(job.encode(), {ATTEMPT: 1}, 51, False)
        worker.handle(job.encode(), {ATTEMPT: 1}, 52, False)
        worker.tick(0)
        assert settled(loop, 2)
        assert len(sender.messages) == 1
        # the second copy meets the first one's claim: re-delayed, nothing recorded
        second = next(s for s in loop.settled if s.delivery_tag == 52)
        assert [p.exchange for p in others(second)] == [RETRY_EXCHANGE]
    finally:
        worker.pool.shutdown()  # type: ignore[union-attr]
        worker.batches.shutdown()  # type: ignore[union-attr]


class FlakyLedger(MemoryLedger):
    """A memory ledger whose database can go down: while ``down``, every call and the
    ping raise. ``fail_sent`` makes that many ``sent`` records fail first, each
    followed by two failing pings (the database going away between the provider
    call and the record, and coming back)."""

    def __init__(self, *, down: bool = False, fail_sent: int = 0, pings: int = 2) -> None:
        super().__init__(hash_key=b"k")
        self.down = down
        self.fail_sent = fail_sent
        self.pings = pings
        self.failing_pings = 0

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("database is down")

    def ping(self) -> None:
        self._check()
        if self.failing_pings:
            self.failing_pings -= 1
            raise ConnectionError("database is still down")

    def claim(self, job: Job, attempt: int) -> Any:
        self._check()
        return super().claim(job, attempt)

    def record(self, job: Job, status: str, **kwargs: Any) -> bool:
        self._check()
        if status == "sent" and self.fail_sent:
            self.fail_sent -= 1
            self.failing_pings = self.pings
            raise ConnectionError("database went away")
        return super().record(job, status, **kwargs)


def started(worker: ChannelWorker) -> FakeLoop:
    loop = FakeLoop()
    worker.loop = loop  # type: ignore[assignment]
    worker.pool = ThreadPoolExecutor(1)
    worker.batches = ThreadPoolExecutor(1)
    worker.guard.probe_interval = 0.01
    return loop


def test_a_ledger_down_stops_the_worker_taking_work_and_sends_nothing(
    store: TemplateStore, clock: Clock
) -> None:
    # Given a worker whose ledger is down
    sender = FakeSender()
    worker = make_worker(store, FlakyLedger(down=True), clock, sender)
    loop = started(worker)
    try:
        # When a delivery comes
        worker.handle(make_job().encode(), {ATTEMPT: 1}, 31, False)
        worker.tick(0)
        # Then it waits: nothing sent, nothing settled, and the worker says it is not
        # taking work (readiness)
        assert not loop.done.wait(0.3)
        assert sender.messages == [] and not worker.accepting()
        # When the worker stops with the ledger still down
        worker.begin_stop()
        # Then the delivery goes back to the queue, no attempt spent, nothing sent
        assert loop.done.wait(5)
        (settlement,) = loop.settled
        assert settlement.reject and settlement.requeue and settlement.publishes == []
        assert sender.messages == []
    finally:
        worker.pool.shutdown()  # type: ignore[union-attr]


def test_a_ledger_back_up_lets_the_waiting_notice_go_out_once(
    store: TemplateStore, clock: Clock
) -> None:
    ledger = FlakyLedger(down=True)
    sender = FakeSender()
    worker = make_worker(store, ledger, clock, sender)
    loop = started(worker)
    job = make_job()
    try:
        worker.handle(job.encode(), {ATTEMPT: 1}, 32, False)
        worker.tick(0)
        assert not loop.done.wait(0.2)
        # When the database comes back
        ledger.down = False
        # Then the notice is sent once and recorded, and the worker takes work again
        assert loop.done.wait(5)
        assert len(sender.messages) == 1 and status_of(ledger, job) == "sent"
        assert worker.accepting()
    finally:
        worker.pool.shutdown()  # type: ignore[union-attr]


def test_a_ledger_failure_after_acceptance_sends_once(store: TemplateStore, clock: Clock) -> None:
    # Given a database that goes down right after the provider accepted the notice
    ledger = FlakyLedger(fail_sent=3)
    sender = FakeSender()
    worker = make_worker(store, ledger, clock, sender)
    loop = started(worker)
    job = make_job()
    try:
        # When the notice is processed
        worker.handle(job.encode(), {ATTEMPT: 1}, 33, False)
        worker.tick(0)
        # Then the sent record is retried until the ledger takes it: the provider was
        # called once, the ledger says sent, and the delivery is acked with
        # notification.sent (no retry publish, no notification.failed)
        assert loop.done.wait(10)
        (settlement,) = loop.settled
        assert len(sender.messages) == 1
        assert status_of(ledger, job) == "sent"
        assert not settlement.reject
        assert [json.loads(p.body)["type"] for p in settlement.publishes] == [
            "notification.sent"]
        # And a redelivery of the same job sends nothing
        again = worker.process(job, {ATTEMPT: 1}, 34, 1)
        assert again.publishes == [] and len(sender.messages) == 1
    finally:
        worker.pool.shutdown()  # type: ignore[union-attr]


def test_a_sent_record_still_pending_at_stop_is_acked_not_resent(
    store: TemplateStore, clock: Clock
) -> None:
    # Given the database down from right after the provider accepted, for good
    ledger = FlakyLedger(fail_sent=1, pings=10**9)
    sender = FakeSender()
    worker = make_worker(store, ledger, clock, sender)
    loop = started(worker)
    try:
        worker.handle(make_job().encode(), {ATTEMPT: 1}, 35, False)
        worker.tick(0)
        assert not loop.done.wait(0.3)
        # When the worker stops
        worker.begin_stop()
        # Then the delivery is acked as sent (a redelivery could only send it twice)
        assert loop.done.wait(5)
        (settlement,) = loop.settled
        assert not settlement.reject and len(sender.messages) == 1
    finally:
        worker.pool.shutdown()  # type: ignore[union-attr]


def test_a_stale_workers_late_outcome_is_refused_and_the_job_goes_on(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    # Given a worker whose claim went stale while the provider was slow: the sweeper
    # moved it on and another worker claimed the notice
    job = make_job()
    other = open_ledger("memory://", hash_key=b"k")

    class Slow(FakeSender):
        def send(self, message: Message) -> Receipt:
            notice = ledger.notice(job.notification_id)
            assert notice is not None
            ledger.resolve_stale(notice, "retrying", reason="stale")
            assert ledger.claim(job, 2).state.value == "new"  # the new holder
            raise TransientError("timeout", provider="fake", code="T")

    worker = make_worker(store, ledger, clock, Slow())
    # When the stale worker's transient failure comes back
    settlement = worker.process(job, {ATTEMPT: 1}, 36, 1)
    # Then its "retrying" is refused: the new holder's claim stands
    notice = ledger.notice(job.notification_id)
    assert notice is not None and notice.status == "sending"
    assert [h.status for h in notice.history].count("retrying") == 1  # the sweeper's only
    # And the job still goes to its retry tier (the broker keeps it either way)
    assert [p.exchange for p in others(settlement)] == [RETRY_EXCHANGE]
    other.close()


def test_an_unexpected_error_in_handle_parks_the_notice_with_code_internal(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    # Given a worker that was never started (no send pool: handle fails on a good job)
    worker = make_worker(store, ledger, clock, FakeSender())
    loop = ConsumingLoop(None, PROFILES["amqp"], worker)  # type: ignore[arg-type]
    body = make_job().encode()
    # When the loop hands it a delivery
    loop._dispatch(body, {ATTEMPT: 1}, 12, False)
    # Then that delivery is settled by parking it on hub.dead with the code internal
    settlement = loop._done.get_nowait()
    (dead,) = settlement.publishes
    assert (settlement.delivery_tag, dead.routing_key, dead.body) == (12, DEAD_QUEUE, body)
    assert dead.headers[REASON_CODE] == "internal"


def test_a_worker_takes_work_again_after_its_loop_reconnects(
    store: TemplateStore, ledger: Ledger, clock: Clock
) -> None:
    # Given a worker whose loop stopped (the broker closed the connection)
    sender = FakeSender()
    worker = make_worker(store, ledger, clock, sender)
    first = FakeLoop()
    worker.start(first)  # type: ignore[arg-type]
    worker.begin_stop()
    worker.stop()
    # When the supervisor starts it on a new loop
    second = FakeLoop()
    worker.start(second)  # type: ignore[arg-type]
    try:
        worker.handle(make_job().encode(), {ATTEMPT: 1}, 1, False)
        worker.tick(0)
        # Then the delivery is sent and settled on the new loop
        assert settled(second, 1)
        assert len(sender.messages) == 1 and first.settled == []
    finally:
        worker.begin_stop()
        worker.stop()


@pytest.mark.parametrize("error", [PermanentError, TransientError])
def test_a_provider_answer_quoting_the_recipient_is_masked_everywhere(
    store: TemplateStore, ledger: Ledger, clock: Clock, error: type[SendError]
) -> None:
    # Given a provider whose refusal quotes the number, the e-mail and the name
    sender = FakeSender(error("refused 010-1234-5678 (홍길동, hong@example.kr)",
                              provider="fake", code="E1"))
    worker = make_worker(store, ledger, clock, sender)
    job = make_job()
    # When the job fails
    settlement = worker.process(job, {ATTEMPT: 1}, 1, 1)
    # Then no header, status event or ledger entry carries the raw values
    places = [json.dumps(p.headers, ensure_ascii=False) for p in settlement.publishes]
    places += [json.dumps(e["data"], ensure_ascii=False) for e in status_events(settlement)]
    notice = ledger.notice(job.notification_id)
    assert notice is not None and notice.history
    places += [entry.reason or "" for entry in notice.history]
    joined = "\n".join(places)
    assert joined.count("refused") >= 2  # the status event and the ledger (and headers)
    for raw in ("010-1234-5678", "홍길동", "hong@example.kr"):
        assert raw not in joined, raw
