"""The delivery ledger: what was sent to whom, when and how, and the claim that makes
each notice go out once.

Open one with :func:`open_ledger` (or :func:`ledger_from_config`)::

    ledger = open_ledger("sqlite:///minwon-ledger.db", hash_key=key)
    claim = ledger.claim(job, attempt)
    if claim.state is ClaimState.NEW:
        ...send...
        ledger.record(job, "sent", attempt=attempt, provider="nhn", message_id="r-1",
                      token=claim.token)  # refused (False) if the claim went stale

URL schemes map to classes by short name (as kombu maps transport aliases):
``memory://`` → :class:`~hub.ledger.memory.MemoryLedger`, ``null://`` → the base
:class:`Ledger` (keeps nothing), ``sqlite:///path`` and ``postgresql+psycopg://...``
→ :class:`~hub.ledger.sql.SqlLedger` (migrations run on open).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from hub.ledger.base import (
    DEAD,
    DEFERRED,
    FAILED,
    LATE_SENT_REASON,
    QUEUED,
    RESENDABLE,
    RETRYING,
    SENDING,
    SENT,
    SETTLED,
    SKIPPED,
    STALE_REASON,
    STATUSES,
    CaseStory,
    Claim,
    ClaimState,
    EventRecord,
    HistoryEntry,
    Ledger,
    NoticeRecord,
    PurgeResult,
    Write,
)
from hub.ledger.privacy import DEV_HASH_KEY
from hub.ledger.sweeper import StaleClaim, Sweeper

__all__ = [
    "DEAD",
    "DEFAULT_RETENTION_DAYS",
    "DEFAULT_SWEEP_AFTER",
    "DEFERRED",
    "FAILED",
    "LATE_SENT_REASON",
    "LEDGERS",
    "QUEUED",
    "RESENDABLE",
    "RETRYING",
    "SENDING",
    "SENT",
    "SETTLED",
    "SKIPPED",
    "STALE_REASON",
    "STATUSES",
    "CaseStory",
    "Claim",
    "ClaimState",
    "EventRecord",
    "HistoryEntry",
    "Ledger",
    "NoticeRecord",
    "PurgeResult",
    "StaleClaim",
    "Sweeper",
    "Write",
    "ledger_from_config",
    "open_ledger",
]

log = logging.getLogger(__name__)

#: Short names (URL schemes) → implementation classes.
LEDGERS: dict[str, str] = {
    "null": "hub.ledger.base:Ledger",
    "memory": "hub.ledger.memory:MemoryLedger",
    "sqlite": "hub.ledger.sql:SqlLedger",
    "postgresql": "hub.ledger.sql:SqlLedger",
}

#: Default ``ledger.retention_days``: the ledger is an access record of personal data
#: (who was told what, when); docs/domain.md requires such records be kept at least one
#: year, so 400 days keeps a full year plus a month of margin for audits that start
#: late, and no longer.
DEFAULT_RETENTION_DAYS = 400
#: Default ``ledger.sweep_after``: seconds a claim may stay ``sending`` before the
#: sweeper treats its worker as dead. Well above a provider call (≤ 10 s with
#: in-process retries) so a slow worker is not mistaken for a dead one.
DEFAULT_SWEEP_AFTER = 300.0


def _scheme(url: str) -> str:
    return url.partition("://")[0].partition("+")[0].lower()


def _ledger_class(url: str) -> type[Ledger]:
    scheme = _scheme(url)
    try:
        target = LEDGERS[scheme]
    except KeyError:
        known = ", ".join(sorted(LEDGERS))
        raise ValueError(f"unknown ledger URL scheme {scheme!r}; known: {known}") from None
    module_name, _, class_name = target.partition(":")
    cls: type[Ledger] = getattr(importlib.import_module(module_name), class_name)
    return cls


def open_ledger(
    url: str, *, hash_key: bytes, store_raw_address: bool = False, **options: Any
) -> Ledger:
    """Open the ledger at ``url``. Extra ``options`` go to the class (e.g. ``clock``,
    ``owner``; for SQL: ``schema``, ``batch_size``, ``flush_interval``)."""
    cls: Any = _ledger_class(url)
    if _scheme(url) in ("null", "memory"):
        return cls(hash_key=hash_key, store_raw_address=store_raw_address, **options)
    return cls(url, hash_key=hash_key, store_raw_address=store_raw_address, **options)


def _key_bytes(value: Any) -> bytes:
    """The hash key as bytes. The environment reads a digits-only secret as a TOML
    integer: take its digits as text (``bytes(20261124)`` would be 20 million zero
    bytes). Other non-text values (a float, a boolean, a list) would not round-trip to
    the secret as written, so they are refused."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode()
    raise ValueError(
        f"ledger.hash_key must be text, not {type(value).__name__}: quote it "
        "(MINWON__LEDGER__HASH_KEY='\"...\"' or hash_key = \"...\" in the file)"
    )


def ledger_from_config(config: Any, **options: Any) -> Ledger:
    """Open the ledger that ``config`` ([ledger] url, hash_key, store_raw_address)
    names. ``hash_key`` should come from ``MINWON__LEDGER__HASH_KEY``; without one the
    development key is used and a warning logged."""
    url = str(config.get("ledger", "url", default="") or "sqlite:///minwon-ledger.db")
    raw_key = config.get("ledger", "hash_key", default="")
    if raw_key:
        key = _key_bytes(raw_key)
    else:
        if not url.startswith(("memory:", "null:")):
            log.warning(
                "ledger.hash_key is not set: using the development key; "
                "set MINWON__LEDGER__HASH_KEY in production"
            )
        key = DEV_HASH_KEY
    store_raw = bool(config.get("ledger", "store_raw_address", default=False))
    return open_ledger(url, hash_key=key, store_raw_address=store_raw, **options)
