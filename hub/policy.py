"""Delivery policies: whether a notice goes now, later, or never, and how fast.

:meth:`Policy.decide` answers for one job at a moment:

* **skip** (with a reason) when the recipient has no address for the channel, or the
  citizen did not list the channel in ``data.citizen.channels`` (the router already
  filters both; this is the safety net, and the reason lands in the ledger); and with
  reason ``opted_out`` when the notice is neither critical nor required by law
  (``job.required``: 접수, 처리결과, …) and its address is on the
  수신거부 list for the organisation or for all (:mod:`hub.optouts`, kept in the
  ledger's database by keyed hash; critical notices still go);
* **defer** until a time when the job has a ``not_before`` in the future (delayed
  notices, e.g. the satisfaction survey hours after the answer) or falls in quiet
  hours: the next allowed time, computed in the organisation's time zone;
* **send** otherwise.

Quiet hours: default ``policy.quiet_hours = "21:00-08:00"`` in ``policy.timezone =
"Asia/Seoul"``; an organisation overrides them with ``[orgs.<org>] quiet_hours =
"22:00-07:00"`` (``""`` disables them for that organisation) and may set its own
``timezone``; a rule disables them with ``quiet_hours = false`` (``job.quiet_hours``).
Critical jobs (``job.critical``, e.g. a deadline extension) ignore quiet hours. A window
may cross midnight; its start is inside it, its end is not; equal start and end mean
no quiet hours.

Rate limits: a token bucket per (organisation, channel), configured in
``[policy.rate_limits]`` as ``"gumi.sms" = 50`` (per second), ``"gumi.sms" = "3000/m"``
or ``"gumi.sms" = {rate = "50/s", burst = 100}``; ``"*.sms"``, ``"gumi.*"`` and ``"*"``
give the rate to pairs without an exact entry (each pair still has its own bucket).
The buckets live in each process unless ``policy.rate_store`` names a Redis server:
then every replica of a channel shares them (:mod:`hub.shared_rates`).
:meth:`Policy.acquire` returns the seconds to wait (0 = go): the worker sleeps that
long in its send thread; a longer wait than ``policy.max_rate_wait`` (1 s by default)
takes no token and tells the worker to defer the job by that long instead.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING, Any, Literal, Protocol
from zoneinfo import ZoneInfo

from hub.jobs import Job

if TYPE_CHECKING:
    from hub.shared_rates import SharedRateLimiter

DEFAULT_QUIET_HOURS = "21:00-08:00"
DEFAULT_TIMEZONE = "Asia/Seoul"
DEFAULT_MAX_RATE_WAIT = 1.0  # seconds a send thread may sleep for the rate limit

Action = Literal["send", "defer", "skip"]
OPTED_OUT = "opted_out"  # the skip reason of a notice to an address on the 수신거부 list


@dataclass(frozen=True)
class Decision:
    action: Action
    until: datetime | None = None  # for "defer": the earliest time to send
    reason: str | None = None

    @classmethod
    def send(cls) -> Decision:
        return cls("send")

    @classmethod
    def defer(cls, until: datetime, reason: str) -> Decision:
        return cls("defer", until, reason)

    @classmethod
    def skip(cls, reason: str) -> Decision:
        return cls("skip", None, reason)


_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    """A daily window ``[start, end)`` in ``tz``; it may cross midnight."""

    start: dtime
    end: dtime
    tz: ZoneInfo

    @classmethod
    def parse(cls, text: str | None, tz: str | ZoneInfo = DEFAULT_TIMEZONE) -> QuietHours | None:
        """``"21:00-08:00"`` → a window; ``""``, ``"off"``, ``None`` or an empty window
        (equal ends) → None (no quiet hours). Raises ValueError on anything else."""
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        if text is None or str(text).strip().lower() in ("", "off", "none", "false"):
            return None
        match = _HHMM.match(str(text))
        if not match:
            raise ValueError(f"quiet hours must look like '21:00-08:00', not {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"quiet hours {text!r}: not a time of day")
        start, end = dtime(h1, m1), dtime(0 if h2 == 24 else h2, m2)
        return None if start == end else cls(start, end, zone)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.tz.key}"

    def next_allowed(self, moment: datetime) -> datetime | None:
        """None when ``moment`` is outside the window; else the window's end (the
        first allowed time), aware in the window's time zone."""
        local = _aware(moment).astimezone(self.tz)
        t = local.time().replace(tzinfo=None)
        day = local.date()
        if self.start < self.end:
            if not self.start <= t < self.end:
                return None
        elif t >= self.start:
            day += timedelta(days=1)  # evening part: ends tomorrow morning
        elif not t < self.end:
            return None
        return datetime.combine(day, self.end, tzinfo=self.tz)

    def contains(self, moment: datetime) -> bool:
        return self.next_allowed(moment) is not None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- rate limits -------------------------------------------------------------------
