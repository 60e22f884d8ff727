"""Operator commands of ``minwon-hub``: ``status`` and ``dlq list|show|replay|purge``.

``hub.cli`` calls :func:`add_parser` with its sub-parsers; each command's ``func`` takes
``(config, args)`` and returns the exit code: 0 done, 1 nothing found / partly done,
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from hub.config import DEFAULT_AMQP_URL

DEFAULT_TZ = "Asia/Seoul"


def _duration(text: str) -> float:
    from hub.topology import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return seconds


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _tz(config: Any) -> str:
    return str(config.get("policy", "timezone", default="") or DEFAULT_TZ)


def _broker_url(config: Any) -> str | None:
    url = config.broker_url or DEFAULT_AMQP_URL
    if not url.startswith(("amqp://", "amqps://", "pyamqp://")):
        print(f"minwon-hub: status and dlq need RabbitMQ (broker.url is {url.split(':')[0]}://)",
              file=sys.stderr)
        return None
    return url


# -- status ----------------------------------------------------------------------------
def cmd_status(config: Any, args: argparse.Namespace) -> int:
    """Queues (depth, consumers, rates), deliveries of the last hour, parking lots.
    When the broker or the ledger could not be read, the rest is shown and one line on
    stderr says what could not, with exit status 2 (a connection problem)."""
    from hub.admin.status import gather, render_json, render_text

    report = gather(config)
    print(render_json(report) if args.json else render_text(report))
    if report.ok:
        return 0
    problems = [f"broker unreachable ({report.broker_error})" if report.broker_error else "",
                f"ledger unavailable ({report.ledger_error})" if report.ledger_error else ""]
    print(f"minwon-hub: status: {'; '.join(p for p in problems if p)}", file=sys.stderr)
    return 2


# -- dlq -------------------------------------------------------------------------------
def _filter(args: argparse.Namespace) -> Any:
    from hub.admin.dlq import Filter

    return Filter(reason=args.reason, channel=args.channel, org=args.org,
                  older_than=args.older_than, newer_than=args.newer_than,
                  ids=frozenset(args.id or ()))


def _queue(args: argparse.Namespace) -> str:
    from hub.admin.dlq import QUEUES

    return QUEUES[args.queue]


def _check(args: argparse.Namespace) -> str | None:
    """A usage problem with the filters, or None."""
    if args.queue == "rejected" and args.channel:
        return "--channel does not apply to --queue rejected (events have no channel yet)"
    return None


def _guard(run: Callable[[Any, argparse.Namespace, str], int]) -> Callable[
        [Any, argparse.Namespace], int]:
    """Common checks and broker errors for every dlq command."""

    def command(config: Any, args: argparse.Namespace) -> int:
        from amqp.exceptions import NotFound

        problem = _check(args)
        url = _broker_url(config)
        if problem or url is None:
            if problem:
                print(f"minwon-hub dlq: {problem}", file=sys.stderr)
            return 2
        try:
            return run(config, args, url)
        except NotFound:
            print(f"minwon-hub dlq: queue {_queue(args)} does not exist on this broker/vhost "
                  "(has the hub been started there?)", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"minwon-hub dlq: broker unreachable: {exc}", file=sys.stderr)
            return 2

    command.__doc__ = run.__doc__
    return command


def _list(config: Any, args: argparse.Namespace, url: str) -> int:
    """Matching messages, left in place; recipients not shown, reasons masked."""
    from hub.admin.dlq import collect, list_rows
    from hub.trace import table

    items = collect(url, _queue(args), _filter(args), limit=args.limit)
    if args.json:
        print(json.dumps([p.summary() for p in items], ensure_ascii=False, indent=2))
        return 0
    if not items:
        print(f"no matching messages on {_queue(args)}")
        return 0
    headers, rows = list_rows(items, _tz(config))
    print(table(headers, rows))
    more = " (--limit reached; there may be more)" if args.limit == len(items) else ""
    print(f"\n{len(items)} message(s) on {_queue(args)}{more}; times in {_tz(config)}")
    return 0


def _show(config: Any, args: argparse.Namespace, url: str) -> int:
    """One message in full (names and addresses masked); exit 1 when not found."""
    from dataclasses import replace

    from hub.admin.dlq import collect, render_show, show_json

    where = replace(_filter(args), ids=frozenset({args.message_id}))
    found = collect(url, _queue(args), where, limit=1)
    if not found:
        print(f"{args.message_id}: not on {_queue(args)} (or not matching the filters)",
              file=sys.stderr)
        return 1
    print(show_json(found[0]) if args.json else render_show(found[0], _tz(config)))
    return 0


#: Seconds between two progress lines of a long replay or purge (on stderr).
PROGRESS_EVERY = 2.0


class Progress:
    """A progress line on stderr at most every :data:`PROGRESS_EVERY` seconds while a
    replay or purge works through a queue: ``dlq purge hub.dead: 12,000 of 50,000
    read, 12,000 deleted``. Short passes print nothing."""

    def __init__(self, label: str, verb: str, *, every: float | None = None,
                 clock: Any = time.monotonic, stream: Any = None) -> None:
        self.label, self.verb = label, verb
        self.every = PROGRESS_EVERY if every is None else every
        self.clock = clock
        self.stream = stream or sys.stderr
        self.next_at = clock() + self.every

    def __call__(self, p: Any) -> None:
        now = self.clock()
        if now < self.next_at or p.seen >= p.depth:
            return
        self.next_at = now + self.every
        print(f"{self.label}: {p.seen:,} of {p.depth:,} read, {p.acked:,} {self.verb}",
              file=self.stream, flush=True)


def _replay(config: Any, args: argparse.Namespace, url: str) -> int:
    """Put matching messages back (notices on their channel queue with attempts reset;
    events on minwon.events); exit 1 when some were left parked."""
    from hub.admin.dlq import REJECTED_QUEUE, Replay
    from hub.admin.status import open_ledger_of

    queue = _queue(args)
    if queue == REJECTED_QUEUE:
        print("warning: replayed events go through the router again; one that is still "
              "invalid is rejected again (fix the router's rules or the publisher first)",
              file=sys.stderr)
    try:
        ledger = open_ledger_of(config)
    except FileNotFoundError as exc:
        print(f"minwon-hub dlq replay: {exc}", file=sys.stderr)
        return 2
    try:
        result = Replay(url, ledger).run(queue, _filter(args), limit=args.limit,
                                         progress=Progress(f"dlq replay {queue}", "done"))
    finally:
        ledger.close()
    what = "events" if queue == REJECTED_QUEUE else "notices"
    print(f"replayed {len(result.replayed)} {what} from {queue}")
    by_channel: dict[str, int] = {}
    for p in result.replayed:
        by_channel[p.channel or "minwon.events"] = by_channel.get(p.channel or "minwon.events",
                                                                  0) + 1
    for target, n in sorted(by_channel.items()):
        print(f"  {target}: {n}")
    if result.already_sent:
        print(f"removed {len(result.already_sent)} already sent (by an earlier replay): "
              + ", ".join(str(p.id) for p in result.already_sent))
    for p in result.in_progress:
        print(f"left {p.id}: the ledger says a worker is sending it (or was, when it died: "
              "the sweeper frees such claims after ledger.sweep_after); replay again later")
    for p in result.not_replayable:
        print(f"left {p.id or '(no id)'}: not a hub job ({p.reason_code}); inspect it with "
              "dlq show, then purge it")
    for p, why in result.refused:
        print(f"left {p.id}: the broker refused the copy ({why})")
    return 1 if result.left else 0


def _purge(config: Any, args: argparse.Namespace, url: str) -> int:
    """Delete matching messages for good (asks first unless --yes)."""
    from hub.admin.dlq import collect, purge

    queue, where = _queue(args), _filter(args)
    limit = args.limit
    if not args.yes:
        count = len(collect(url, queue, where, limit=limit))
        if count == 0:
            print(f"no matching messages on {queue}")
            return 0
        scope = "" if not where.empty else " (no filter: every message)"
        try:
            answer = input(f"delete {count} message(s) from {queue}{scope} for good? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted (use --yes to skip this question)")
            return 1
        limit = count  # no more than the operator agreed to
    deleted = purge(url, queue, where, limit=limit,
                    progress=Progress(f"dlq purge {queue}", "deleted"))
    print(f"purged {len(deleted)} message(s) from {queue}")
    return 0


cmd_dlq_list = _guard(_list)
cmd_dlq_show = _guard(_show)
cmd_dlq_replay = _guard(_replay)
cmd_dlq_purge = _guard(_purge)


def _filter_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--queue", choices=("dead", "rejected"), default="dead",
                        help="hub.dead (parked notices, default) or hub.rejected "
                        "(refused events)")
    common.add_argument("--reason", metavar="CODE_OR_TEXT",
                        help="reason code (permanent, credentials, attempts_exhausted, "
                        "template_error, malformed_job, delivery_limit; for events bad_json, "
                        "invalid, unknown_type ...) or part of the reason text")
    common.add_argument("--channel", help="sms, email, push ...")
    common.add_argument("--org", help="organisation key (data.org)")
    common.add_argument("--older-than", type=_duration, metavar="DURATION",
                        help="parked at least this long ago (30m, 2h, 1d)")
    common.add_argument("--newer-than", type=_duration, metavar="DURATION",
                        help="parked at most this long ago")
    common.add_argument("--id", action="append", metavar="ID",
                        help="notification id (event id with --queue rejected); repeatable")
    common.add_argument("--limit", type=_positive, metavar="N",
                        help="act on at most N matching messages")
    return common


def add_parser(subparsers: Any) -> None:
    """Add ``status`` and ``dlq`` to ``minwon-hub``'s sub-parsers."""
    p = subparsers.add_parser(
        "status", help="queues (depth, consumers, rates), sent and failed per channel in "
        "the last hour, parked and rejected counts")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=cmd_status)

    common = _filter_parser()
    dlq = subparsers.add_parser("dlq", help="list, show, replay or purge parked notices "
                                "(hub.dead) and rejected events (hub.rejected)")
    sub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", parents=[common], help="list matching messages (left in place)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_dlq_list)

    p = sub.add_parser("show", parents=[common], help="one message in full, masked")
    p.add_argument("message_id", metavar="ID", help="notification id (event id with "
                   "--queue rejected)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_dlq_show)

    p = sub.add_parser("replay", parents=[common], help="put matching notices back on their "
                       "channel queue with attempts reset (events: back to the router)")
    p.set_defaults(func=cmd_dlq_replay)

    p = sub.add_parser("purge", parents=[common], help="delete matching messages for good")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_dlq_purge)
