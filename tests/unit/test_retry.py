"""Retry policy: which tier after which attempt, when attempts are used up, and the
quick in-process retries."""

from __future__ import annotations

import pytest

from channels.base import CredentialsError, PermanentError, Receipt, SendError, TransientError
from hub.config import DEFAULTS, Config, deep_merge
from hub.retry import RetryPolicy
from hub.topology import Topology

TOPOLOGY = Topology.build(["sms"], ["10s", "1m", "10m"])


def policy(**kwargs: float) -> RetryPolicy:
    options: dict[str, float] = {"max_attempts": 6, "quick_retries": 2, "quick_wait": 0.0}
    options.update(kwargs)
    return RetryPolicy(TOPOLOGY.tiers, int(options["max_attempts"]),
                       int(options["quick_retries"]), options["quick_wait"])


class Flaky:
    """Fails with ``error`` the first ``failures`` calls, then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> Receipt:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return Receipt("fake", f"m-{self.calls}")


@pytest.mark.parametrize(
    ("attempt", "tier"),
    [(0, "10s"), (1, "10s"), (2, "1m"), (3, "10m"), (4, "10m"), (99, "10m")],
)
def test_tier_for_attempt(attempt: int, tier: str) -> None:
    assert policy().tier_for_attempt(attempt).name == tier


@pytest.mark.parametrize(
    ("attempt", "max_attempts", "exhausted"),
    [(1, 6, False), (5, 6, False), (6, 6, True), (7, 6, True), (1, 1, True)],
)
def test_exhausted(attempt: int, max_attempts: int, exhausted: bool) -> None:
    assert policy(max_attempts=max_attempts).exhausted(attempt) is exhausted


@pytest.mark.parametrize(
    ("quick_retries", "failures", "calls"),
    [
        (2, 0, 1),
        (2, 1, 2),
        (2, 2, 3),
        (0, 0, 1),
        (5, 4, 5),
    ],
)
def test_transient_errors_are_retried_quickly(quick_retries: int, failures: int,
                                              calls: int) -> None:
    # Given a send that fails transiently `failures` times, then succeeds
    send = Flaky(failures, TransientError("busy", provider="fake", code="503"))
    # When it is called through the policy
    receipt = policy(quick_retries=quick_retries).call(send)
    # Then it succeeds after that many calls
    assert receipt == Receipt("fake", f"m-{calls}")
    assert send.calls == calls


@pytest.mark.parametrize(("quick_retries", "calls"), [(0, 1), (1, 2), (2, 3)])
def test_a_transient_error_that_persists_is_raised_after_the_quick_retries(
    quick_retries: int, calls: int
) -> None:
    error = TransientError("busy", provider="fake", code="503")
    send = Flaky(100, error)
    with pytest.raises(TransientError) as info:
        policy(quick_retries=quick_retries).call(send)
    assert info.value is error
    assert send.calls == calls


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("no such number", provider="fake", code="E404"),
        CredentialsError("bad key", provider="fake", code="401"),
        SendError("unclassified", provider="fake"),
        RuntimeError("a bug"),
    ],
)
def test_anything_but_a_transient_error_is_never_retried(error: Exception) -> None:
    send = Flaky(100, error)
    with pytest.raises(type(error)):
        policy(quick_retries=3).call(send)
    assert send.calls == 1


def test_from_config() -> None:
    config = Config(deep_merge(DEFAULTS, {"retry": {"max_attempts": 4, "quick_retries": 1,
                                                    "quick_wait": 0.05}}))
    built = RetryPolicy.from_config(config, TOPOLOGY)
    assert built == RetryPolicy(TOPOLOGY.tiers, 4, 1, 0.05)


def test_the_defaults() -> None:
    built = RetryPolicy.from_config(Config(DEFAULTS), TOPOLOGY)
    assert (built.max_attempts, built.quick_retries, built.quick_wait) == (6, 2, 0.2)
