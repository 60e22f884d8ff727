"""A channel's providers as an ordered chain with failover and circuit breakers.

:func:`build_chain` is the one entry point the worker uses: it reads
``[channels.<channel>] providers = ["nhn", "sens"]`` (short names, in order) and
each provider's ``[providers.<name>]`` table, and returns a :class:`ProviderChain`,
which has the provider interface itself (a thread-safe ``send(message) -> Receipt``).

How a send goes through the chain:

* providers are tried in order; one whose :meth:`~channels.base.Provider.accepts`
  says no (알림톡 without a template code) is passed over;
* :class:`~channels.base.TransientError` → the next provider is tried;
* :class:`~channels.base.PermanentError` → the chain stops and raises it: a
  permanent answer is about the recipient or the content, and another provider
  would only say the same (or, worse, deliver what the first rightly refused);
* :class:`~channels.base.CredentialsError` is the exception to that rule: it says
  nothing about the recipient, only that *our account or configuration* at that
  provider cannot send (bad key, suspended account, unregistered sender number,
  missing setting, an unapproved 알림톡 template): the next provider would deliver
  it. The rule behind both: stop the chain only when the next provider would
  refuse the same recipient or content (see :mod:`channels.results`). The chain counts it in
  ``minwon_provider_credentials_rejected_total`` (alert-worthy) and fails over to
  the next provider, so one expired key does not stop a channel that has a second
  provider. If every provider failed and at least one failed transiently, the last
  :class:`TransientError` is raised (the job is retried later); if all of them
  rejected our credentials, the last :class:`CredentialsError` is raised
  (permanent: parked with its reason).

Circuit breaker, one per provider: ``failure_threshold`` consecutive failures
(transient or credentials) open it; while open, the provider is skipped; after
``reset_after`` seconds one send is let through as a trial (half-open); success
closes the breaker, failure opens it again for another ``reset_after``. A
permanent answer counts as success: the provider is up and answering.
``minwon_provider_available{channel,provider}`` is 0 while a breaker is open.
When every provider that would take the notice is out of rotation, ``send``
raises :class:`TransientError` with code ``CIRCUIT-OPEN`` without calling anyone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels import load_provider
from channels.base import (
    CredentialsError,
    JobContext,
    LookupResult,
    Message,
    PermanentError,
    Provider,
    Receipt,
    SendError,
    TransientError,
)
from hub import metrics

log = logging.getLogger(__name__)

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class CircuitBreaker:
    """Closed → (``threshold`` consecutive failures) → open → (``reset_after``
    seconds) → half-open: one trial → closed on success, open on failure.
    Thread-safe."""

    def __init__(
        self,
        threshold: int = 5,
        reset_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.threshold = max(1, threshold)
        self.reset_after = reset_after
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    def _set(self, state: str) -> None:
        if state != self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)

    def allow(self) -> bool:
        """Whether a send may go to this provider now (claims the trial when half-open)."""
        with self._lock:
            if self._state == CLOSED:
                return True
            if self._state == OPEN and self._clock() - self._opened_at >= self.reset_after:
                self._set(HALF_OPEN)
                self._trial_in_flight = False
            if self._state == HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._trial_in_flight = False
            self._set(CLOSED)

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state == HALF_OPEN or self._failures >= self.threshold:
                self._opened_at = self._clock()
                self._trial_in_flight = False
                self._set(OPEN)


@dataclass
class _Link:
    name: str
    provider: Provider
    breaker: CircuitBreaker


class ProviderChain:
    """Providers of one channel tried in order (see the module docstring)."""

    def __init__(
        self,
        channel: str,
        providers: Sequence[Provider],
        *,
        names: Sequence[str] | None = None,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not providers:
            raise ValueError(f"channel {channel!r} has no providers")
        labels = list(names) if names is not None else [p.name for p in providers]
        if len(labels) != len(providers):
            raise ValueError("names and providers differ in length")
        self.channel = channel
        self.links: list[_Link] = []
        for label, provider in zip(labels, providers, strict=True):
            gauge = metrics.PROVIDER_UP.labels(channel=channel, provider=label)
            gauge.set(1)
            breaker = CircuitBreaker(
                failure_threshold, reset_after, clock, on_change=_gauge_setter(gauge)
            )
            self.links.append(_Link(label, provider, breaker))

    @property
    def names(self) -> list[str]:
        return [link.name for link in self.links]

    def states(self) -> dict[str, str]:
        """Each provider's breaker state, for ``status`` screens."""
        return {link.name: link.breaker.state for link in self.links}

    def _observe(self, link: _Link, outcome: str, started: float) -> None:
        metrics.child(metrics.PROVIDER_LATENCY, self.channel, link.name, outcome).observe(
            time.perf_counter() - started
        )

    def send(self, message: Message) -> Receipt:
        """Send through the first provider that takes it; see the module docstring."""
        last_transient: TransientError | None = None
        last_credentials: CredentialsError | None = None
        accepted = 0
        for link in self.links:
            if not link.provider.accepts(message):
                continue
            accepted += 1
            if not link.breaker.allow():
                continue
            started = time.perf_counter()
            try:
                receipt = link.provider.send(message)
            except CredentialsError as exc:
                self._observe(link, "credentials", started)
                metrics.child(
                    metrics.PROVIDER_CREDENTIALS_REJECTED, self.channel, link.name
                ).inc()
                if getattr(exc, "trips_breaker", True):  # not for one notice's template
                    link.breaker.failure()
                last_credentials = exc
                log.error(
                    "provider rejected our credentials; failing over",
                    extra=_log_extra(self.channel, link.name, message, exc),
                )
                continue
            except PermanentError as exc:
                self._observe(link, "permanent", started)
                link.breaker.success()
                raise exc
            except TransientError as exc:
                self._observe(link, "transient", started)
                link.breaker.failure()
                last_transient = exc
                log.warning(
                    "provider failed transiently; failing over",
                    extra=_log_extra(self.channel, link.name, message, exc),
                )
                continue
            except Exception as exc:  # a provider bug: never let it stop the channel
                self._observe(link, "transient", started)
                link.breaker.failure()
                if isinstance(exc, SendError) and exc.permanent:
                    raise
                last_transient = TransientError(
                    f"provider raised {type(exc).__name__}",
                    provider=link.name,
                    code="PROVIDER-ERROR",
                )
                log.exception(
                    "provider raised an unclassified error",
                    extra=_log_extra(self.channel, link.name, message, last_transient),
                )
                continue
            self._observe(link, "sent", started)
            link.breaker.success()
            return receipt
        if last_transient is not None:
            raise last_transient
        if last_credentials is not None:
            raise last_credentials
        if accepted:
            raise TransientError(
                "every provider is out of rotation (circuit open)",
                provider=self.channel,
                code="CIRCUIT-OPEN",
            )
        raise PermanentError(
            "no provider of this channel accepts the notice",
            provider=self.channel,
            code="NO-PROVIDER",
        )

    def prepare(self, message: Message, context: JobContext) -> Message:
        """Every provider's :meth:`~channels.base.Provider.prepare`, in chain order
        (each adds its own keys), so the message fits whichever provider takes it."""
        for link in self.links:
            message = link.provider.prepare(message, context)
        return message

    @property
    def supports_lookup(self) -> bool:
        """Whether every provider of the chain can answer a look-up: only then does
        "none accepted it" mean the notice was not sent."""
        return all(link.provider.supports_lookup for link in self.links)

    def lookup(self, notification_id: str, sent_after: datetime) -> LookupResult | None:
        """Ask each provider that can tell whether it accepted ``notification_id``
        (sweeper). An acceptance anywhere wins; "not accepted" only when every provider
        of the chain could tell; otherwise None (cannot tell)."""
        refused: LookupResult | None = None
        unsure = False
        for link in self.links:
            if not link.provider.supports_lookup:
                unsure = True
                continue
            try:
                result = link.provider.lookup(notification_id, sent_after)
            except Exception:  # a failed look-up means "cannot tell"
                log.warning("look-up failed", extra={"provider": link.name}, exc_info=True)
                result = None
            if result is None:
                unsure = True
            elif result.accepted:
                return result
            else:
                refused = result
        return None if unsure else refused

    def close(self) -> None:
        for link in self.links:
            try:
                link.provider.close()
            except Exception:  # closing must not fail shutdown
                log.exception("closing provider failed", extra={"provider": link.name})


