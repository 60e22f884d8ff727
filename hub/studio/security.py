"""CSRF tokens (one per session, compared in constant time) and the sign-in rate
limit (failures per user name and per client address in a sliding window, in this
process's memory)."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, MutableMapping
from typing import Any

CSRF_KEY = "csrf"


def csrf_token(session: MutableMapping[str, Any]) -> str:
    token = session.get(CSRF_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def csrf_ok(session: MutableMapping[str, Any], given: Any) -> bool:
    token = session.get(CSRF_KEY)
    return (isinstance(token, str) and isinstance(given, str) and len(token) >= 32
            and hmac.compare_digest(token.encode(), given.encode()))


class LoginLimiter:
    """At most ``attempts`` failed sign-ins per user name (keys ``user:…``) within
    ``window`` seconds, and ten times that per client address (``addr:…``): neither one
    name from many addresses nor many names from one address can guess on, while a
    reverse proxy (every user behind one address) does not lock the whole office out
    after a few typos."""

    MAX_KEYS = 100_000
    ADDRESS_FACTOR = 10

    def __init__(self, attempts: int = 5, window: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.get(key)
        if found is None:
            return deque()
        while found and now - found[0] >= self.window:
            found.popleft()
        if not found:
            del self._failures[key]
        return found

    def retry_after(self, *keys: str) -> float:
        """Seconds until a sign-in may be tried again (0: now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                limit = self.attempts * (self.ADDRESS_FACTOR if key.startswith("addr:") else 1)
                if len(failures) >= limit:
                    wait = max(wait, self.window - (now - failures[0]))
        return wait

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) > self.MAX_KEYS:
                self._failures.clear()
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, name_key: str) -> None:
        with self._lock:
            self._failures.pop(name_key, None)
