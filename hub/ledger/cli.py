"""Ledger commands of ``minwon-hub``: ``trace CASE_ID`` and ``ledger purge``.

``hub.cli`` calls :func:`add_parser` with its sub-parsers; each command's ``func`` takes
``(config, args)`` and returns the exit code.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from hub.ledger import DEFAULT_RETENTION_DAYS, Ledger, ledger_from_config
from hub.ledger.base import utcnow


class NoLedger(Exception):
    """A read command was pointed at an SQLite ledger file that does not exist."""


def _missing_sqlite_file(url: str) -> Path | None:
    """The file of an SQLite ledger URL when it does not exist (None otherwise)."""
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    return None if path.exists() else path


def _open(config: Any) -> Ledger:
    """The configured ledger; an SQLite file is never created by a command that only
    reads or deletes (``trace`` in an empty folder would leave an empty database)."""
    url = str(config.get("ledger", "url", default="") or "sqlite:///minwon-ledger.db")
    missing = _missing_sqlite_file(url)
    if missing is not None:
        raise NoLedger(f"no ledger at {missing.resolve()} (ledger.url = {url}): nothing was "
                       "recorded there; point MINWON__LEDGER__URL at the hub's ledger")
    return ledger_from_config(config)


def retention_days(config: Any) -> int:
    return int(config.get("ledger", "retention_days", default=DEFAULT_RETENTION_DAYS))


def cmd_trace(config: Any, args: argparse.Namespace) -> int:
    """Print the case's events and notices with their history (recipients masked)."""
    from hub.trace import render_json, render_text

    try:
        ledger = _open(config)
    except NoLedger as exc:
        print(f"minwon-hub: {exc}", file=sys.stderr)
        return 2
    try:
        story = ledger.case_story(args.case_id)
    finally:
        ledger.close()
    if args.json:
        print(render_json(story))
    else:
        tz = str(config.get("policy", "timezone", default="") or "Asia/Seoul")
        print(render_text(story, tz))
    return 0 if story.events or story.notices else 1


def cmd_ledger_purge(config: Any, args: argparse.Namespace) -> int:
    """Delete notices, history and events older than ``--older-than`` days."""
    days = args.older_than if args.older_than is not None else retention_days(config)
    if days < 0:
        print("minwon-hub: --older-than must be 0 or more days", file=sys.stderr)
        return 2
    before = utcnow() - timedelta(days=days)
    try:
        ledger = _open(config)
    except NoLedger as exc:
        print(f"minwon-hub: {exc}", file=sys.stderr)
        return 2
    try:
        result = ledger.purge(before)
    finally:
        ledger.close()
    print(f"purged {result.notices} notices, {result.history} history entries and "
          f"{result.events} events older than {days} days (before {before:%Y-%m-%d %H:%M} UTC)")
    return 0


def add_trace_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "trace", help="show a case's events and notices with their status history")
    p.add_argument("case_id", metavar="CASE_ID")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=cmd_trace)
    return p


def add_ledger_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "ledger", help="maintain the delivery ledger")
    sub = p.add_subparsers(dest="ledger_command", required=True, metavar="COMMAND")
    purge = sub.add_parser(
        "purge", help="delete notices, history and events older than DAYS "
        f"(default ledger.retention_days, {DEFAULT_RETENTION_DAYS})")
    purge.add_argument("--older-than", type=int, metavar="DAYS", default=None)
    purge.set_defaults(func=cmd_ledger_purge)
    return p


def add_parser(subparsers: Any) -> None:
    """Add ``trace`` and ``ledger`` to ``minwon-hub``'s sub-parsers."""
    add_trace_parser(subparsers)
    add_ledger_parser(subparsers)
