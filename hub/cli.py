"""The ``minwon-hub`` console script. Each command lives in its own module; this one
only builds the argument parser and dispatches."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from hub.config import DEFAULT_AMQP_URL, Config, load_config

log = logging.getLogger("hub")

#: Command groups implemented in other modules: (module, function that adds the parser).
EXTENSIONS: tuple[tuple[str, str], ...] = (
    ("hub.templates.cli", "add_parser"),
    ("hub.ledger.cli", "add_parser"),
    ("hub.admin.cli", "add_parser"),
    ("hub.studio.cli", "add_parser"),
    ("channels.check", "add_parser"),
)


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


def _serve_metrics(config: Config) -> None:
    from hub import metrics

    port = int(config["metrics"]["port"])
    if port:
        metrics.serve(port, str(config["metrics"]["addr"]))
        log.info("metrics on :%d/metrics", port)


def _run(config: Config, args: argparse.Namespace, *, router: bool,
         channels: Sequence[str] | None) -> int:
    from hub.app import Hub

    url = config.broker_url or DEFAULT_AMQP_URL
    hub = Hub(config, url=url)
    _serve_metrics(config)
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

    return publish_files(config, args.files, url=args.url)


def cmd_demo(config: Config, args: argparse.Namespace) -> int:
    from hub.demo import run_demo

    return run_demo(config, outbox=args.outbox, keep=args.keep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minwon-hub",
        description="Notification hub for civil-complaint (민원) systems.",
    )
    parser.add_argument("--config", help="TOML configuration file (default: $MINWON_CONFIG "
                        "or ./minwon.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    except (FileNotFoundError, ValueError) as exc:
        print(f"minwon-hub: {exc}", file=sys.stderr)
        return 2
    _setup_logging(config, args.verbose, demo=args.command == "demo")
    result: int = args.func(config, args)
    return result


if __name__ == "__main__":
    sys.exit(main())
