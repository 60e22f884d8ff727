"""One SQL engine per ledger URL and process, for the readers beside the ledger: the
template store's database source, the opt-out list and the studio.

They open the ledger the configuration names once (which runs the migrations) and
share its engine; nothing here writes notices.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine

_lock = threading.Lock()
_ledgers: dict[tuple[str, str], Any] = {}


def is_sql(url: str) -> bool:
    return url.partition("://")[0].partition("+")[0].lower() in ("sqlite", "postgresql")


def shared_ledger(config: Any) -> Any:
    """The SqlLedger of ``config``'s ``ledger.url``, opened once per process (None
    when the ledger is not SQL)."""
    from hub.ledger import ledger_from_config

    url = str(config.get("ledger", "url", default="") or "")
    if not is_sql(url):
        return None
    key = (url, str(config.get("ledger", "hash_key", default="") or ""))
    with _lock:
        ledger = _ledgers.get(key)
        if ledger is None:
            ledger = _ledgers[key] = ledger_from_config(config)
        return ledger


def shared_engine(config: Any) -> Engine | None:
    ledger = shared_ledger(config)
    return None if ledger is None else ledger.engine
