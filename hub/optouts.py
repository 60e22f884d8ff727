"""수신거부: addresses that receive no non-critical notices, by the ledger's keyed hash.

Staff record an opt-out in the studio when a citizen asks on the phone: a phone number
or e-mail address, for one organisation or all (``"*"``). Only the keyed hash
(:func:`hub.ledger.privacy.address_hash`, the one ``trace`` looks addresses up by) and
a masked form are stored, never the address. :class:`hub.policy.Policy` asks
:meth:`OptOuts.blocks` for every non-critical notice and skips it with reason
``opted_out``; notices the rules mark ``critical`` or ``required`` (those the law
requires: 접수, 보완, 연장, 이송, 처리결과) still go.

Workers keep the list in memory and re-read it every ``refresh`` seconds (a change is
in force within seconds in every process), so a notice costs one HMAC and a set
look-up, not a query.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError

from hub.ledger.privacy import address_hash, mask_recipient
from hub.ledger.schema import opt_outs

log = logging.getLogger(__name__)

ALL_ORGS = "*"
REASON = "opted_out"


@dataclass(frozen=True)
class OptOut:
    address_hash: str
    org: str
    masked: str
    created_at: datetime
    created_by: str
    note: str | None


def _channel_of(address: str) -> str:
    return "email" if "@" in address else "sms"


class OptOuts:
    """The opt-out list in the ledger's database; see the module docstring."""

    def __init__(self, engine: Engine, hash_key: bytes, *, refresh: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.hash_key = hash_key
        self.refresh = refresh
        self.monotonic = monotonic
        self._cache: frozenset[tuple[str, str]] = frozenset()
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_ledger(cls, ledger: Any) -> OptOuts | None:
        """The list in ``ledger``'s database; None when it has none (memory, null)."""
        engine = getattr(ledger, "engine", None)
        return None if engine is None else cls(engine, ledger.hash_key)

    def digest(self, address: str) -> str:
        return address_hash(address, self.hash_key)

    # -- the worker's question -------------------------------------------------------
    def blocks(self, address: str, org: str) -> bool:
        """True when ``address`` opted out of ``org``'s notices (or of all)."""
        entries = self._entries()
        if not entries or not address:
            return False
        digest = self.digest(address)
        return (digest, org) in entries or (digest, ALL_ORGS) in entries

    def _entries(self) -> frozenset[tuple[str, str]]:
        now = self.monotonic()
        loaded = self._loaded_at
        if loaded is None or now - loaded >= self.refresh:
            with self._lock:
                if self._loaded_at is None or now - self._loaded_at >= self.refresh:
                    try:
                        with self.engine.connect().execution_options(ledger_read=True) as c:
                            self._cache = frozenset(
                                (h, o) for h, o in c.execute(
                                    select(opt_outs.c.address_hash, opt_outs.c.org)))
                    except Exception as exc:  # keep the last list; retry next time
                        log.error("opt-out list cannot be read: %s", exc)
                    self._loaded_at = now
        return self._cache

    # -- the studio's calls ------------------------------------------------------------
    def list(self, org: str | None = None) -> list[OptOut]:
        """Every entry (of ``org`` and those for all organisations), newest first."""
        query = select(opt_outs).order_by(opt_outs.c.created_at.desc())
        if org is not None:
            query = query.where(opt_outs.c.org.in_((org, ALL_ORGS)))
        with self.engine.connect().execution_options(ledger_read=True) as conn:
            return [OptOut(**r._asdict()) for r in conn.execute(query)]

    def add(self, address: str, org: str, *, by: str, note: str | None = None,
            at: datetime | None = None) -> OptOut:
        """Record an opt-out (idempotent: an existing entry is kept as it was)."""
        address = address.strip()
        if not address:
            raise ValueError("empty address")
        entry = OptOut(self.digest(address), org,
                       mask_recipient(None, address, _channel_of(address)),
                       at or datetime.now(UTC), by, note or None)
        try:
            with self.engine.begin() as conn:
                conn.execute(opt_outs.insert().values(**entry.__dict__))
        except IntegrityError:
            pass
        self._loaded_at = None
        return entry

    def remove(self, digest: str, org: str) -> bool:
        with self.engine.begin() as conn:
            removed = conn.execute(delete(opt_outs).where(
                opt_outs.c.address_hash == digest, opt_outs.c.org == org)).rowcount
        self._loaded_at = None
        return bool(removed)


def optouts_from_config(config: object) -> OptOuts | None:
    """The opt-out list of the configured ledger (None with a memory/null ledger)."""
    from hub.ledger.shared import shared_ledger

    return OptOuts.for_ledger(shared_ledger(config))
