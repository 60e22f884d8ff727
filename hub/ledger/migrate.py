"""Versioned schema migrations of the ledger (Alembic), run on open: ``upgrade head``.

The Alembic environment is programmatic: no ``alembic.ini`` is needed at runtime; the
scripts live in ``hub/ledger/migrations`` (shipped as package data). Migrations are
serialised between processes that open the ledger at once (several workers starting
together): PostgreSQL takes a transaction-level advisory lock, SQLite a ``BEGIN
IMMEDIATE`` write lock; the second process then finds the schema current and does
nothing. Running it again is a no-op.

A developer adds a revision with::

    python -m hub.ledger.migrate revision "add notices.foo"   # writes versions/NNNN_*.py
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)
# Alembic narrates every step at INFO (some on import, hence the imports inside the
# functions below); the hub logs one line when a migration runs.
logging.getLogger("alembic").setLevel(logging.WARNING)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "minwon_ledger_version"
PG_LOCK_KEY = 0x6D696E776F6E  # "minwon": one advisory lock for ledger migrations


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine) -> str | None:
    """Bring the ledger's schema to the newest revision; returns that revision."""
    from alembic import command

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        before, head = current_revision(conn), head_revision()
        if before != head:
            command.upgrade(alembic_config(conn), "head")
            log.info("ledger schema migrated from %s to %s", before or "nothing", head)
        return current_revision(conn)


def _main(argv: list[str]) -> int:
    from alembic import command
    from alembic.script import ScriptDirectory

    if len(argv) == 2 and argv[0] == "revision":
        script = ScriptDirectory.from_config(alembic_config())
        rev_id = f"{len(list(script.walk_revisions())) + 1:04d}"
        command.revision(alembic_config(), message=argv[1], rev_id=rev_id)
        return 0
    print("usage: python -m hub.ledger.migrate revision MESSAGE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
