"""Rate limits shared by every replica: one token bucket per (organisation, channel) in
Redis, so N worker processes together send no faster than the configured limit.

``[policy] rate_store = "redis://host:6379/0"`` turns it on (empty: each process keeps
its own buckets, :class:`hub.policy.RateLimiter`, which is right for one replica per
channel). The bucket is the same reserving token bucket as in-process — a caller may
take a token ahead and is told how long to wait — updated atomically by one Lua script
with the Redis server's clock, so replicas on different machines agree on time.

When Redis does not answer, nothing is sent unmetered: :meth:`SharedRateLimiter.acquire`
answers a wait of ``unavailable_wait`` seconds (longer than ``policy.max_rate_wait``),
so the worker defers the notice through a delay tier, and
``minwon_rate_store_errors_total`` rises (alert ``MinwonRateStoreDown``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from hub import metrics
from hub.policy import limit_for, parse_rate

log = logging.getLogger(__name__)

KEY_PREFIX = "minwon:rate:"

# KEYS[1] bucket; ARGV: rate (tokens/s), burst, max wait (-1: none).
# Returns the wait in seconds as a string (Lua numbers would be cut to integers).
TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
  if max_wait < 0 or wait <= max_wait then
    tokens = tokens - 1
  end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst + 1) / rate * 1000) + 60000)
return tostring(wait)
"""


class SharedRateLimiter:
    """:class:`hub.policy.RateLimiter`'s interface, the buckets kept in Redis."""

    def __init__(self, url: str, limits: Mapping[str, Any] | None = None, *,
                 unavailable_wait: float = 5.0, timeout: float = 0.5,
                 client: Any = None) -> None:
        import redis  # the optional `redis` extra: only a shared store needs it

        self.limits = {str(k): parse_rate(v) for k, v in (limits or {}).items()}
        self.unavailable_wait = unavailable_wait
        self.client = client or redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._take = self.client.register_script(TAKE)
        self._errors = redis.RedisError
        self._last_warning = 0.0

    def limit_for(self, org: str, channel: str) -> tuple[float, float] | None:
        return limit_for(self.limits, org, channel)

    def acquire(self, org: str, channel: str, max_wait: float | None = None) -> float:
        limit = self.limit_for(org, channel)
        if limit is None:
            return 0.0
        rate, burst = limit
        try:
            answer = self._take(keys=[f"{KEY_PREFIX}{org}.{channel}"],
                                args=[rate, burst, -1 if max_wait is None else max_wait])
        except (self._errors, OSError) as exc:
            metrics.RATE_STORE_ERRORS.inc()
            now = time.monotonic()
            if now - self._last_warning > 10:
                self._last_warning = now
                log.warning("rate store unavailable (%s): deferring notices %.0f s",
                            type(exc).__name__, self.unavailable_wait)
            return self.unavailable_wait
        return float(answer)
