"""How the cluster suite reads 'time to recover' from the deliveries it sampled (no
cluster needed)."""

from __future__ import annotations

from tests.cluster.faults import ClusterBed


class _Samples(ClusterBed):
    def __init__(self, deliveries: list[tuple[float, int]], expected: int = 100_000) -> None:
        self.deliveries = deliveries
        self.expected = {str(i): "sms" for i in range(expected)}


def _steady(until: float, per_half_second: int = 50) -> list[tuple[float, int]]:
    return [(i * 0.5, i * per_half_second) for i in range(int(until * 2))]


def test_no_dip_reads_as_zero() -> None:
    assert _Samples(_steady(60)).recovery_seconds(10.0) == 0.0


def test_a_late_dip_counts_from_the_fault_to_the_end_of_the_dip() -> None:
    # Given 100/s, a fault at 10 s, nothing delivered from 15 s to 25 s, then catching up
    samples, count = [], 0
    for i in range(120):
        t = i * 0.5
        if not 15 <= t < 25:
            count += 50 if t < 25 else 150
        samples.append((t, count))
    # Then recovery is read when the rate is back: 15 s after the fault
    assert _Samples(samples).recovery_seconds(10.0) == 15.0


def test_still_down_when_the_run_ends_is_not_a_recovery() -> None:
    samples = [(t, c) for t, c in _steady(60) if t < 20] + [(20 + i * 0.5, 1950)
                                                           for i in range(40)]
    assert _Samples(samples).recovery_seconds(10.0) is None


def test_the_natural_stop_after_the_last_notice_is_not_a_dip() -> None:
    # Given every expected notice delivered at 30 s, then nothing more to deliver
    samples = _steady(30) + [(30 + i * 0.5, 2950) for i in range(40)]
    assert _Samples(samples, expected=2950).recovery_seconds(10.0) == 0.0


def test_no_rate_before_the_fault_is_not_measured() -> None:
    assert _Samples([(t, 0) for t, _ in _steady(30)]).recovery_seconds(10.0) is None
