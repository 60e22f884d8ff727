"""The ledger guard: a worker stops taking work while its ledger is down.

Every ledger call of a channel worker goes through :meth:`LedgerGuard.call`. When a
call fails, the guard marks the ledger down (``minwon_ledger_up{channel} 0``, the
loop's health says not consuming, ``/readyz`` fails) and the calling send thread
waits, probing the ledger with :meth:`~hub.ledger.base.Ledger.ping`, then makes the
same call again. Nothing turns a ledger failure into a retry of the notice: before
the provider call the job simply waits (prefetch bounds how many), and after the
provider accepted, the ``sent`` record is retried until it is written. No provider is
called again for a notice whose ``sent`` record is pending.

When the worker stops while the ledger is still down, :class:`LedgerUnavailable` is
raised to the waiting threads (their deliveries go back to the queue), except for
``sent`` records (``give_up=True``): that delivery is acked all the same, since a
redelivery could only send the notice a second time; the sweeper settles the claim
later from the provider's look-up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from hub import metrics
from hub.ledger.base import Ledger

log = logging.getLogger(__name__)

T = TypeVar("T")


class LedgerUnavailable(RuntimeError):
    """The worker is stopping and the ledger is still down."""


class LedgerGuard:
    #: Tries of one call that fails while the ledger answers pings.
    CALL_ATTEMPTS = 5

    def __init__(
        self,
        ledger: Ledger,
        channel: str,
        *,
        probe_interval: float = 1.0,
        max_probe_interval: float = 10.0,
    ) -> None:
        self.ledger = ledger
        self.channel = channel
        self.probe_interval = probe_interval
        self.max_probe_interval = max_probe_interval
        self._healthy = threading.Event()  # set while the ledger answers
        self._healthy.set()
        self._stop = threading.Event()
        self._probe_lock = threading.Lock()
        self._failed_probes = 0
        self._gauge = metrics.child(metrics.LEDGER_UP, channel)
        self._gauge.set(1)

    @property
    def up(self) -> bool:
        return self._healthy.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def resume(self) -> None:
        """Take work again after a :meth:`stop` (the loop reconnected)."""
        self._stop.clear()

    def stop(self) -> None:
        """Threads waiting for the ledger give up (:class:`LedgerUnavailable`); calls
        made while it answers go on as usual."""
        self._stop.set()

    def call(self, fn: Callable[..., T], *args: Any, give_up: bool = False,
             **kwargs: Any) -> T | None:
        """``fn(*args, **kwargs)``, again and again while the ledger is down. Returns
        None only with ``give_up`` when the worker stops before the ledger is back, or
        when this one call keeps failing although the ledger answers pings (a bad
        write, not an outage: without ``give_up`` its error is raised)."""
        failures_while_up = 0
        while True:
            if not self._healthy.is_set() and not self._wait_up():
                if give_up:
                    return None
                raise LedgerUnavailable("the ledger is down and the worker is stopping")
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                self._down(exc)
                failed_probes = self._failed_probes
                if not self._wait_up():
                    continue  # stopping: decided at the top of the loop
                if self._failed_probes != failed_probes:
                    failures_while_up = 0  # an outage, now over: try again at once
                    continue
                # The ledger answers, yet this call failed: back off; a call that
                # keeps failing against a live ledger is the call's fault.
                failures_while_up += 1
                if failures_while_up >= self.CALL_ATTEMPTS:
                    if give_up:
                        log.error("ledger write keeps failing (%s); giving it up", exc)
                        return None
                    raise
                self._stop.wait(self.probe_interval * 0.1 * 2 ** failures_while_up)

    def _down(self, exc: Exception) -> None:
        if self._healthy.is_set():
            log.error("ledger unavailable (%s: %s); this %s worker stops taking work "
                      "until it answers", type(exc).__name__, exc, self.channel)
        self._healthy.clear()
        self._gauge.set(0)

    def _wait_up(self) -> bool:
        """Wait until the ledger answers (one thread probes, the others wait); False
        when the worker stops first."""
        delay = self.probe_interval
        while not self._stop.is_set():
            if self._healthy.is_set():
                return True
            if self._probe_lock.acquire(blocking=False):
                try:
                    if self._probe():
                        return True
                finally:
                    self._probe_lock.release()
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_probe_interval)
            else:
                self._healthy.wait(min(self.probe_interval, 0.5))
        return False

    def _probe(self) -> bool:
        try:
            self.ledger.ping()
        except Exception as exc:
            log.debug("ledger still down: %s", exc)
            self._failed_probes += 1
            return False
        if not self._healthy.is_set():
            log.warning("ledger answers again; the %s worker takes work", self.channel)
        self._healthy.set()
        self._gauge.set(1)
        return True
