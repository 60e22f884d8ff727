"""Repetitions: the order scenarios run in, and a median with its spread.

Every scenario runs ``repeat`` times; rounds are interleaved (hub, peer, hub, peer, …),
the scenarios compared with each other run back to back, and the order rotates from
round to round, so a load that climbs during the run falls on every scenario alike
instead of on whichever runs last.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any


def interleaved(groups: Sequence[Sequence[str]], repeat: int) -> list[tuple[int, str]]:
    """(round, scenario) pairs: ``repeat`` rounds, each with every scenario once. The
    scenarios compared with each other form a group and run back to back; each round
    rotates the order of the groups and the order within each group by one, so no
    scenario always runs first or last, or always right after the same one."""
    order: list[tuple[int, str]] = []
    for r in range(repeat):
        g = r % len(groups) if groups else 0
        for group in [*groups[g:], *groups[:g]]:
            k = r % len(group) if group else 0
            order += [(r, name) for name in [*group[k:], *group[:k]]]
    return order


def median_spread(values: Iterable[float | None]) -> tuple[float | None, float | None]:
    """(median, max - min) of the values that are there; (None, None) when none is."""
    have = [float(v) for v in values if v is not None]
    if not have:
        return None, None
    return statistics.median(have), max(have) - min(have)


def dig(node: Any, path: str) -> Any:
    """``dig(d, "a.b")`` is ``d["a"]["b"]``, or None when a step is missing."""
    for key in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def summarise(runs: Sequence[dict[str, Any]], path: str) -> tuple[float | None, float | None]:
    """Median and spread of ``path`` over the runs of one scenario (failed runs are
    left out)."""
    return median_spread(dig(r, path) for r in runs if "error" not in r)


def paired_ratio(a: Sequence[float | None],
                 b: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Median and spread of a[i] / b[i] over the rounds where both are there: each
    round's pair ran close together, under about the same load."""
    return median_spread(x / y for x, y in zip(a, b, strict=False) if x and y)


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
