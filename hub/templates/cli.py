"""``minwon-hub templates check``, ``templates preview`` and ``templates import``.

Wired into ``hub/cli.py`` by :func:`add_parser`; both commands take the
templates folder from configuration (``[templates] dir``, or
``MINWON__TEMPLATES__DIR``; ``--dir`` overrides it) and organisation profiles
from ``[orgs.<key>]``.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from hub.catalogue import EVENT_TYPES, address_field
from hub.templates import sizing
from hub.templates.check import CheckResult, Report, check_all
from hub.templates.context import context_from_event, sample_recipients
from hub.templates.environment import Environments, make_environments
from hub.templates.errors import TemplateError
from hub.templates.filters import WorkingCalendar
from hub.templates.korean import in_korean
from hub.templates.layout import ORGS, TemplateFile, load_sample, parse_path, template_path
from hub.templates.rendering import CHANNELS, Rendered, compile_template, render_compiled
from hub.templates.store import fallback_profile


def add_parser(subparsers: Any) -> None:
    """Add the ``templates`` command group to the ``minwon-hub`` parser."""
    group = subparsers.add_parser("templates", help="check and preview the notice templates")
    sub = group.add_subparsers(dest="templates_command", required=True, metavar="SUBCOMMAND")

    check = sub.add_parser(
        "check",
        help="render every template against every sample; exit 1 on any error",
    )
    check.add_argument("--dir", help="templates folder (default: [templates] dir)")
    check.add_argument("--korean", action="store_true",
                       help="also say each problem in Korean (as the studio does)")
    check.set_defaults(func=_quiet_pipe(cmd_check))

    preview = sub.add_parser("preview", help="show exactly what a recipient receives for a sample")
    preview.add_argument("event_type", metavar="EVENT_TYPE", help="e.g. case.received")
    preview.add_argument("channel", metavar="CHANNEL", choices=CHANNELS, help="sms, email, push")
    preview.add_argument("--org", help="organisation (default: the sample's data.org)")
    preview.add_argument(
        "--sample", help="a CloudEvent JSON file (default: the first of EVENT_TYPE/samples/)"
    )
    preview.add_argument(
        "--role", help="only this recipient (citizen, officer, employee, supervisors)"
    )
    preview.add_argument("--html-out", help="where the e-mail's HTML goes (default: a temp file)")
    preview.add_argument("--dir", help="templates folder (default: [templates] dir)")
    preview.set_defaults(func=_quiet_pipe(cmd_preview))

    imp = sub.add_parser(
        "import",
        help="seed the database (the ledger's) with the folder's templates, published",
    )
    imp.add_argument("--dir", help="templates folder (default: [templates] dir)")
    imp.add_argument("--update", action="store_true",
                     help="also publish templates whose file changed (not those edited "
                     "in the studio)")
    imp.add_argument("--author", default=os.environ.get("USER") or "import",
                     help="who the versions are recorded as (default: $USER)")
    imp.set_defaults(func=cmd_import)


def _quiet_pipe(command: Any) -> Any:
    """``templates check | head`` ends quietly instead of with a traceback."""

    @functools.wraps(command)
    def run(config: Any, args: argparse.Namespace) -> int:
        try:
            result: int = command(config, args)
            sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        return result

    return run


# ---------------------------------------------------------------------- configuration


class _Setup:
    """What both commands read from configuration."""

    def __init__(self, config: Any, directory: str | None) -> None:
        self.directory = Path(directory or config.get("templates", "dir")).resolve()
        self.orgs: Mapping[str, Any] = config.get("orgs", default={}) or {}
        self._config = config
        extra = config.get("calendar", "extra_holidays", default=[]) or []
        self.envs: Environments = make_environments(
            WorkingCalendar(date.fromisoformat(str(d)) for d in extra)
        )

    def org_profile(self, key: str) -> dict[str, Any]:
        if key in self.orgs and hasattr(self._config, "org"):
            profile: dict[str, Any] = dict(self._config.org(key))
        else:
            profile = dict(self.orgs.get(key) or {})
        for name, value in fallback_profile(key).items():
            profile.setdefault(name, value)
        return profile


# ---------------------------------------------------------------------- check


def _bytes(result: CheckResult) -> str:
    sizes = [r.rendered.byte_length for r in result.renders if r.rendered.byte_length is not None]
    if not sizes:
        return ""
    low, high = min(sizes), max(sizes)
    return f"{low} bytes" if low == high else f"{low}-{high} bytes"


def _unsafe(result: CheckResult) -> str:
    if result.template.channel != "sms":
        return ""
    parts = []
    if result.literal_unsafe:
        parts.append("in template: " + " ".join(result.literal_unsafe))
    if result.replaced:
        parts.append(f"{result.replaced} replaced in samples")
    return "unsafe: " + ("; ".join(parts) if parts else "none")


def print_report(report: Report, out: TextIO, *, korean: bool = False) -> None:
    """One line per template (ok/ERROR, version, SMS kind, bytes, samples, unsafe
    characters), its errors indented below, then the folder's problems and a total."""
    width = max((len(r.template.path) for r in report.results), default=20)
    for result in report.results:
        status = "ERROR" if not result.ok else "warn" if result.warnings else "ok"
        kinds = "/".join(result.kinds) or "-"
        samples = len({r.sample for r in result.renders})
        fields = [
            f"{status:<5}",
            f"{result.template.path:<{width}}",
            result.version or "-",
            f"{kinds:<7}",
            f"{_bytes(result):<13}",
            f"{samples} sample{'s' if samples != 1 else ''}",
            _unsafe(result),
        ]
        out.write("  ".join(fields).rstrip() + "\n")
        for error in result.errors:
            out.write(f"       - {error}\n")
            if korean:
                out.write(f"         {in_korean(error)}\n")
        for warning in result.warnings:
            out.write(f"       ~ warning: {warning}\n")
            if korean:
                out.write(f"         주의: {in_korean(warning)}\n")
    for problem in report.problems:
        out.write(f"ERROR  {problem}\n")
    bad = sum(1 for r in report.results if not r.ok)
    warned = sum(1 for r in report.results if r.ok and r.warnings)
    out.write(
        f"{len(report.results)} templates: {len(report.results) - bad} ok, {bad} with errors"
        f"{f', {warned} of them with warnings' if warned else ''}"
        f"{f', {len(report.problems)} other problems' if report.problems else ''}"
        f" (SMS up to {sizing.SMS_MAX_BYTES} bytes, LMS up to {sizing.LMS_MAX_BYTES}, "
        f"LMS subject up to {sizing.LMS_SUBJECT_MAX_BYTES})\n"
    )


