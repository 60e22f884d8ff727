"""Retry policy: quick retries in-process, then the delay tiers, then the parking lot.

A transient failure is first retried a few times in the send thread (tenacity, with
exponential back-off of ``quick_wait``), for blips that last milliseconds. If it
persists, the job goes to a delay tier chosen by its attempt number: attempt 1 to
the first tier, attempt 2 to the second, and so on, staying on the last. Attempts
are counted in ``x-hub-attempt``; after ``max_attempts`` the job is parked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from channels.base import TransientError
from hub.topology import Tier, Topology

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    tiers: tuple[Tier, ...]
    max_attempts: int = 6
    quick_retries: int = 2
    quick_wait: float = 0.2

    @classmethod
    def from_config(cls, config: object, topology: Topology) -> RetryPolicy:
        section = config["retry"]  # type: ignore[index]
        return cls(
            tiers=topology.tiers,
            max_attempts=int(section["max_attempts"]),
            quick_retries=int(section["quick_retries"]),
            quick_wait=float(section["quick_wait"]),
        )

    def call(self, fn: Callable[[], T]) -> T:
        """Call ``fn``, retrying :class:`TransientError` ``quick_retries`` times."""
        try:
            return fn()  # the common case pays nothing for the retry machinery
        except TransientError:
            if self.quick_retries <= 0:
                raise
        time.sleep(self.quick_wait)
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(self.quick_retries),
            wait=wait_exponential(multiplier=self.quick_wait, max=self.quick_wait * 8),
            reraise=True,
        )
        return retrying(fn)

    def exhausted(self, attempt: int) -> bool:
        """True when attempt ``attempt`` was the last one allowed."""
        return attempt >= self.max_attempts

    def tier_for_attempt(self, attempt: int) -> Tier:
        """The delay before attempt ``attempt + 1``."""
        return self.tiers[min(max(attempt, 1), len(self.tiers)) - 1]
