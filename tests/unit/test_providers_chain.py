"""channels.chain: failover order, what stops the chain, circuit breakers, metrics,
and build_chain from configuration (providers are in-process stand-ins here; the
integration suite runs the same chain against real protocols)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from prometheus_client import REGISTRY

from channels.base import (
    CredentialsError,
    Message,
    PermanentError,
    Provider,
    Receipt,
    SendError,
    TransientError,
)
from channels.chain import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, ProviderChain, build_chain
from hub.config import DEFAULTS, Config, deep_merge


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Scripted(Provider):
    """Answers from a script: "ok", or an error class to raise, one per call
    (the last entry repeats)."""

    name: ClassVar[str] = "scripted"

    def __init__(self, label: str, *script: Any, accepts: bool = True) -> None:
        super().__init__({}, channel="sms")
        self.label = label
        self.script = list(script) or ["ok"]
        self.calls = 0
        self._accepts = accepts

    def accepts(self, message: Message) -> bool:
        return self._accepts

    def send(self, message: Message) -> Receipt:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if step == "ok":
            return Receipt(self.label, f"{self.label}-{self.calls}")
        if isinstance(step, type) and issubclass(step, BaseException):
            if issubclass(step, SendError):
                raise step(f"{self.label} failed", provider=self.label, code="X")
            raise step(f"{self.label} bug")
        raise AssertionError(step)


def message() -> Message:
    return Message(
        notification_id=str(uuid.uuid4()),
        event_id="e1",
        event_type="case.received",
        case_id="2026-0001234",
        org="gumi",
        channel="sms",
        to="010-1234-5678",
        body="[구미시] 접수되었습니다.",
    )


def chain_of(*providers: Scripted, **kwargs: Any) -> tuple[ProviderChain, str]:
    channel = f"test-{uuid.uuid4().hex[:8]}"
    names = [p.label for p in providers]
    return ProviderChain(channel, list(providers), names=names, **kwargs), channel


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --------------------------------------------------------------------------- failover


def test_the_first_provider_that_succeeds_is_used_and_the_rest_untouched() -> None:
    first, second = Scripted("a"), Scripted("b")
    chain, _ = chain_of(first, second)
    assert chain.send(message()).provider == "a"
    assert (first.calls, second.calls) == (1, 0)


def test_transient_failure_moves_on_to_the_next_provider() -> None:
    first, second = Scripted("a", TransientError), Scripted("b")
    chain, channel = chain_of(first, second)
    assert chain.send(message()).provider == "b"
    assert (
        sample(
            "minwon_provider_call_duration_seconds_count",
            channel=channel,
            provider="a",
            outcome="transient",
        )
        == 1
    )


def test_permanent_failure_stops_the_chain() -> None:
    first, second = Scripted("a", PermanentError), Scripted("b")
    chain, _ = chain_of(first, second)
    with pytest.raises(PermanentError) as caught:
        chain.send(message())
    assert caught.value.provider == "a"
    assert second.calls == 0


def test_rejected_credentials_fail_over_and_count_in_the_alert_metric() -> None:
    first, second = Scripted("a", CredentialsError), Scripted("b")
    chain, channel = chain_of(first, second)
    assert chain.send(message()).provider == "b"
    assert sample("minwon_provider_credentials_rejected_total", channel=channel, provider="a") == 1


@pytest.mark.parametrize(
    ("script_a", "script_b", "raised", "from_provider"),
    [
        (TransientError, TransientError, TransientError, "b"),
        (CredentialsError, TransientError, TransientError, "b"),
        (TransientError, CredentialsError, TransientError, "a"),
        (CredentialsError, CredentialsError, CredentialsError, "b"),
    ],
)
def test_when_every_provider_fails_transient_wins_over_credentials(
    script_a: type[SendError],
    script_b: type[SendError],
    raised: type[SendError],
    from_provider: str,
) -> None:
    chain, _ = chain_of(Scripted("a", script_a), Scripted("b", script_b))
    with pytest.raises(raised) as caught:
        chain.send(message())
    assert type(caught.value) is raised
    assert caught.value.provider == from_provider


def test_an_unclassified_exception_is_treated_as_transient() -> None:
    chain, _ = chain_of(Scripted("a", RuntimeError), Scripted("b"))
    assert chain.send(message()).provider == "b"
    chain, _ = chain_of(Scripted("a", RuntimeError))
    with pytest.raises(TransientError) as caught:
        chain.send(message())
    assert caught.value.code == "PROVIDER-ERROR"


def test_a_provider_that_does_not_accept_the_notice_is_passed_over() -> None:
    first, second = Scripted("a", accepts=False), Scripted("b")
    chain, _ = chain_of(first, second)
    assert chain.send(message()).provider == "b"
    assert first.calls == 0


def test_no_provider_accepting_the_notice_is_permanent() -> None:
    chain, _ = chain_of(Scripted("a", accepts=False))
    with pytest.raises(PermanentError) as caught:
        chain.send(message())
    assert caught.value.code == "NO-PROVIDER"


def test_latency_is_recorded_per_provider_and_outcome() -> None:
    chain, channel = chain_of(Scripted("a", TransientError), Scripted("b"))
    for _ in range(3):
        chain.send(message())
    labels = {"channel": channel}
    count = "minwon_provider_call_duration_seconds_count"
    assert sample(count, **labels, provider="a", outcome="transient") == 3
    assert sample(count, **labels, provider="b", outcome="sent") == 3


# --------------------------------------------------------------------------- breaker


def test_breaker_takes_a_failing_provider_out_of_rotation_and_back() -> None:
    clock = Clock()
    first = Scripted("a", TransientError, TransientError, TransientError, "ok")
    second = Scripted("b")
    chain, channel = chain_of(first, second, failure_threshold=2, reset_after=10, clock=clock)
    up = {"channel": channel, "provider": "a"}
    assert sample("minwon_provider_available", **up) == 1

    chain.send(message())
    chain.send(message())
    assert chain.states()["a"] == OPEN
    assert sample("minwon_provider_available", **up) == 0

    chain.send(message())  # open: "a" is skipped
    assert first.calls == 2

    clock.now += 10  # half-open: one trial, which fails
    chain.send(message())
    assert first.calls == 3
    assert chain.states()["a"] == OPEN

    clock.now += 10  # the next trial succeeds
    assert chain.send(message()).provider == "a"
    assert chain.states()["a"] == CLOSED
    assert sample("minwon_provider_available", **up) == 1


def test_all_providers_out_of_rotation_fails_fast_as_transient() -> None:
    clock = Clock()
    only = Scripted("a", TransientError)
    chain, _ = chain_of(only, failure_threshold=1, reset_after=60, clock=clock)
    with pytest.raises(TransientError):
        chain.send(message())
    with pytest.raises(TransientError) as caught:
        chain.send(message())
    assert caught.value.code == "CIRCUIT-OPEN"
    assert only.calls == 1


def test_a_permanent_answer_counts_as_the_provider_being_up() -> None:
    clock = Clock()
    first = Scripted("a", TransientError, PermanentError, TransientError)
    chain, _ = chain_of(first, Scripted("b"), failure_threshold=2, clock=clock)
    chain.send(message())
    with pytest.raises(PermanentError):
        chain.send(message())
    chain.send(message())  # one failure since the permanent answer: still closed
    assert chain.states()["a"] == CLOSED


def test_credentials_failures_also_open_the_breaker() -> None:
    first = Scripted("a", CredentialsError)
    chain, _ = chain_of(first, Scripted("b"), failure_threshold=2, clock=Clock())
    for _ in range(4):
        chain.send(message())
    assert first.calls == 2
    assert chain.states()["a"] == OPEN


@pytest.mark.parametrize(
    ("events", "state"),
    [
        ([], CLOSED),
        (["fail"], CLOSED),
        (["fail", "fail", "fail"], OPEN),
        (["fail", "fail", "ok", "fail", "fail"], CLOSED),
        (["fail", "fail", "fail", "wait", "allow"], HALF_OPEN),
        (["fail", "fail", "fail", "wait", "allow", "ok"], CLOSED),
        (["fail", "fail", "fail", "wait", "allow", "fail"], OPEN),
    ],
)
def test_breaker_states(events: list[str], state: str) -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, reset_after=5, clock=clock)
    actions: dict[str, Callable[[], object]] = {
        "fail": breaker.failure,
        "ok": breaker.success,
        "allow": breaker.allow,
    }
    for event in events:
        if event == "wait":
            clock.now += 5
        else:
            actions[event]()
    assert breaker.state == state


def test_half_open_lets_exactly_one_trial_through_under_concurrency() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, reset_after=1, clock=clock)
    breaker.failure()
    clock.now += 1
    allowed: list[bool] = []
    barrier = threading.Barrier(16)

    def try_once() -> None:
        barrier.wait()
        allowed.append(breaker.allow())

    threads = [threading.Thread(target=try_once) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 1


# --------------------------------------------------------------------------- build_chain


def config(channels: dict[str, Any], providers: dict[str, Any]) -> Config:
    return Config(deep_merge(DEFAULTS, {"channels": channels, "providers": providers}))


def test_build_chain_uses_the_configured_order_and_settings(tmp_path: Any) -> None:
    cfg = config(
        {"email": {"providers": ["smtp", "outbox"], "failure_threshold": 7, "reset_after": 3}},
        {"smtp": {"host": "mail.example.kr", "port": 2525}, "outbox": {"dir": str(tmp_path)}},
    )
    chain = build_chain("email", cfg)
    try:
        assert chain.names == ["smtp", "outbox"]
        smtp = chain.links[0].provider
        assert (smtp.settings["host"], smtp.settings["port"]) == ("mail.example.kr", 2525)
        assert chain.links[0].breaker.threshold == 7
        assert chain.links[0].breaker.reset_after == 3.0
    finally:
        chain.close()


def test_build_chain_type_lets_two_accounts_of_one_provider_share_a_chain() -> None:
    cfg = config(
        {"sms": {"providers": ["nhn", "nhn_backup"]}},
        {"nhn": {"app_key": "k1"}, "nhn_backup": {"type": "nhn", "app_key": "k2"}},
    )
    chain = build_chain("sms", cfg)
    try:
        assert chain.names == ["nhn", "nhn_backup"]
        assert [link.provider.settings["app_key"] for link in chain.links] == ["k1", "k2"]
        assert all(type(link.provider).__name__ == "NhnCloudSms" for link in chain.links)
    finally:
        chain.close()


def test_an_unknown_provider_is_refused_naming_the_known_ones() -> None:
    # (the configuration refuses it before a chain is built)
    with pytest.raises(ValueError, match=r"sms has no provider 'twilio' \(known: .*nhn"):
        build_chain("sms", config({"sms": {"providers": ["twilio"]}}, {}))


def test_a_chain_without_providers_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"channels\.push\.providers = \[\].*at least 1"):
        build_chain("push", config({"push": {"providers": []}}, {}))
