"""The benchmark's own PostgreSQL databases on the shared server (``BENCH_PG``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432``): each is named
``bench_<random>``, made for one scenario run and dropped afterwards; nothing else on
the server is touched."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

SERVER = os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def _admin() -> object:
    import psycopg

    dsn = SERVER.replace("postgresql+psycopg://", "postgresql://", 1) + "/postgres"
    return psycopg.connect(dsn, autocommit=True, connect_timeout=10)


def create(prefix: str = "bench", *, migrate: bool = True) -> str:
    """A new database; with ``migrate``, the ledger's schema made in it (once, here,
    instead of by every hub process at its start: that is set-up, not the work)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _admin() as conn:  # type: ignore[attr-defined]
        conn.execute(f'CREATE DATABASE "{name}"')
    if migrate:
        from hub.ledger import open_ledger

        open_ledger(url(name), hash_key=b"bench-hash-key").close()
    return name


def drop(name: str) -> None:
    if not name.startswith("bench_"):  # never anything the benchmark did not make
        raise ValueError(f"not a benchmark database: {name}")
    with contextlib.suppress(Exception), _admin() as conn:  # type: ignore[attr-defined]
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def url(name: str) -> str:
    return f"{SERVER}/{name}"


@contextlib.contextmanager
def database() -> Iterator[str]:
    """A fresh database for one run; yields its name; dropped afterwards."""
    name = create()
    try:
        yield name
    finally:
        drop(name)