def cmd_check(config: Any, args: argparse.Namespace) -> int:
    setup = _Setup(config, args.dir)
    if not setup.directory.is_dir():
        print(f"templates folder {setup.directory} does not exist", file=sys.stderr)
        return 2
    print(f"templates: {setup.directory}")
    report = check_all(setup.directory, setup.envs, setup.org_profile)
    print_report(report, sys.stdout, korean=getattr(args, "korean", False))
    return 0 if report.ok else 1


# ---------------------------------------------------------------------- preview


def _known_event_type(event_type: str) -> None:
    if event_type in EVENT_TYPES:
        return
    close = difflib.get_close_matches(event_type, EVENT_TYPES, n=1)
    hint = f"; did you mean {close[0]}?" if close else f" (known: {', '.join(EVENT_TYPES)})"
    raise TemplateError(f"unknown event type {event_type!r}{hint}")


def _choose_sample(setup: _Setup, event_type: str, given: str | None) -> Path:
    if given:
        path = Path(given)
        if not path.is_file() and (setup.directory / given).is_file():
            path = setup.directory / given
        if not path.is_file():
            raise TemplateError(f"sample file {given} does not exist")
        return path.resolve()
    folder = setup.directory / event_type / "samples"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise TemplateError(f"no samples in {folder}; give one with --sample FILE")
    return files[0]


def _load_event(setup: _Setup, path: Path) -> Mapping[str, Any]:
    try:
        return load_sample(setup.directory, path).event
    except ValueError:
        pass
    # A sample outside the templates folder, or not valid: report what is wrong.
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TemplateError(f"sample {path} cannot be read: {exc}") from None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise TemplateError(f"sample {path} is not a CloudEvent with a data object")
    return event


def _write_html(html: str, out_path: str | None, event_type: str, org: str) -> Path:
    if out_path:
        path = Path(out_path)
    else:
        folder = Path(tempfile.gettempdir()) / "minwon-preview"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{org}-{event_type}-email.html"
    path.write_text(html + "\n", encoding="utf-8")  # the document as sent
    return path.resolve()


