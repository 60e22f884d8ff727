"""Where templates and their samples live in the templates folder.

::

    <event type>/<channel>.j2                  the default template
    <event type>/samples/*.json                full CloudEvents it is checked against
    orgs/<org>/<event type>/<channel>.j2       an organisation's override
    orgs/<org>/<event type>/samples/*.json     extra samples for the override

Paths are written with ``/`` relative to the folder, e.g. ``case.received/sms.j2``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.templates.rendering import CHANNELS

ORGS = "orgs"
SAMPLES = "samples"


@dataclass(frozen=True, order=True)
class TemplateFile:
    path: str  # relative, with "/"
    event_type: str  # the template folder name
    channel: str
    org: str | None  # the organisation of an override, None for a default


def template_path(template: str, channel: str, org: str | None = None) -> str:
    base = f"{template}/{channel}.j2"
    return f"{ORGS}/{org}/{base}" if org else base


def parse_path(path: str) -> TemplateFile | None:
    """The template a relative path names, or None when it is outside the layout."""
    parts = path.split("/")
    if not parts[-1].endswith(".j2"):
        return None
    channel = parts[-1][:-3]
    if channel not in CHANNELS:
        return None
    if len(parts) == 2 and parts[0] != ORGS:
        return TemplateFile(path, parts[0], channel, None)
    if len(parts) == 4 and parts[0] == ORGS:
        return TemplateFile(path, parts[2], channel, parts[1])
    return None


def _relative(directory: Path, path: Path) -> str:
    return path.relative_to(directory).as_posix()


def scan(directory: Path) -> tuple[list[TemplateFile], list[str]]:
    """Every template file in the layout, sorted, and the ``.j2`` files outside it."""
    found: list[TemplateFile] = []
    stray: list[str] = []
    for path in sorted(directory.rglob("*.j2")):
        rel = _relative(directory, path)
        parsed = parse_path(rel)
        if parsed is None:
            stray.append(rel)
        else:
            found.append(parsed)
    return found, stray


def sample_dirs(directory: Path, template: TemplateFile) -> list[Path]:
    """The sample folders a template is checked against (the default's, and
    the override's own)."""
    dirs = [directory / template.event_type / SAMPLES]
    if template.org:
        dirs.append(directory / ORGS / template.org / template.event_type / SAMPLES)
    return dirs


def sample_files(directory: Path, template: TemplateFile) -> list[Path]:
    files: list[Path] = []
    for folder in sample_dirs(directory, template):
        if folder.is_dir():
            files.extend(sorted(folder.glob("*.json")))
    return files


def stat_signature(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """(name, mtime_ns, size) of each path that exists: changes when any is edited."""
    sig = []
    for path in paths:
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        sig.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(sig)


@dataclass(frozen=True)
class Sample:
    path: str  # relative to the templates folder
    event: Mapping[str, Any]


def load_sample(directory: Path, path: Path) -> Sample:
    """A sample CloudEvent. Raises ValueError when it is not a JSON object with
    ``type`` and a ``data`` object."""
    rel = _relative(directory, path)
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"sample {rel} cannot be read: {exc}") from None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise ValueError(f"sample {rel} is not a CloudEvent with a data object")
    if not isinstance(event.get("type"), str):
        raise ValueError(f"sample {rel} has no type")
    try:
        from hub.events import EventRejected, validate
    except ImportError:  # pragma: no cover - hub.events is part of the hub
        return Sample(rel, event)
    try:
        validate(event)
    except EventRejected as exc:
        raise ValueError(f"sample {rel} is not an event the hub accepts: {exc.reason}") from None
    return Sample(rel, event)
