"""The ``minwon-hub`` console script. Each command lives in its own module; this one
only builds the argument parser and dispatches.

``--config`` and ``-v`` are accepted before or after the (sub)command. A configuration
or connection mistake ends any command with one line on stderr and exit status 2,
never a traceback (``-v`` adds the traceback for a developer)."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from hub.config import DEFAULT_AMQP_URL, Config, ConfigError, load_config
from hub.failures import operator_message

log = logging.getLogger("hub")

#: Command groups implemented in other modules: (module, function that adds the parser).
EXTENSIONS: tuple[tuple[str, str], ...] = (
    ("hub.configcheck", "add_parser"),
    ("hub.templates.cli", "add_parser"),
    ("hub.ledger.cli", "add_parser"),
    ("hub.admin.cli", "add_parser"),
    ("hub.studio.cli", "add_parser"),
    ("channels.check", "add_parser"),
)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("minwon-hub")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


class _Parser(argparse.ArgumentParser):
    """Every (sub)command parser takes ``--config`` and ``-v``, so they may follow
    the command (``minwon-hub run --config x.toml``). Below the top level they default
    to "not given", so a value given before the command is kept."""

    def __init__(self, *args: Any, top: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        default: Any = None if top else argparse.SUPPRESS
        self.add_argument("--config", default=default, help="TOML configuration file "
                          "(default: $MINWON_CONFIG or ./minwon.toml)")
        self.add_argument("-v", "--verbose", action="store_true",
                          default=False if top else argparse.SUPPRESS,
                          help="debug logging (and tracebacks)")


def _setup_logging(config: Config, verbose: bool = False, *, demo: bool = False) -> None:
    level = "DEBUG" if verbose else str(config.get("logging", "level", default="INFO"))
    fmt = str(config.get("logging", "format", default="json"))
    if demo and not verbose:  # the demo's output is its table, not the logs
        level, fmt = "ERROR", "text"
    try:
        from hub.logs import setup_logging
    except ImportError:  # pragma: no cover
        logging.basicConfig(level=level)
        return
    setup_logging(level, fmt)
    if not verbose:
        # pika logs each failed connection attempt at ERROR; the command reports the
        # failure itself, in one line.
        logging.getLogger("pika").setLevel(logging.CRITICAL)


def _serve_health(config: Config, hub: Any) -> None:
    from hub.health import serve

    port = int(config["metrics"]["port"])
    if port:
        serve(hub, port, str(config["metrics"]["addr"]))
        log.info("metrics and health on :%d (/metrics, /healthz, /readyz)", port)


def _run(config: Config, args: argparse.Namespace, *, router: bool,
         channels: Sequence[str] | None) -> int:
    from hub.app import Hub

    url = config.broker_url or DEFAULT_AMQP_URL
    hub = Hub(config, url=url)
    _serve_health(config, hub)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping gracefully", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    hub.run_forever(stop, router=router, channels=channels)
    return 0


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    return _run(config, args, router=True, channels=None)


def cmd_router(config: Config, args: argparse.Namespace) -> int:
    return _run(config, args, router=True, channels=())


def cmd_worker(config: Config, args: argparse.Namespace) -> int:
    known = tuple(config["channels"].keys())
    if args.channel not in known:
        print(f"unknown channel {args.channel!r}; configured: {', '.join(known)}", file=sys.stderr)
        return 2
    return _run(config, args, router=False, channels=(args.channel,))


def cmd_publish(config: Config, args: argparse.Namespace) -> int:
    from hub.publish_files import publish_files

    return publish_files(config, args.files, url=args.url, check=not args.no_check)


def cmd_demo(config: Config, args: argparse.Namespace) -> int:
    from hub.demo import run_demo

    return run_demo(config, outbox=args.outbox, keep=args.keep)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="minwon-hub",
        description="Notification hub for civil-complaint (민원) systems.",
        top=True,
    )
    parser.add_argument("--version", action="version", version=f"minwon-hub {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    p = sub.add_parser("demo", help="run the whole hub in one process on sample events")
    p.add_argument("--outbox", help="outbox folder (default: a new temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the outbox folder afterwards")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="run the router and every channel worker")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("router", help="run the router only")
    p.set_defaults(func=cmd_router)
    p = sub.add_parser("worker", help="run one channel's worker")
    p.add_argument("--channel", required=True, help="sms, email, push, ...")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("publish", help="publish CloudEvents from files (JSON or JSON lines)")
    p.add_argument("files", nargs="+", help="files; - for standard input")
    p.add_argument("--url", help="broker URL (default: broker.url, else local RabbitMQ)")
    p.add_argument("--no-check", action="store_true",
                   help="publish without checking events against the schema first")
    p.set_defaults(func=cmd_publish)

    for module_name, function in EXTENSIONS:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if exc.name != module_name:
                raise
            continue
        getattr(module, function)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        # `config check` lists every problem; other commands name the first one.
        lines = exc.problems if getattr(args, "lists_problems", False) else [str(exc)]
        for line in lines:
            print(f"minwon-hub: {line}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"minwon-hub: {exc}", file=sys.stderr)
        return 2
    _setup_logging(config, args.verbose, demo=args.command == "demo")
    try:
        result: int = args.func(config, args)
    except Exception as exc:
        message = operator_message(exc)
        if message is None:
            raise  # a bug: the traceback is what a developer needs
        if args.verbose:
            log.exception("%s", message)
        print(f"minwon-hub: {message}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
