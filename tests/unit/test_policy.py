"""Delivery policies with a controlled clock: quiet hours (KST vs UTC, across
midnight), critical notices, organisation and rule overrides, delays, skips, and the
per-(organisation, channel) rate limit."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub.config import DEFAULTS, Config, deep_merge
from hub.jobs import Job, Recipient
from hub.policy import Decision, Policy, QuietHours, RateLimiter, parse_rate

KST = ZoneInfo("Asia/Seoul")


def kst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=KST)


def config(**extra: Any) -> Config:
    return Config(deep_merge(DEFAULTS, extra))


def job(
    *,
    org: str = "gumi",
    channel: str = "sms",
    critical: bool = False,
    quiet_hours: bool = True,
    address: str = "010-1234-5678",
    role: str = "citizen",
    channels: list[str] | None = None,
) -> Job:
    citizen = {"name": "홍길동", "phone": address, "channels": channels or ["sms", "email"]}
    return Job(
        notification_id="n-1", event_id="ev-1", event_type="case.answered",
        case_id="2026-0001234", org=org, channel=channel, template="case.answered",
        critical=critical, quiet_hours=quiet_hours,
        recipient=Recipient(role, role, "홍길동", address),
        event={"id": "ev-1"}, data={"org": org, "citizen": citizen},
    )


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# -- quiet hours ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # (moment, decision): the default window is 21:00-08:00 Asia/Seoul
        (kst(24, 20, 59), Decision.send()),
        (kst(24, 21, 0), Decision.defer(kst(25, 8), "quiet hours 21:00-08:00 Asia/Seoul")),
        (kst(24, 23, 30), Decision.defer(kst(25, 8), "quiet hours 21:00-08:00 Asia/Seoul")),
        (kst(25, 0, 10), Decision.defer(kst(25, 8), "quiet hours 21:00-08:00 Asia/Seoul")),
        (kst(25, 7, 59), Decision.defer(kst(25, 8), "quiet hours 21:00-08:00 Asia/Seoul")),
        (kst(25, 8, 0), Decision.send()),
        (kst(25, 12, 0), Decision.send()),
    ],
)
def test_non_critical_notices_wait_for_the_end_of_quiet_hours(
    now: datetime, expected: Decision
) -> None:
    assert Policy(config()).decide(job(), now) == expected


@pytest.mark.parametrize(
    ("utc_now", "action", "until_kst"),
    [
        # 13:00 UTC is 22:00 KST: quiet, although 13:00 is daytime in UTC
        (datetime(2026, 11, 24, 13, 0, tzinfo=UTC), "defer", kst(25, 8)),
        # 15:30 UTC is 00:30 KST on the next day: the window ends that same morning
        (datetime(2026, 11, 24, 15, 30, tzinfo=UTC), "defer", kst(25, 8)),
        # 23:00 UTC is 08:00 KST: allowed, although 23:00 is night in UTC
        (datetime(2026, 11, 24, 23, 0, tzinfo=UTC), "send", None),
        # a naive time is read as UTC
        (datetime(2026, 11, 24, 12, 0), "defer", kst(25, 8)),
    ],
)
def test_quiet_hours_are_judged_in_korean_time_not_utc(
    utc_now: datetime, action: str, until_kst: datetime | None
) -> None:
    decision = Policy(config()).decide(job(), utc_now)
    assert decision.action == action
    assert decision.until == until_kst


def test_the_time_of_a_deferral_is_the_same_instant_in_any_zone() -> None:
    decision = Policy(config()).decide(job(), kst(24, 22))
    assert decision.until is not None
    assert decision.until.astimezone(UTC) == datetime(2026, 11, 24, 23, 0, tzinfo=UTC)


def test_critical_notices_ignore_quiet_hours() -> None:
    # Given a deadline extension (critical) at 23:00 KST
    decision = Policy(config()).decide(job(critical=True), kst(24, 23))
    # Then it goes now
    assert decision == Decision.send()


def test_a_rule_can_switch_quiet_hours_off() -> None:
    assert Policy(config()).decide(job(quiet_hours=False), kst(24, 23)) == Decision.send()


@pytest.mark.parametrize(
    ("org_window", "now", "expected_action", "until"),
    [
        ("22:00-07:00", kst(24, 21, 30), "send", None),  # later start than the default
        ("22:00-07:00", kst(24, 22, 30), "defer", kst(25, 7)),
        ("22:00-07:00", kst(25, 7, 30), "send", None),  # earlier end than the default
        ("", kst(24, 23, 0), "send", None),  # "" disables quiet hours for the org
        ("12:00-13:00", kst(24, 12, 30), "defer", kst(24, 13)),  # a window within a day
        ("12:00-13:00", kst(24, 23, 0), "send", None),
    ],
)
def test_an_organisation_overrides_quiet_hours(
    org_window: str, now: datetime, expected_action: str, until: datetime | None
) -> None:
    policy = Policy(config(orgs={"gumi": {"quiet_hours": org_window}}))
    decision = policy.decide(job(org="gumi"), now)
    assert (decision.action, decision.until) == (expected_action, until)
    # and other organisations keep the default
    assert policy.decide(job(org="seoul"), kst(24, 21, 30)).action == "defer"


def test_an_organisation_in_another_time_zone_uses_its_own_clock() -> None:
    policy = Policy(config(orgs={"la": {"timezone": "America/Los_Angeles"}}))
    # 23:00 KST on 24 Nov is 06:00 in Los Angeles: quiet there until 08:00 local
    decision = policy.decide(job(org="la"), kst(24, 23))
    assert decision.action == "defer"
    assert decision.until == datetime(2026, 11, 24, 8, 0, tzinfo=ZoneInfo("America/Los_Angeles"))


def test_the_default_window_and_zone_come_from_configuration() -> None:
    policy = Policy(config(policy={"quiet_hours": "20:00-09:00", "timezone": "UTC"}))
    decision = policy.decide(job(), datetime(2026, 11, 24, 20, 30, tzinfo=UTC))
    assert decision.until == datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("UTC"))


# -- delays ---------------------------------------------------------------------------
def test_a_delayed_notice_waits_for_its_time() -> None:
    # Given a survey to send three hours after the answer, answered at 14:00 KST
    decision = Policy(config()).decide(job(), kst(24, 14), not_before=kst(24, 17))
    assert decision == Decision.defer(kst(24, 17), "not before its scheduled time")


def test_a_delay_that_ends_in_quiet_hours_waits_for_the_morning() -> None:
    decision = Policy(config()).decide(job(), kst(24, 19), not_before=kst(24, 22))
    assert (decision.action, decision.until) == ("defer", kst(25, 8))


def test_a_delay_that_has_passed_sends_now() -> None:
    decision = Policy(config()).decide(job(), kst(24, 14), not_before=kst(24, 13))
    assert decision == Decision.send()


def test_a_critical_delayed_notice_waits_only_for_its_time() -> None:
    decision = Policy(config()).decide(job(critical=True), kst(24, 19), not_before=kst(24, 22))
    assert (decision.action, decision.until) == ("defer", kst(24, 22))


# -- skips -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("the_job", "reason"),
    [
        (job(address=""), "citizen has no address for channel sms"),
        (job(address="   "), "citizen has no address for channel sms"),
        (job(channel="email", address="h@example.kr", channels=["sms"]),
         "citizen did not list channel email"),
    ],
)
def test_skips_say_why(the_job: Job, reason: str) -> None:
    assert Policy(config()).decide(the_job, kst(24, 12)) == Decision.skip(reason)


def test_the_channel_list_applies_to_citizens_only() -> None:
    # An officer is told by push although the citizen listed sms only
    officer = job(role="officer", channel="push", address="token-abc", channels=["sms"])
    assert Policy(config()).decide(officer, kst(24, 12)) == Decision.send()


def test_a_recipient_without_a_channel_list_is_not_skipped() -> None:
    base = job()
    no_list = dataclasses.replace(base, data={"org": "gumi", "citizen": {"name": "홍길동"}})
    assert Policy(config()).decide(no_list, kst(24, 12)) == Decision.send()


def test_skip_comes_before_quiet_hours() -> None:
    assert Policy(config()).decide(job(address=""), kst(24, 23)).action == "skip"


# -- quiet hour parsing ----------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "off", None, "08:00-08:00"])
def test_empty_windows_mean_no_quiet_hours(text: str | None) -> None:
    assert QuietHours.parse(text) is None


@pytest.mark.parametrize("text", ["21-08", "25:00-08:00", "21:00 to 08:00", "21:60-08:00"])
def test_malformed_windows_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        QuietHours.parse(text)


def test_a_fixed_offset_instant_maps_into_the_window() -> None:
    window = QuietHours.parse("21:00-08:00")
    assert window is not None
    plus_nine = timezone(timedelta(hours=9))
    assert window.contains(datetime(2026, 11, 24, 21, 0, tzinfo=plus_nine))
    assert not window.contains(datetime(2026, 11, 24, 20, 59, tzinfo=plus_nine))


# -- rate limits -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [(50, (50.0, 50.0)), ("50/s", (50.0, 50.0)), ("120/m", (2.0, 2.0)),
     ("0.5", (0.5, 1.0)), ({"rate": "10/s", "burst": 3}, (10.0, 3.0)), ("3600/h", (1.0, 1.0))],
)
def test_rates_are_read_in_several_forms(value: Any, expected: tuple[float, float]) -> None:
    assert parse_rate(value) == expected


@pytest.mark.parametrize("value", [0, -1, "fast", "10/d", True])
def test_bad_rates_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_rate(value)


def test_the_bucket_lets_a_burst_through_then_paces_sends() -> None:
    # Given "gumi.sms" = 5 per second and a clock the test controls
    ticks = Ticks()
    policy = Policy(config(policy={"rate_limits": {"gumi.sms": 5}}), clock=ticks)
    # When six sends ask at the same instant
    waits = [policy.acquire("gumi", "sms") for _ in range(6)]
    # Then five go at once and the sixth waits a fifth of a second
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(0.2)
    # And after a second the bucket has refilled
    ticks.t += 1.2
    assert policy.acquire("gumi", "sms") == 0.0


def test_waiting_senders_are_staggered() -> None:
    ticks = Ticks()
    limiter = RateLimiter({"gumi.sms": {"rate": 10, "burst": 1}}, clock=ticks)
    waits = [limiter.acquire("gumi", "sms") for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_a_wait_beyond_the_limit_takes_no_token_so_the_job_can_be_deferred() -> None:
    ticks = Ticks()
    limiter = RateLimiter({"gumi.sms": {"rate": 1, "burst": 1}}, clock=ticks)
    assert limiter.acquire("gumi", "sms", max_wait=0.5) == 0.0
    # The next one would wait 1 s > 0.5 s: returned, not reserved
    assert limiter.acquire("gumi", "sms", max_wait=0.5) == pytest.approx(1.0)
    assert limiter.acquire("gumi", "sms", max_wait=0.5) == pytest.approx(1.0)
    ticks.t += 1.0
    assert limiter.acquire("gumi", "sms", max_wait=0.5) == 0.0


def test_policy_acquire_caps_waits_at_max_rate_wait_by_default() -> None:
    ticks = Ticks()
    policy = Policy(config(policy={"rate_limits": {"gumi.sms": {"rate": 1, "burst": 1}},
                                   "max_rate_wait": 0.5}), clock=ticks)
    assert policy.acquire("gumi", "sms") == 0.0
    assert policy.acquire("gumi", "sms") == pytest.approx(1.0)  # defer, nothing reserved
    ticks.t += 1.0
    assert policy.acquire("gumi", "sms") == 0.0


@pytest.mark.parametrize(
    ("limits", "org", "channel", "limited"),
    [
        ({"gumi.sms": 1}, "gumi", "sms", True),
        ({"gumi.sms": 1}, "gumi", "email", False),
        ({"gumi.sms": 1}, "seoul", "sms", False),
        ({"*.sms": 1}, "seoul", "sms", True),
        ({"gumi.*": 1}, "gumi", "push", True),
        ({"*": 1}, "busan", "email", True),
    ],
)
def test_limits_apply_per_organisation_and_channel(
    limits: dict[str, Any], org: str, channel: str, limited: bool
) -> None:
    limiter = RateLimiter(limits, clock=Ticks())
    limiter.acquire(org, channel)
    assert (limiter.acquire(org, channel) > 0) is limited


def test_pairs_under_one_wildcard_have_their_own_buckets() -> None:
    limiter = RateLimiter({"*.sms": {"rate": 1, "burst": 1}}, clock=Ticks())
    assert limiter.acquire("gumi", "sms") == 0.0
    assert limiter.acquire("seoul", "sms") == 0.0


def test_a_datetime_clock_works_too() -> None:
    now = [datetime(2026, 11, 24, tzinfo=UTC)]
    limiter = RateLimiter({"gumi.sms": {"rate": 1, "burst": 1}}, clock=lambda: now[0])
    assert limiter.acquire("gumi", "sms") == 0.0
    assert limiter.acquire("gumi", "sms", max_wait=0) == pytest.approx(1.0)
    now[0] += timedelta(seconds=1)
    assert limiter.acquire("gumi", "sms") == 0.0


def test_the_limiter_hands_out_exactly_its_tokens_across_threads() -> None:
    ticks = Ticks()
    limiter = RateLimiter({"gumi.sms": {"rate": 100, "burst": 100}}, clock=ticks)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            w = limiter.acquire("gumi", "sms")
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for w in waits if w == 0.0) == 100
    assert max(waits) == pytest.approx(1.0)
