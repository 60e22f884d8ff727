"""``minwon-hub studio [--host H] [--port P]`` and ``minwon-hub studio user add NAME
--org ORG --role editor|operator|admin`` (the password read from standard input)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hub.studio.accounts import ROLES


def add_parser(subparsers: Any) -> None:
    group = subparsers.add_parser("studio", help="알림 스튜디오: the web app for template "
                                  "editors and staff")
    group.add_argument("--host", help="address to listen on (default: studio.host, "
                       "127.0.0.1)")
    group.add_argument("--port", type=int, help="port (default: studio.port, 8080)")
    group.set_defaults(func=_one_line_errors(cmd_serve))
    sub = group.add_subparsers(dest="studio_command", metavar="SUBCOMMAND")
    users = sub.add_parser("user", help="studio accounts")
    users_sub = users.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = users_sub.add_parser("add", help="add an account; the password is read from "
                               "standard input")
    add.add_argument("name")
    add.add_argument("--org", required=True, help="organisation key, e.g. gumi")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--phone", help="the user's own mobile number (for test sends)")
    add.add_argument("--email", help="the user's own e-mail address (for test sends)")
    add.set_defaults(func=_one_line_errors(cmd_user_add))
    passwd = users_sub.add_parser("password", help="set a new password (from standard "
                                  "input)")
    passwd.add_argument("name")
    passwd.set_defaults(func=_one_line_errors(cmd_user_password))
    listing = users_sub.add_parser("list", help="list the accounts")
    listing.set_defaults(func=_one_line_errors(cmd_user_list))


class _Refused(Exception):
    """A configuration or input problem: one line on stderr, exit status 2."""


def _ledger(config: Any) -> Any:
    from hub.ledger.shared import shared_ledger

    try:
        ledger = shared_ledger(config)
    except Exception as exc:
        from hub.failures import one_line

        raise _Refused(f"ledger.url: {one_line(exc)}") from None
    if ledger is None:
        raise _Refused("ledger.url: the studio needs a SQL ledger (sqlite:///... or "
                       "postgresql://...)")
    return ledger


def _one_line_errors(command: Any) -> Any:
    def run(config: Any, args: argparse.Namespace) -> int:
        try:
            result: int = command(config, args)
        except _Refused as exc:
            return _fail(str(exc))
        return result

    run.__doc__ = command.__doc__
    return run


def _fail(message: str) -> int:
    print(f"minwon-hub: {message}", file=sys.stderr)
    return 2


def _read_password() -> str:
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("비밀번호: ")
        if getpass.getpass("비밀번호 확인: ") != first:
            raise _Refused("passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user_add(config: Any, args: argparse.Namespace) -> int:
    from hub.studio.accounts import AccountError, Accounts
    from hub.studio.audit import AuditLog

    ledger = _ledger(config)
    try:
        user = Accounts(ledger.engine).add(args.name, _read_password(), org=args.org,
                                           role=args.role, phone=args.phone,
                                           email=args.email)
    except AccountError as exc:
        return _fail(str(exc))
    AuditLog(ledger.engine).record("cli", "user_add", f"user:{user.name}",
                                   f"org={user.org} role={user.role}")
    print(f"user {user.name} added (org {user.org}, role {user.role})")
    return 0


def cmd_user_password(config: Any, args: argparse.Namespace) -> int:
    from hub.studio.accounts import AccountError, Accounts
    from hub.studio.audit import AuditLog

    ledger = _ledger(config)
    try:
        Accounts(ledger.engine).set_password(args.name, _read_password())
    except AccountError as exc:
        return _fail(str(exc))
    AuditLog(ledger.engine).record("cli", "user_password", f"user:{args.name}")
    print(f"password of {args.name} changed")
    return 0


def cmd_user_list(config: Any, args: argparse.Namespace) -> int:
    from hub.studio.accounts import Accounts

    for user in Accounts(_ledger(config).engine).all():
        print(f"{user.name}\t{user.org}\t{user.role}")
    return 0


def cmd_serve(config: Any, args: argparse.Namespace) -> int:
    import uvicorn

    from hub.studio.app import create_app

    host = args.host or str(config.get("studio", "host", default="127.0.0.1"))
    port = args.port if args.port is not None else int(config.get("studio", "port",
                                                                  default=8080))
    try:
        app = create_app(config, ledger=_ledger(config))
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    print(f"알림 스튜디오: http://{host}:{port}/", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                    server_header=False)
    except OSError as exc:
        return _fail(f"studio.port {port}: {exc}")
    return 0
