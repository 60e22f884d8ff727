"""Configuration: a TOML file, then ``MINWON__SECTION__KEY`` environment overrides.

The file is ``$MINWON_CONFIG``, else ``./minwon.toml`` when present, else none.
Every key can be overridden from the environment with double underscores between
levels (``MINWON__BROKER__URL``, ``MINWON__PROVIDERS__OUTBOX__DIR``). Values from
the environment are read as TOML values when they parse as one (``8``, ``true``,
``["sms", "email"]``) and as plain strings otherwise. Secrets belong in the
environment only.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "MINWON__"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672//"

DEFAULTS: dict[str, Any] = {
    "broker": {
        "url": "",  # empty: `demo` uses the embedded in-memory transport, `run` the default URL
        "heartbeat": 30,
        "prefetch": 256,
        "connect_timeout": 10,
        "management_url": "",  # empty: http://<amqp host>:15672 (status, dlq)
    },
    "router": {
        "rules": "",  # empty: the packaged hub/rules.toml
        "max_event_bytes": 256 * 1024,
    },
    "worker": {
        "concurrency": 128,  # sends in flight per worker; bounded by broker.prefetch
        "shutdown_timeout": 30,
    },
    "retry": {
        "tiers": ["10s", "1m", "10m", "1h"],
        "max_attempts": 6,
        "quick_retries": 2,  # in-process retries (tenacity) before a delay tier
        "quick_wait": 0.2,  # seconds, doubled each time
    },
    "channels": {
        "sms": {"providers": ["outbox"]},
        "email": {"providers": ["outbox"]},
        "push": {"providers": ["outbox"]},
    },
    "providers": {
        "outbox": {"dir": "outbox"},
    },
    "templates": {
        "dir": str(ROOT / "templates"),
        "reload_interval": 2.0,
        # "database": published versions in the ledger's database (알림 스튜디오) replace
        # the folder's files; "folder": the folder alone (also with a memory ledger)
        "source": "database",
    },
    "studio": {  # 알림 스튜디오 (minwon-hub studio)
        "host": "127.0.0.1",
        "port": 8080,
        "secret_key": "",  # secret: MINWON__STUDIO__SECRET_KEY (signs session cookies);
        # empty: a random key per start (everyone signs in again after a restart)
        "secure_cookies": False,  # true when served over HTTPS (cookies marked Secure)
        "session_minutes": 480,  # a session expires this long after sign-in
        "login_attempts": 5,  # failed sign-ins allowed per user name and address ...
        "login_window": 300,  # ... within this many seconds
        "test_sends_per_hour": 10,  # "send a test to me", per user
        "proxy_user_header": "",  # e.g. "X-Remote-User": trust a reverse proxy's SSO
    },
    "ledger": {
        "url": "sqlite:///minwon-ledger.db",
        "hash_key": "",  # secret: MINWON__LEDGER__HASH_KEY (keyed hash of addresses)
        "store_raw_address": False,
        "retention_days": 400,  # access records kept ≥ 1 year (안전성 확보조치 기준 §8)
        "sweep_after": 300,  # seconds before a claim left in "sending" is taken as stale
    },
    "metrics": {
        "port": 9108,
        "addr": "0.0.0.0",
    },
    "policy": {
        "quiet_hours": "21:00-08:00",
        "timezone": "Asia/Seoul",
        "rate_limits": {},  # e.g. "gumi.sms" = 50 (per second), "*.email" = "3000/m"
        "max_rate_wait": 1.0,
        # "redis://host:6379/0": rate limits shared by every replica (hub.shared_rates);
        # empty: each process keeps its own buckets (one replica per channel)
        "rate_store": "",
    },
    "calendar": {"extra_holidays": []},  # ISO dates of 임시공휴일, beside holidays.KR
    "orgs": {},
    "logging": {"level": "INFO", "format": "json"},
}


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``extra`` into a copy of ``base``; tables merge, other values replace."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """The nested table that ``MINWON__A__B=v`` variables describe."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"{name}: {part!r} is both a value and a table")
        if isinstance(node.get(path[-1]), dict):
            raise ValueError(f"{name}: {path[-1]!r} is both a value and a table")
        node[path[-1]] = _parse_env_value(raw)
    return tree


class Config:
    """Read-only view of the merged configuration: ``cfg["broker"]["url"]`` or
    ``cfg.get("providers", "outbox", "dir")``."""

    def __init__(self, data: Mapping[str, Any], source: Path | None = None) -> None:
        self.data = dict(data)
        self.source = source

    def __getitem__(self, section: str) -> Any:
        return self.data[section]

    def get(self, *path: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    def with_overrides(self, extra: Mapping[str, Any]) -> Config:
        return Config(deep_merge(self.data, extra), self.source)

    # Convenience accessors used all over the hub.
    @property
    def broker_url(self) -> str:
        return str(self.data["broker"]["url"] or "")

    def org(self, key: str) -> dict[str, Any]:
        """The organisation's profile, with fallbacks that keep templates rendering."""
        profile = dict(self.data.get("orgs", {}).get(key, {}))
        profile.setdefault("key", key)
        profile.setdefault("name", key)
        profile.setdefault("callcenter", "110")
        profile.setdefault("url", "")
        return profile


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Defaults, then the TOML file, then the environment."""
    environ = os.environ if environ is None else environ
    chosen: Path | None = None
    if path:
        chosen = Path(path)
    elif environ.get("MINWON_CONFIG"):
        chosen = Path(environ["MINWON_CONFIG"])
    elif Path("minwon.toml").is_file():
        chosen = Path("minwon.toml")
    data = DEFAULTS
    if chosen is not None:
        if not chosen.is_file():
            raise FileNotFoundError(f"configuration file {chosen} does not exist")
        with chosen.open("rb") as fh:
            data = deep_merge(data, tomllib.load(fh))
    data = deep_merge(data, env_overrides(environ))
    return Config(data, chosen)