def print_rendered(rendered: Rendered, out: TextIO) -> None:
    """What the recipient receives, with its size for SMS."""
    rule = "-" * 60
    if rendered.channel == "sms":
        limit = sizing.SMS_MAX_BYTES if rendered.kind == sizing.SMS else sizing.LMS_MAX_BYTES
        out.write(f"kind:     {rendered.kind}, {rendered.byte_length} bytes (limit {limit})\n")
        if rendered.subject is not None:
            size = sizing.cp949_length(rendered.subject)
            out.write(
                f"subject:  {rendered.subject}  ({size} bytes, limit "
                f"{sizing.LMS_SUBJECT_MAX_BYTES})\n"
            )
        elif rendered.kind == sizing.SMS:
            out.write("subject:  (none: an SMS has no subject)\n")
        out.write(f"unsafe characters replaced: {rendered.replaced}\n")
    elif rendered.channel == "email":
        out.write(f"subject:  {rendered.subject}\n")
    else:
        out.write(f"title:    {rendered.subject}\n")
    out.write(f"{rule}\n{rendered.body}\n{rule}\n")


def cmd_preview(config: Any, args: argparse.Namespace) -> int:
    setup = _Setup(config, args.dir)
    out = sys.stdout
    try:
        _known_event_type(args.event_type)
        sample_path = _choose_sample(setup, args.event_type, args.sample)
        event = _load_event(setup, sample_path)
        org = args.org or str(event["data"].get("org", ""))
        path = template_path(args.event_type, args.channel, org)
        if not (setup.directory / path).is_file():
            path = template_path(args.event_type, args.channel)
        if not (setup.directory / path).is_file():
            raise TemplateError("no such template", path)
        file = parse_path(path)
        assert file is not None
        compiled = compile_template(setup.envs, path, (setup.directory / path).read_bytes())
        recipients = sample_recipients(event, args.channel)
        if args.role:
            recipients = [r for r in recipients if r["role"] == args.role]
        if not recipients:
            raise TemplateError(
                f"the sample names no recipient{f' with role {args.role}' if args.role else ''}"
                f" for {args.event_type}",
                path,
            )
        profile = setup.org_profile(org)
        out.write(f"template: {path} (version {compiled.version})\n")
        out.write(f"sample:   {sample_path}\n")
        out.write(
            f"org:      {org} ({profile.get('name')})"
            f"{'' if org in setup.orgs else ' - not in configuration, placeholder profile'}"
            "\n"
        )
        for recipient in recipients:
            rendered = render_compiled(compiled, context_from_event(event, recipient, profile))
            address = recipient.get(address_field(args.channel), "(no address)")
            out.write(f"\nto:       {recipient['role']} {recipient.get('name')} <{address}>\n")
            print_rendered(rendered, out)
            if rendered.html is not None:
                where = _write_html(rendered.html, args.html_out, args.event_type, org or "-")
                out.write(f"HTML part written to {where}\n")
        _note_override(setup, file, org, out)
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _note_override(setup: _Setup, file: TemplateFile, org: str, out: TextIO) -> None:
    if file.org is None and org and (setup.directory / ORGS / org).is_dir():
        out.write(f"(no override for {org}: the default template is used)\n")


def cmd_import(config: Any, args: argparse.Namespace) -> int:
    """Folder → database versions (``templates import``)."""
    from hub.templates.store import database_from_config

    directory = Path(args.dir or config.get("templates", "dir")).resolve()
    if not directory.is_dir():
        print(f"minwon-hub: templates folder {directory} does not exist "
              "(templates.dir / --dir)", file=sys.stderr)
        return 2
    try:
        database = database_from_config(config.with_overrides({"templates": {"source":
                                                                              "database"}}))
    except Exception as exc:
        from hub.failures import one_line

        print(f"minwon-hub: ledger.url: {one_line(exc)}", file=sys.stderr)
        return 2
    if database is None:
        print("minwon-hub: ledger.url is not a SQL database (sqlite:/// or postgresql://): "
              "templates are stored in the ledger's database", file=sys.stderr)
        return 2
    result = database.import_folder(directory, author=args.author, update_changed=args.update)
    for path in result.added:
        print(f"added    {path}")
    for path in result.updated:
        print(f"updated  {path}")
    for path in result.kept:
        print(f"kept     {path} (edited in the studio; the folder's file differs)")
    print(f"{len(result.added)} added, {len(result.updated)} updated, "
          f"{len(result.unchanged)} unchanged, {len(result.kept)} kept")
    return 0