def _gauge_setter(gauge: Any) -> Callable[[str], None]:
    def set_state(state: str) -> None:
        gauge.set(0 if state == OPEN else 1)

    return set_state


def _log_extra(channel: str, provider: str, message: Message, exc: SendError) -> dict[str, Any]:
    return {
        "channel": channel,
        "provider": provider,
        "notification_id": message.notification_id,
        "code": exc.code,
        "reason": exc.reason,
    }


def build_chain(channel: str, config: Any) -> ProviderChain:
    """The provider chain of ``channel`` from configuration (a :class:`hub.config.Config`).

    ``[channels.<channel>]``: ``providers`` (ordered short names),
    ``failure_threshold`` (5), ``reset_after`` (30 seconds).
    ``[providers.<name>]``: that provider's settings; a table may name its
    implementation with ``type`` (``[providers.nhn_backup] type = "nhn"``) so two
    accounts of one provider can sit in one chain.
    """
    table = config.get("channels", channel, default=None) or {}
    names = [str(n) for n in (table.get("providers") or [])]
    if not names:
        raise ValueError(f"[channels.{channel}] providers is empty")
    providers: list[Provider] = []
    for name in names:
        settings = dict(config.get("providers", name, default=None) or {})
        implementation = str(settings.get("type") or name)
        providers.append(load_provider(channel, implementation, settings))
    return ProviderChain(
        channel,
        providers,
        names=names,
        failure_threshold=int(table.get("failure_threshold", 5)),
        reset_after=float(table.get("reset_after", 30.0)),
    )
