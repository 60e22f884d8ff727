"""The benchmark's own arithmetic: run order, medians and spreads, percentiles, the
recovery window. Pure functions, no timing."""

from __future__ import annotations

from bench.latency import percentile
from bench.recovery import first_window
from bench.stats import dig, interleaved, median_spread, paired_ratio


def test_rounds_keep_each_group_together_and_rotate_groups_and_members() -> None:
    order = interleaved([["hub0", "null"], ["hub50", "celery", "pika"], ["producer"]], 3)
    assert order == [
        (0, "hub0"), (0, "null"), (0, "hub50"), (0, "celery"), (0, "pika"), (0, "producer"),
        (1, "celery"), (1, "pika"), (1, "hub50"), (1, "producer"), (1, "null"), (1, "hub0"),
        (2, "producer"), (2, "hub0"), (2, "null"), (2, "pika"), (2, "hub50"), (2, "celery"),
    ]


def test_median_and_spread_leave_out_missing_values() -> None:
    assert median_spread([3.0, None, 1.0, 2.0]) == (2.0, 2.0)
    assert median_spread([None, None]) == (None, None)
    assert median_spread([]) == (None, None)


def test_ratio_pairs_rounds_and_skips_a_round_with_a_missing_side() -> None:
    med, spread = paired_ratio([100.0, 200.0, 300.0, 50.0], [50.0, None, 100.0, 50.0])
    assert med == 2.0  # ratios 2.0, 3.0, 1.0
    assert spread == 2.0


def test_dig_follows_a_dotted_path_and_answers_none_when_a_step_is_missing() -> None:
    node = {"hub": {"best": {"per_s": 12.5}}, "error": "x"}
    assert dig(node, "hub.best.per_s") == 12.5
    assert dig(node, "hub.worst.per_s") is None
    assert dig(node, "error.per_s") is None


def test_percentile_picks_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.99) is None


def test_recovery_window_is_the_first_second_at_ninety_percent_of_the_rate() -> None:
    # 100/s until t=10, nothing until t=20, then 50/s for 2 s, then 100/s again
    times = [i / 100 for i in range(1000)]
    times += [20 + i / 50 for i in range(100)]
    times += [22 + i / 100 for i in range(500)]
    end = first_window(times, 20.0, rate=100.0)
    assert end is not None
    assert 22.75 <= end <= 22.85  # [21.8, 22.8): 10 at 50/s + 80 at 100/s = 90 %
    assert first_window(times[:1000], 20.0, rate=100.0) is None


ISSUE_KEYS = (
    "celery_equal_per_s_50ms", "ratio_vs_celery_equal_50ms", "ratio_vs_celery_50ms",
    "null_hub_per_s_0ms", "ratio_vs_null_hub_0ms", "max_rate_p99_250ms",
    "celery_equal_max_rate_p99_250ms", "cpu_ms_per_notice_0ms", "pika_pipelined_per_s",
    "ratio_producer_vs_pika_pipelined", "drain_100k_seconds", "recovery_seconds",
    "worker_rss_mb_backlog", "hub_per_s_50ms", "celery_per_s_50ms", "hub_per_s_0ms",
    "producer_confirmed_per_s", "kombu_confirmed_per_s",
)


def _round(hub50: float, equal: float, early: float, late: float) -> dict[str, dict]:
    return {
        "hub_50ms": {"per_s": hub50}, "celery_equal_50ms": {"per_s": equal},
        "celery_50ms": {"per_s": early}, "celery_acks_late_50ms": {"per_s": late},
        "hub_0ms": {"per_s": 600.0, "cpu_ms_per_notice_total": 2.0},
        "null_hub_0ms": {"per_s": 2000.0},
        "producer": {"hub": {"all": {"per_s": 9000.0}, "best": {"per_s": 9000.0}},
                     "pika": {"best": {"per_s": 10000.0}},
                     "kombu_per_message": {"per_s": 900.0}},
        "latency": {"hub": {"max_rate_p99_250ms": 750},
                    "celery_equal": {"max_rate_p99_250ms": 250}},
        "drain": {"seconds": 100.0, "rss_mb_peak": 120.0, "backlog": 100_000},
        "recovery": {"to_90_percent_s": 3.0, "first_delivery_s": 1.0},
    }


def test_headline_has_every_key_of_the_issue_each_with_its_spread() -> None:
    from bench.__main__ import headline

    rounds = [_round(600, 200, 1000, 1200), _round(500, 250, 1100, 900),
              _round(700, 200, 1300, 1000)]
    runs = {name: [r[name] for r in rounds] for name in rounds[0]}
    runs["celery_equal_50ms"][1] = {"error": "RuntimeError: broker gone"}
    head = headline(runs)
    for key in ISSUE_KEYS:
        assert head[key] is not None, key
        assert f"{key}_spread" in head, key
    assert head["hub_per_s_50ms"] == 600 and head["hub_per_s_50ms_spread"] == 200
    # the failed round is left out of Celery-equal and of the ratio
    assert head["celery_equal_per_s_50ms"] == 200
    assert head["ratio_vs_celery_equal_50ms"] == 3.25  # median of 3.0 and 3.5
    assert head["ratio_vs_celery_equal_50ms_spread"] == 0.5
    # against the faster Celery mode of each round: 1200, 1100, 1300
    assert head["celery_per_s_50ms"] == 1200
    assert head["ratio_vs_celery_50ms"] == 0.5
    assert head["ratio_producer_vs_pika_pipelined"] == 0.9
