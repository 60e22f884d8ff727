"""The sweeper: resolves claims left in ``sending`` by a worker that died.

A worker claims a notice (``sending``), calls the provider, then records the outcome.
If it dies in between, RabbitMQ redelivers the job, but the claim still says
``sending`` and every new delivery gets BUSY (re-delayed, no attempt counted). After
``timeout_s`` the sweeper decides the claim is stale and asks the notice's provider
(``lookup``: the channel's provider chain, :meth:`channels.base.Provider.lookup`):

* the provider accepted a message for it: the notice is settled ``sent`` (with the
  provider's message id), nothing is sent again;
* the provider is sure it accepted none: ``retrying``, the next delivery sends it
  (no risk of a second message);
* the provider cannot tell (no look-up, or it failed): ``retrying`` as well, but the
  possible resend is counted (``minwon_ledger_stale_resends_total``) and the notice's
  history says so (:data:`MAY_RESEND_REASON`).

``timeout_s`` should be well above the longest provider call so that a slow worker
is not taken for a dead one; if one is, its late record is refused by the claim's
fence (see :mod:`hub.ledger.base`).

Each resolution is a compare-and-set on (status ``sending``, same token, same
``claimed_at``): many workers may run sweepers at once, and a claim renewed in the
meantime is left alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from channels.base import LookupResult
from hub.ledger.base import RETRYING, SENT, STALE_REASON, Ledger, NoticeRecord, utcnow
from hub.metrics import LEDGER_STALE_CLAIMS, LEDGER_STALE_RESENDS

log = logging.getLogger(__name__)

SETTLED_REASON = "stale claim settled from the provider's answer"
NOT_SENT_REASON = f"{STALE_REASON}; the provider has no message for it: sending it"
MAY_RESEND_REASON = f"{STALE_REASON}; the provider cannot tell: sending it again may " \
    "send it twice"
#: How far before the claim a provider's look-up searches (clock skew between hosts).
LOOKUP_SKEW = timedelta(minutes=5)

#: Asks the notice's provider what became of it: a result, or None (cannot tell).
Lookup = Callable[[NoticeRecord], LookupResult | None]


def _cannot_tell(notice: NoticeRecord) -> LookupResult | None:
    return None


@dataclass(frozen=True)
class StaleClaim:
    """A stale claim the sweeper resolved (no personal data: safe to log)."""

    notification_id: str
    case_id: str | None
    channel: str
    owner: str | None
    claimed_at: datetime | None
    resolved: str  # the status it now has: "retrying", or "sent" when settled
    may_resend: bool = False  # retrying although the provider could not tell


class Sweeper:
    def __init__(
        self,
        ledger: Ledger,
        timeout_s: float,
        *,
        lookup: Lookup | None = None,
        channels: Collection[str] | None = None,
    ) -> None:
        """``lookup`` asks the notice's provider (default: nobody can tell);
        ``channels`` limits the sweep to the channels this process sends, whose
        providers it can ask."""
        if timeout_s <= 0:
            raise ValueError("the sweep timeout must be positive")
        self.ledger = ledger
        self.lookup = lookup or _cannot_tell
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
            found = self.lookup(notice)
        except Exception:
            log.warning("provider look-up for stale notice %s failed", notice.id, exc_info=True)
            found = None
        provider = message_id = None
        if found is not None and found.accepted:
            status, reason = SENT, SETTLED_REASON
            provider, message_id = found.provider, found.message_id
        elif found is not None:
            status, reason = RETRYING, NOT_SENT_REASON
        else:
            status, reason = RETRYING, MAY_RESEND_REASON
        if not self.ledger.resolve_stale(notice, status, reason=reason, provider=provider,
                                         message_id=message_id):
            return None  # renewed or resolved by someone else meanwhile
        may_resend = found is None
        LEDGER_STALE_CLAIMS.labels(notice.channel, status).inc()
        if may_resend:
            LEDGER_STALE_RESENDS.labels(notice.channel).inc()
        log.warning(
            "stale claim resolved",
            extra={"notification_id": notice.id, "channel": notice.channel,
                   "owner": notice.owner, "resolved": status, "may_resend": may_resend},
        )
        return StaleClaim(notice.id, notice.case_id, notice.channel, notice.owner,
                          notice.claimed_at, status, may_resend)

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
