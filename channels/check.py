"""``minwon-hub providers check [--channel C]``: is each configured provider usable?

Each provider of each configured chain is asked a harmless question with the
configured credentials (:meth:`check`, see docs/providers.md: NHN lists its sender
numbers, SENS answers a signed GET, SES ``GetAccount``, SNS ``GetSMSAttributes``,
SMTP EHLO and AUTH) and one line per provider is printed: ``OK`` or the precise
problem (a wrong key, an unregistered sender number, a sandbox account, a region
that does not send SMS). The sender numbers and from-addresses checked are the
organisations' (``[orgs.<id>] sms_sender`` / ``email_from``) and the providers' own
``sender`` setting. Exit status 0 when every provider is OK, 1 otherwise, 2 for an
unknown channel.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from channels import CHANNEL_NAMES, get_channel, load_provider
from channels.base import SendError


@runtime_checkable
class Checkable(Protocol):
    def check(self, senders: Sequence[str]) -> str: ...


def senders_of(config: Any, channel: str, settings: dict[str, Any]) -> list[str]:
    """The sender numbers / from-addresses a channel's provider must be able to use."""
    field = get_channel(channel).sender_field
    found: list[str] = []
    orgs = config.get("orgs", default=None) or {}
    for org in orgs.values() if isinstance(orgs, dict) else ():
        value = org.get(field) if field and isinstance(org, dict) else None
        if value and str(value) not in found:
            found.append(str(value))
    own = settings.get("sender")
    if own and str(own) not in found:
        found.append(str(own))
    return found


def check_channel(config: Any, channel: str) -> Iterator[tuple[str, bool, str]]:
    """``(provider table name, ok, line)`` for every provider of ``channel``'s chain."""
    table = config.get("channels", channel, default=None) or {}
    for name in [str(n) for n in table.get("providers") or []]:
        settings = dict(config.get("providers", name, default=None) or {})
        implementation = str(settings.get("type") or name)
        try:
            provider = load_provider(channel, implementation, settings)
        except (KeyError, ValueError, TypeError) as exc:
            yield name, False, f"cannot be configured: {str(exc).strip(chr(39))}"
            continue
        try:
            if not isinstance(provider, Checkable):
                yield name, True, "OK (nothing remote to ask)"
                continue
            try:
                line = provider.check(senders_of(config, channel, settings))
            except SendError as exc:
                line = exc.reason
            except Exception as exc:  # a bug or an unforeseen answer: name it, go on
                line = f"check failed: {type(exc).__name__}"
            yield name, line.startswith("OK"), line
        finally:
            provider.close()


def cmd_providers_check(config: Any, args: argparse.Namespace) -> int:
    configured = [c for c in CHANNEL_NAMES if config.get("channels", c, default=None)]
    if args.channel is not None and args.channel not in configured:
        print(f"minwon-hub: unknown channel {args.channel!r}; configured: "
              f"{', '.join(configured)}", file=sys.stderr)
        return 2
    all_ok = True
    for channel in [args.channel] if args.channel else configured:
        for name, ok, line in check_channel(config, channel):
            all_ok &= ok
            print(f"{channel}/{name}: {line}")
    return 0 if all_ok else 1


def add_parser(subparsers: Any) -> None:
    group = subparsers.add_parser("providers", help="provider accounts")
    sub = group.add_subparsers(dest="providers_command", required=True, metavar="COMMAND")
    p = sub.add_parser("check", help="ask each configured provider a harmless question and "
                       "print OK or the problem, one line each")
    p.add_argument("--channel", help="only this channel (sms, email, push)")
    p.set_defaults(func=cmd_providers_check)
