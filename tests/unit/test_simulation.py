"""Simulated recipients: which addresses are reserved, and how each one answers."""

from __future__ import annotations

import threading

import pytest

from channels.base import Message, PermanentError, Receipt, TransientError
from channels.simulation import Simulated, Simulator, classify


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        # phones
        ("010-0000-0000", Simulated("ok")),
        ("01000000000", Simulated("ok")),
        ("010-0000-1001", Simulated("transient", 1)),
        ("010-0000-1009", Simulated("transient", 9)),
        ("010-0000-3000", Simulated("transient")),
        ("010-0000-2000", Simulated("permanent")),
        ("010-0000-1000", None),  # N is 1..9
        ("010-0000-1010", None),
        ("010-0000-4000", None),
        ("010-1234-5678", None),  # a real citizen
        ("054-480-0000", None),
        # e-mail
        ("success@simulator.invalid", Simulated("ok")),
        ("SUCCESS@Simulator.Invalid", Simulated("ok")),
        ("transient-3@simulator.invalid", Simulated("transient", 3)),
        ("transient@simulator.invalid", Simulated("transient")),
        ("permanent@simulator.invalid", Simulated("permanent")),
        ("transient-0@simulator.invalid", None),
        ("other@simulator.invalid", None),
        ("success@example.kr", None),
        ("success@simulator.invalid.example.kr", None),
        # push tokens
        ("sim:success", Simulated("ok")),
        ("sim:transient-2", Simulated("transient", 2)),
        ("sim:transient", Simulated("transient")),
        ("sim:permanent", Simulated("permanent")),
        ("sim:other", None),
        ("tok-hong", None),
        ("", None),
    ],
)
def test_classify(address: str, expected: Simulated | None) -> None:
    assert classify(address) == expected


def message(to: str, notification_id: str = "n-1") -> Message:
    return Message(notification_id=notification_id, event_id="ev-1", event_type="case.received",
                   case_id="c-1", org="gumi", channel="sms", to=to, body="본문")


def test_a_real_recipient_is_not_answered() -> None:
    assert Simulator("p").answer(message("010-1234-5678")) is None


@pytest.mark.parametrize("to", ["010-0000-0000", "success@simulator.invalid", "sim:success"])
def test_a_simulated_success_is_a_receipt(to: str) -> None:
    receipt = Simulator("nhn").answer(message(to))
    assert receipt == Receipt("nhn", "sim-n-1", {"simulated": True})


@pytest.mark.parametrize("to", ["010-0000-2000", "permanent@simulator.invalid", "sim:permanent"])
def test_a_simulated_permanent_failure(to: str) -> None:
    with pytest.raises(PermanentError) as info:
        Simulator("nhn").answer(message(to))
    assert (info.value.provider, info.value.code) == ("nhn", "SIM-PERMANENT")
    assert info.value.reason == "nhn SIM-PERMANENT: simulated permanent failure"


@pytest.mark.parametrize(
    ("to", "failures"),
    [("010-0000-1001", 1), ("010-0000-1003", 3), ("transient-2@simulator.invalid", 2),
     ("sim:transient-1", 1)],
)
def test_transient_n_fails_n_times_per_notification_then_succeeds(to: str, failures: int) -> None:
    simulator = Simulator("nhn")
    for call in range(1, failures + 1):
        with pytest.raises(TransientError, match=rf"simulated transient failure \({call}\)"):
            simulator.answer(message(to))
    assert simulator.answer(message(to)) is not None
    assert simulator.answer(message(to)) is not None  # and keeps succeeding
    # A different notification to the same address counts on its own
    with pytest.raises(TransientError):
        simulator.answer(message(to, "n-2"))


def test_always_transient_never_succeeds() -> None:
    simulator = Simulator("nhn")
    for _ in range(20):
        with pytest.raises(TransientError) as info:
            simulator.answer(message("010-0000-3000"))
        assert info.value.code == "SIM-TRANSIENT"


def test_each_simulator_counts_on_its_own() -> None:
    # "N times" is per notification and per provider instance (process)
    a, b = Simulator("a"), Simulator("b")
    with pytest.raises(TransientError):
        a.answer(message("010-0000-1001"))
    with pytest.raises(TransientError):
        b.answer(message("010-0000-1001"))
    assert a.answer(message("010-0000-1001")) is not None


def test_counting_is_thread_safe() -> None:
    # Given 8 threads calling for one notification that fails 5 times
    simulator = Simulator("nhn")
    failures: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        for _ in range(10):
            try:
                simulator.answer(message("010-0000-1005"))
            except TransientError:
                with lock:
                    failures.append(1)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then exactly five calls failed
    assert len(failures) == 5
