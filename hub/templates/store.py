"""TemplateStore: compiled templates in service, reloaded when edited.

The store compiles every template once and keeps it until its file changes.
A poller (a daemon thread, every ``reload_interval`` seconds) looks at the
files' mtimes and sizes; a changed file is compiled and checked against its
samples (:mod:`hub.templates.check`) before it replaces the version in
service. An edit that fails keeps the last good version in service, is logged,
sets ``minwon_template_broken{template}`` to 1 and counts in
``minwon_template_reload_failures_total``. New files (say a new override) are
picked up the same way, deleted ones dropped.

At start, a template with no good version yet is served when it compiles
(even if a sample fails, so that deliveries go on) and flagged broken.

``render`` is thread-safe and takes no lock: the poller swaps in a new
mapping of compiled templates as a whole.

With a database source (:class:`~hub.templates.database.TemplateDatabase`,
``templates.source = "database"``, the default with a SQL ledger) the poller also
reads which version of each path is published (one small query); a published
version replaces the folder's file of the same path (a new organisation override
may exist only in the database). A version is checked against its samples (from
the folder) before it goes into service, like an edited file: one that fails keeps
the previous good version (the folder's at start) in service. Every process and pod
picks up a publication within ``reload_interval`` seconds, with no restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from hub import metrics
from hub.templates.check import CheckResult, check_file
from hub.templates.database import Head, TemplateDatabase
from hub.templates.environment import Environments, make_environments
from hub.templates.errors import TemplateError
from hub.templates.filters import WorkingCalendar
from hub.templates.layout import (
    TemplateFile,
    parse_path,
    sample_dirs,
    scan,
    stat_signature,
    template_path,
)
from hub.templates.rendering import (
    CHANNELS,
    CompiledTemplate,
    Rendered,
    compile_template,
    content_version,
    render_compiled,
)

log = logging.getLogger("hub.templates")


def fallback_profile(key: str) -> dict[str, Any]:
    """Placeholders for check and preview when configuration has no profile for
    ``key`` (never for sending: the worker parks such a notice, org_not_configured)."""
    return {
        "key": key,
        "name": key,
        "callcenter": "02-000-0000",
        "internal_unit": "(민원 총괄 부서)",
        "internal_phone": "02-000-0000",
        "url": "",
    }


@dataclass(frozen=True)
class _Entry:
    """The state of one template file."""

    file: TemplateFile
    stat: tuple[tuple[str, int, int], ...]  # of the file and of its samples
    seen_version: str  # version of the file as last read
    good: CompiledTemplate | None  # what is served
    broken: bool
    error: str | None
    source: str = "folder"  # or "database"
    version_id: int | None = None  # the database version in service


class TemplateStore:
    """The templates of one templates folder, compiled, checked and kept fresh."""

    def __init__(
        self,
        directory: str | Path,
        orgs: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        extra_holidays: Iterable[date] = (),
        reload_interval: float = 2.0,
        check_samples: bool = True,
        database: TemplateDatabase | None = None,
    ) -> None:
        self.database = database
        self.directory = Path(directory).resolve()
        if not self.directory.is_dir():
            raise TemplateError(f"templates folder {self.directory} does not exist")
        self.orgs = {key: dict(value) for key, value in (orgs or {}).items()}
        self.calendar = WorkingCalendar(extra_holidays)
        self.envs: Environments = make_environments(self.calendar)
        self.check_samples = check_samples
        self.reload_interval = reload_interval
        self._entries: dict[str, _Entry] = {}
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reload()
        if reload_interval > 0:
            self._thread = threading.Thread(target=self._poll, name="template-reload", daemon=True)
            self._thread.start()

    @classmethod
    def from_config(cls, config: Any, *, ledger: Any = None, **kwargs: Any) -> TemplateStore:
        """A store for ``hub.config.Config``: ``[templates] dir`` and
        ``reload_interval``, ``[orgs]``, and ``[calendar] extra_holidays``
        (ISO dates of 임시공휴일); the database source of ``templates.source``, in
        ``ledger``'s database (default: the configured ledger's)."""
        extra = [
            date.fromisoformat(str(d))
            for d in config.get("calendar", "extra_holidays", default=[]) or []
        ]
        kwargs.setdefault("extra_holidays", extra)
        kwargs.setdefault(
            "reload_interval", float(config.get("templates", "reload_interval", default=2.0))
        )
        orgs = {key: config.org(key) for key in (config.get("orgs", default={}) or {})}
        if "database" not in kwargs:
            kwargs["database"] = database_from_config(config, ledger)
        return cls(config.get("templates", "dir"), orgs, **kwargs)

    # ------------------------------------------------------------------ serving

    def org_profile(self, key: str) -> dict[str, Any]:
        """The configured profile of organisation ``key``, with fallbacks."""
        profile = dict(self.orgs.get(key) or {})
        for name, value in fallback_profile(key).items():
            profile.setdefault(name, value)
        return profile

    def lookup(self, template: str, channel: str, org: str | None) -> CompiledTemplate:
        """The compiled template in service for (template, channel, org): the
        organisation's override when it has a good version, else the default."""
        entries = self._entries
        if org:
            entry = entries.get(template_path(template, channel, org))
            if entry is not None and entry.good is not None:
                return entry.good
        entry = entries.get(template_path(template, channel))
        if entry is None or entry.good is None:
            path = template_path(template, channel)
            if channel not in CHANNELS:
                raise TemplateError(f"unknown channel {channel!r}", path)
            reason = entry.error if entry is not None and entry.error else "no such template"
            raise TemplateError(reason, path)
        return entry.good

    def render(self, template: str, channel: str, org: str, context: Mapping[str, Any]) -> Rendered:
        """Render the notice for ``template`` (the template folder, usually the
        event type) on ``channel`` for organisation ``org``. Thread-safe.

        Raises TemplateError when it cannot (the caller, which parks the job,
        counts ``minwon_template_errors_total``); counts replaced characters in
        ``minwon_unsafe_chars_replaced_total``.
        """
        rendered = render_compiled(self.lookup(template, channel, org), context)
        if rendered.replaced:
            metrics.UNSAFE_CHARS.labels(channel).inc(rendered.replaced)
        return rendered

    def status(self) -> dict[str, dict[str, Any]]:
        """Per template path: the version served, the version on disk, broken, error."""
        return {
            path: {
                "serving": e.good.version if e.good else None,
                "on_disk": e.seen_version,
                "broken": e.broken,
                "error": e.error,
            }
            | ({"source": e.source, "version_id": e.version_id} if e.version_id else {})
            for path, e in sorted(self._entries.items())
        }

    # ------------------------------------------------------------------ loading

    def check(self, file: TemplateFile, data: bytes) -> tuple[CompiledTemplate | None, CheckResult]:
        """Compile ``data`` as ``file`` and check it against its samples."""
        return check_file(
            self.envs, self.directory, file, data, self.org_profile, require_samples=False
        )

    def reload(self) -> list[str]:
        """Look at every file now; returns the paths whose state changed."""
        with self._reload_lock:
            return self._reload()

    def _reload(self) -> list[str]:
        files, _stray = scan(self.directory)
        heads = self._heads()
        by_path = {file.path: file for file in files}
        for path in heads:
            parsed = parse_path(path)
            if parsed is not None and path not in by_path:
                by_path[path] = parsed
        old = self._entries
        new: dict[str, _Entry] = {}
        changed: list[str] = []
        for path_name in sorted(by_path):
            file = by_path[path_name]
            samples = stat_signature(self._sample_paths(file))
            head = heads.get(file.path)
            if head is not None:
                stat = (("database", head.version_id, 0), *samples)
            else:
                stat = (*stat_signature([self.directory / file.path]), *samples)
            entry = old.get(file.path)
            if entry is not None and entry.stat == stat:
                new[file.path] = entry
                continue
            loaded = (self._load_database(file, head, stat, entry) if head is not None
                      else self._load_folder(file, stat, entry))
            if loaded is not None:
                new[file.path] = loaded
                changed.append(file.path)
            elif entry is not None:
                new[file.path] = entry
        for gone in sorted(old.keys() - new.keys()):
            log.info("template %s removed", gone)
            metrics.TEMPLATE_BROKEN.labels(gone).set(0)
            changed.append(gone)
        self._entries = new
        return changed

    def _heads(self) -> dict[str, Head]:
        if self.database is None:
            return {}
        try:
            return self.database.heads()
        except Exception as exc:  # the database is down: keep what is in service
            log.error("template versions cannot be read from the database: %s", exc)
            return {path: Head(path, e.version_id, None, "")  # type: ignore[arg-type]
                    for path, e in self._entries.items() if e.version_id is not None}

    def _load_folder(self, file: TemplateFile, stat: tuple[tuple[str, int, int], ...],
                     entry: _Entry | None) -> _Entry | None:
        try:
            data = (self.directory / file.path).read_bytes()
        except OSError as exc:  # vanished between scan and read
            log.warning("template %s cannot be read: %s", file.path, exc)
            return None
        if entry is not None and entry.source != "folder":
            entry = None if entry.good is None else entry
        return self._load(file, data, stat, entry)

    def _load_database(self, file: TemplateFile, head: Head,
                       stat: tuple[tuple[str, int, int], ...],
                       entry: _Entry | None) -> _Entry | None:
        assert self.database is not None
        try:
            version = self.database.version(head.version_id)
        except Exception as exc:
            log.error("template %s version %d cannot be read: %s", file.path,
                      head.version_id, exc)
            return None
        if version is None:
            return None
        if entry is None and (self.directory / file.path).is_file():
            # What serves if the database's version fails its check at start.
            entry = self._load_folder(file, stat_signature([self.directory / file.path]),
                                      None)
        loaded = self._load(file, version.source.encode("utf-8"), stat, entry)
        if loaded.broken:
            if entry is None or entry.good is None:
                # Never serve a database version that fails its check (a folder file
                # is served at start to keep deliveries going; a published version
                # passed the studio's check, so failing now means the samples moved):
                # the organisation's notices fall back to the default template.
                return _Entry(file, stat, loaded.seen_version, None, True, loaded.error)
            return loaded
        log.info("template %s: database version %d (%s) in service", file.path,
                 version.id, version.version)
        return _Entry(loaded.file, stat, loaded.seen_version, loaded.good, False, None,
                      "database", version.id)

    def _sample_paths(self, file: TemplateFile) -> list[Path]:
        paths: list[Path] = []
        for folder in sample_dirs(self.directory, file):
            paths.append(folder)
            if folder.is_dir():
                paths.extend(sorted(folder.glob("*.json")))
        return paths

    def _load(
        self,
        file: TemplateFile,
        data: bytes,
        stat: tuple[tuple[str, int, int], ...],
        previous: _Entry | None,
    ) -> _Entry:
        version = content_version(data)
        if self.check_samples:
            compiled, result = self.check(file, data)
        else:
            try:
                compiled = compile_template(self.envs, file.path, data)
                result = CheckResult(file, version)
            except TemplateError as exc:
                compiled, result = None, CheckResult(file, version, errors=[exc.reason])
        good = previous.good if previous is not None else None
        if compiled is not None and result.ok:
            if previous is not None:
                log.info("template %s loaded, version %s", file.path, version)
            metrics.TEMPLATE_BROKEN.labels(file.path).set(0)
            return _Entry(file, stat, version, compiled, False, None)
        error = "; ".join(result.errors)
        if good is not None:
            log.error(
                "template %s version %s refused: %s; version %s stays in service",
                file.path,
                version,
                error,
                good.version,
            )
        elif compiled is not None:
            log.error(
                "template %s version %s fails its check and no earlier version "
                "passed; serving it anyway: %s",
                file.path,
                version,
                error,
            )
            good = compiled
        else:
            log.error(
                "template %s version %s does not compile and is not served: %s",
                file.path,
                version,
                error,
            )
        metrics.TEMPLATE_RELOAD_FAILURES.labels(file.path).inc()
        metrics.TEMPLATE_BROKEN.labels(file.path).set(1)
        kept = previous if previous is not None and previous.good is good else None
        return _Entry(file, stat, version, good, True, error,
                      kept.source if kept else "folder", kept.version_id if kept else None)

    # ------------------------------------------------------------------ polling

    def _poll(self) -> None:
        while not self._stop.wait(self.reload_interval):
            try:
                self.reload()
            except Exception:  # never let the poller die
                log.exception("template reload failed")

    def close(self) -> None:
        """Stop the poller. Rendering keeps working with what is loaded."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> TemplateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def database_from_config(config: Any, ledger: Any = None) -> TemplateDatabase | None:
    """The database source ``templates.source`` names: ``"database"`` (the default)
    reads published versions from the ledger's database (``ledger``'s, else the
    configured one's) when it is SQL; ``"folder"`` (or a memory/null ledger) serves
    the folder alone."""
    source = str(config.get("templates", "source", default="database") or "database")
    if source == "folder":
        return None
    if source != "database":
        raise ValueError(f"templates.source must be 'database' or 'folder', not {source!r}")
    if ledger is not None:
        engine = getattr(ledger, "engine", None)
    else:
        from hub.ledger.shared import shared_engine

        engine = shared_engine(config)
    return None if engine is None else TemplateDatabase(engine)