_RATE = re.compile(r"^\s*([\d.]+)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*$", re.I)
_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
        "h": 3600.0, "hour": 3600.0}


def parse_rate(value: Any) -> tuple[float, float]:
    """``50`` / ``"50/s"`` / ``"3000/m"`` / ``{rate = .., burst = ..}`` → (per second,
    burst). The burst defaults to one second's worth (at least 1)."""
    burst: float | None = None
    if isinstance(value, Mapping):
        burst = float(value["burst"]) if value.get("burst") is not None else None
        value = value["rate"]
    if isinstance(value, bool):
        raise ValueError(f"not a rate: {value!r}")
    if isinstance(value, int | float):
        rate = float(value)
    else:
        match = _RATE.match(str(value))
        if not match:
            raise ValueError(f"a rate looks like 50, '50/s' or '3000/m', not {value!r}")
        rate = float(match.group(1)) / _PER[(match.group(2) or "s").lower()]
    if rate <= 0:
        raise ValueError(f"a rate must be positive, not {value!r}")
    return rate, burst if burst is not None else max(1.0, rate)


def limit_for(limits: Mapping[str, tuple[float, float]], org: str,
              channel: str) -> tuple[float, float] | None:
    """The (rate, burst) of ``org.channel``: its own entry, else ``org.*``, ``*.channel``,
    ``*``; None when none applies."""
    for key in (f"{org}.{channel}", f"{org}.*", f"*.{channel}", "*"):
        if key in limits:
            return limits[key]
    return None


class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``. Callers *reserve* tokens:
    the balance may go negative, so concurrent callers get staggered waits."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = now

    def take(self, now: float, max_wait: float | None) -> float:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        wait = (1.0 - self.tokens) / self.rate
        if max_wait is not None and wait > max_wait:
            return wait  # not reserved: the caller defers instead
        self.tokens -= 1.0
        return wait


Clock = Callable[[], "float | datetime"]


def _seconds(clock: Clock) -> Callable[[], float]:
    """A clock in seconds, from one giving seconds or datetimes (the worker's clock)."""

    def read() -> float:
        value = clock()
        return value.timestamp() if isinstance(value, datetime) else float(value)

    return read


class RateLimiter:
    """Token buckets per (org, channel); thread-safe. ``clock`` gives seconds (e.g.
    ``time.monotonic``) or aware datetimes."""

    def __init__(
        self, limits: Mapping[str, Any] | None = None, *, clock: Clock = time.monotonic
    ) -> None:
        self.limits = {str(k): parse_rate(v) for k, v in (limits or {}).items()}
        self.clock = _seconds(clock)
        self._buckets: dict[tuple[str, str], TokenBucket | None] = {}
        self._lock = threading.Lock()

    def limit_for(self, org: str, channel: str) -> tuple[float, float] | None:
        return limit_for(self.limits, org, channel)

    def acquire(self, org: str, channel: str, max_wait: float | None = None) -> float:
        """Take a token; returns the seconds to wait before sending (0 = go now).
        With ``max_wait``, a wait longer than it reserves nothing and is returned so
        the caller can defer the job instead of sleeping."""
        with self._lock:
            now = self.clock()
            key = (org, channel)
            if key not in self._buckets:
                limit = self.limit_for(org, channel)
                self._buckets[key] = None if limit is None else TokenBucket(*limit, now)
            bucket = self._buckets[key]
            return 0.0 if bucket is None else bucket.take(now, max_wait)


