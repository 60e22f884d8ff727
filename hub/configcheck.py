"""``minwon-hub config check``: load the configuration as every command does, check
what the schema cannot (the templates folder, the routing rules), and print the
effective configuration as TOML, secrets masked, each value set by the file or the
environment followed by where it came from. Exit 0 when all is well; any problem is
one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from hub.config import Config

_BARE_KEY = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def add_parser(subparsers: Any) -> None:
    group = subparsers.add_parser("config", help="check and print the configuration")
    sub = group.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    check = sub.add_parser(
        "check", help="check the configuration and print it with secrets masked; "
        "exit 2 on any problem")
    check.set_defaults(func=cmd_check, lists_problems=True)


def problems_beyond_schema(config: Config) -> list[str]:
    """What the schema cannot see: files and folders the configuration names."""
    problems = []
    folder = Path(str(config["templates"]["dir"]))
    if not folder.is_dir():
        problems.append(f"templates.dir: {folder} is not a folder")
    rules = str(config["router"]["rules"] or "")
    try:
        from hub.rules import load_rules

        load_rules(rules or None)
    except (OSError, ValueError) as exc:
        problems.append(f"router.rules: {rules or 'the packaged rules'}: {exc}")
    return problems


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    problems = problems_beyond_schema(config)
    if problems:
        for line in problems:
            print(f"minwon-hub: {line}", file=sys.stderr)
        return 2
    source = config.source or "none (defaults and environment)"
    environment = config["hub"]["environment"]
    print(f"# minwon-hub configuration: file {source}, environment {environment!r}")
    write_toml(config.masked(), sys.stdout, origins=config.origins)
    print("# configuration OK", file=sys.stderr)
    return 0


def _key(key: str) -> str:
    return key if key and set(key) <= _BARE_KEY else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def write_toml(data: Mapping[str, Any], out: TextIO, *,
               origins: Mapping[tuple[str, ...], str] | None = None,
               path: tuple[str, ...] = ()) -> None:
    """``data`` as TOML tables; a value whose origin is known gets it as a comment."""
    origins = origins or {}
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping) and v}
    scalars = {k: v for k, v in data.items() if k not in tables}
    if path and (scalars or not tables):
        out.write(f"\n[{'.'.join(_key(p) for p in path)}]\n")
    for key, value in scalars.items():
        origin = origins.get((*path, str(key)))
        comment = f"  # {origin}" if origin else ""
        out.write(f"{_key(str(key))} = {_value(value)}{comment}\n")
    for key, value in tables.items():
        write_toml(value, out, origins=origins, path=(*path, str(key)))
