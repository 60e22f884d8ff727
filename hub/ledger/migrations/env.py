"""Alembic environment of the ledger, driven programmatically.

:func:`hub.ledger.migrate.upgrade` hands over an open connection in
``config.attributes["connection"]`` (no ``alembic.ini`` needed at runtime). For a
developer's ``alembic`` command, ``sqlalchemy.url`` (or ``MINWON__LEDGER__URL``) names
the database instead.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from hub.ledger.migrate import VERSION_TABLE
from hub.ledger.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "MINWON__LEDGER__URL", "sqlite:///minwon-ledger.db"
    )
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


_main()