# -- the policy --------------------------------------------------------------------
class OptOutList(Protocol):
    """hub.optouts.OptOuts: has ``address`` opted out of ``org``'s notices?"""

    def blocks(self, address: str, org: str) -> bool: ...


class Policy:
    """Decides send / defer / skip for a job; see the module docstring."""

    def __init__(self, config: Any, *, clock: Clock = time.monotonic,
                 optouts: OptOutList | None = None) -> None:
        get = config.get
        #: the 수신거부 list (hub.optouts.OptOuts), or None: no opt-outs
        self.optouts = optouts
        self.timezone = ZoneInfo(str(get("policy", "timezone", default=None) or DEFAULT_TIMEZONE))
        default_window = get("policy", "quiet_hours", default=DEFAULT_QUIET_HOURS)
        self.default_quiet = QuietHours.parse(default_window, self.timezone)
        self.max_rate_wait = float(
            get("policy", "max_rate_wait", default=DEFAULT_MAX_RATE_WAIT)
        )
        limits = get("policy", "rate_limits", default={}) or {}
        store = str(get("policy", "rate_store", default="") or "")
        self.limiter: RateLimiter | SharedRateLimiter
        if store:
            from hub.shared_rates import SharedRateLimiter  # needs the `redis` extra

            self.limiter = SharedRateLimiter(store, limits)
        else:
            self.limiter = RateLimiter(limits, clock=clock)
        self._org_quiet: dict[str, QuietHours | None] = {}
        for org, profile in (get("orgs", default={}) or {}).items():
            if not isinstance(profile, Mapping):
                continue
            tz = ZoneInfo(str(profile.get("timezone") or self.timezone.key))
            if "quiet_hours" in profile:
                self._org_quiet[org] = QuietHours.parse(profile["quiet_hours"], tz)
            elif self.default_quiet is not None and tz != self.timezone:
                self._org_quiet[org] = QuietHours(
                    self.default_quiet.start, self.default_quiet.end, tz
                )

    def quiet_hours(self, org: str) -> QuietHours | None:
        """The organisation's window (its override, else the default)."""
        return self._org_quiet.get(org, self.default_quiet)

    def decide(self, job: Job, now: datetime, *, not_before: datetime | None = None) -> Decision:
        now = _aware(now)
        skip = self._skip_reason(job)
        if skip is not None:
            return Decision.skip(skip)
        earliest = _aware(not_before) if not_before is not None and _aware(not_before) > now \
            else None
        moment = earliest or now
        window = self.quiet_hours(job.org)
        if window is not None and job.quiet_hours and not job.critical:
            end = window.next_allowed(moment)
            if end is not None:
                return Decision.defer(end, f"quiet hours {window}")
        if earliest is not None:
            return Decision.defer(earliest, "not before its scheduled time")
        return Decision.send()

    def _skip_reason(self, job: Job) -> str | None:
        recipient = job.recipient
        if not (recipient.address or "").strip():
            return f"{recipient.role} has no address for channel {job.channel}"
        listed = recipient.fields.get("channels") if recipient.fields else None
        if listed is None and recipient.role == "citizen":
            citizen = job.data.get("citizen")
            listed = citizen.get("channels") if isinstance(citizen, Mapping) else None
        if isinstance(listed, list | tuple) and job.channel not in listed:
            return f"{recipient.role} did not list channel {job.channel}"
        if (not (job.critical or job.required) and self.optouts is not None
                and self.optouts.blocks(recipient.address, job.org)):
            return OPTED_OUT
        return None

    def acquire(self, org: str, channel: str, max_wait: float | None = None) -> float:
        """Seconds to wait before sending for the (org, channel) rate limit; 0 = go.
        A wait above ``max_wait`` (default ``policy.max_rate_wait``) takes no token:
        the caller defers the job by that long instead of sleeping. See
        :meth:`RateLimiter.acquire`."""
        limit = self.max_rate_wait if max_wait is None else max_wait
        return self.limiter.acquire(org, channel, limit)
