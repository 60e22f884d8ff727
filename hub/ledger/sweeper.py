"""The sweeper: resolves claims left in ``sending`` by a worker that died.

A worker claims a notice (``sending``), calls the provider, then records the outcome.
If it dies in between, RabbitMQ redelivers the job, but the claim still says
``sending`` and every new delivery gets BUSY (re-delayed, no attempt counted). After
``timeout_s`` the sweeper decides the claim is stale:

* it first asks :meth:`Ledger.settle_from_provider` whether the provider knows the
  message (a provider with a status look-up); if the answer is a final status
  (``sent``), the notice is settled without a resend;
* otherwise it marks the notice ``retrying`` with reason ``"stale claim (worker
  died?)"``, so the next delivery claims it and sends.

The rare case: a worker that died *after* the provider accepted the message but
*before* recording it causes one resend, unless the provider supports the look-up.
That is the price of never losing a notice; ``timeout_s`` should be well above the
longest provider call so that a slow worker is not taken for a dead one.

Each resolution is a compare-and-set on (status ``sending``, same ``claimed_at``): many
workers may run sweepers at once, and a claim renewed in the meantime is left alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.ledger.base import RETRYING, SETTLED, STALE_REASON, Ledger, NoticeRecord, utcnow
from hub.metrics import LEDGER_STALE_CLAIMS

log = logging.getLogger(__name__)

SETTLED_REASON = "stale claim settled from the provider's answer"


@dataclass(frozen=True)
class StaleClaim:
    """A stale claim the sweeper resolved (no personal data: safe to log)."""

    notification_id: str
    case_id: str | None
    channel: str
    owner: str | None
    claimed_at: datetime | None
    resolved: str  # the status it now has: "retrying", or "sent" when settled


class Sweeper:
    def __init__(
        self,
        ledger: Ledger,
        timeout_s: float,
        *,
        lookup: Callable[[NoticeRecord], str | None] | None = None,
        channels: Collection[str] | None = None,
    ) -> None:
        """``lookup`` asks the notice's provider (default: the ledger's
        :meth:`~Ledger.settle_from_provider`); ``channels`` limits the sweep to the
        channels this process sends, whose providers it can ask."""
        if timeout_s <= 0:
            raise ValueError("the sweep timeout must be positive")
        self.ledger = ledger
        self.lookup = lookup or ledger.settle_from_provider
        self.channels = None if channels is None else frozenset(channels)
        self.timeout = timedelta(seconds=timeout_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> list[StaleClaim]:
        """Resolve every claim older than the timeout at ``now``; returns those this
        sweeper resolved."""
        now = now or utcnow()
        resolved = []
        for notice in self.ledger.stale_claims(now - self.timeout):
            if self.channels is not None and notice.channel not in self.channels:
                continue
            outcome = self._resolve(notice)
            if outcome is not None:
                resolved.append(outcome)
        return resolved

    def _resolve(self, notice: NoticeRecord) -> StaleClaim | None:
        try:
            settled = self.lookup(notice)
        except Exception:
            log.warning("provider look-up for stale notice %s failed", notice.id, exc_info=True)
            settled = None
        if settled in SETTLED:
            status, reason = str(settled), SETTLED_REASON
        else:
            status, reason = RETRYING, STALE_REASON
        if not self.ledger.resolve_stale(notice, status, reason=reason):
            return None  # renewed or resolved by someone else meanwhile
        LEDGER_STALE_CLAIMS.labels(notice.channel, status).inc()
        log.warning(
            "stale claim resolved",
            extra={"notification_id": notice.id, "channel": notice.channel,
                   "owner": notice.owner, "resolved": status},
        )
        return StaleClaim(notice.id, notice.case_id, notice.channel, notice.owner,
                          notice.claimed_at, status)

    # -- periodic running in a worker process -----------------------------------
    def start(self, interval: float = 30.0) -> threading.Thread:
        """Run :meth:`run_once` every ``interval`` seconds in a daemon thread."""
        if self._thread is not None:
            return self._thread
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.run_once()
                except Exception:
                    log.exception("ledger sweep failed")

        self._thread = threading.Thread(target=loop, name="ledger-sweeper", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
