"""Which failures are an operator's to fix (configuration, a broker or database that
cannot be reached, a missing file), and the one line that tells them so.

The console script prints that line and exits 2; anything else is a bug and keeps its
traceback. Passwords in URLs are masked in every line.
"""

from __future__ import annotations

import re
import socket

from hub.config import ConfigError

_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def mask_urls(text: str) -> str:
    """``amqp://u:secret@h`` → ``amqp://u:***@h`` wherever it appears in ``text``."""
    return _PASSWORD_IN_URL.sub(r"\1***@", text)


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, passwords masked (database drivers
    add hint lines and links below it)."""
    text = str(exc).strip() or type(exc).__name__
    return mask_urls(text.splitlines()[0])


_first_line = one_line


def operator_message(exc: BaseException) -> str | None:
    """The one line for a failure the operator can act on, else None (a bug)."""
    if isinstance(exc, ConfigError):
        return str(exc)
    try:
        from amqp.exceptions import AMQPError
        from kombu.exceptions import OperationalError as KombuOperationalError
    except ImportError:  # pragma: no cover - both come with kombu
        AMQPError = KombuOperationalError = ()  # type: ignore[assignment,misc]
    try:
        from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
    except ImportError:  # pragma: no cover
        ArgumentError = DBAPIError = OperationalError = ()  # type: ignore[assignment,misc]
    from hub.producer import PublishError

    if isinstance(exc, KombuOperationalError | AMQPError | PublishError):
        return f"broker: {_first_line(exc)}"
    if isinstance(exc, OperationalError | DBAPIError | ArgumentError):
        return f"ledger database: {_first_line(exc)}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve a host name: {_first_line(exc)}"
    if isinstance(exc, ConnectionError | TimeoutError):
        return f"connection failed: {_first_line(exc)}"
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError
                  | NotADirectoryError):
        return _first_line(exc)
    return None
