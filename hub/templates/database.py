"""Templates in the ledger database, with versions: the store's database source.

Every save appends a version (source, who, when, why) to ``template_versions``;
nothing there is ever changed or deleted. ``template_published`` points each template
path at the version in service; publishing and rolling back move that pointer. The
:class:`~hub.templates.store.TemplateStore` of every worker process reads the
pointers every ``templates.reload_interval`` seconds (one small query) and loads a
version that changed, after checking it against its samples.

Paths are those of the templates folder (:mod:`hub.templates.layout`), e.g.
``case.received/sms.j2`` or ``orgs/gumi/case.received/sms.j2``. The folder seeds the
database (``minwon-hub templates import``) and stays the source for development: a
path with no published version is served from the folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from hub.ledger.schema import template_published, template_versions
from hub.templates.layout import parse_path, scan
from hub.templates.rendering import content_version


@dataclass(frozen=True)
class Head:
    """The published version of one path."""

    path: str
    version_id: int
    published_at: datetime
    published_by: str


@dataclass(frozen=True)
class Version:
    id: int
    path: str
    source: str
    version: str  # content hash (as Rendered.version)
    author: str
    note: str | None
    created_at: datetime


IMPORT_NOTE = "imported from the templates folder"


@dataclass(frozen=True)
class ImportResult:
    added: list[str]  # paths that got a first version
    updated: list[str]  # paths that got a new version (with ``update``)
    unchanged: list[str]
    kept: list[str]  # differ from the folder but were edited in the studio: left alone


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TemplateDatabase:
    """Template versions in the ledger's database (``engine`` of a SqlLedger)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def _read(self) -> Connection:
        return self.engine.connect().execution_options(ledger_read=True)

    # -- reads ---------------------------------------------------------------------
    def heads(self) -> dict[str, Head]:
        """Every published path and its version (what the stores poll)."""
        with self._read() as conn:
            return {
                r.path: Head(r.path, int(r.version_id), r.published_at, r.published_by)
                for r in conn.execute(select(template_published))
            }

    def head(self, path: str) -> Head | None:
        with self._read() as conn:
            r = conn.execute(
                select(template_published).where(template_published.c.path == path)
            ).first()
        return None if r is None else Head(r.path, int(r.version_id), r.published_at,
                                           r.published_by)

    def version(self, version_id: int) -> Version | None:
        with self._read() as conn:
            r = conn.execute(
                select(template_versions).where(template_versions.c.id == version_id)
            ).first()
        return None if r is None else Version(**r._asdict())

    def versions(self, path: str) -> list[Version]:
        """Every version of ``path``, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                select(template_versions).where(template_versions.c.path == path)
                .order_by(template_versions.c.id.desc())
            ).all()
        return [Version(**r._asdict()) for r in rows]

    def latest(self, path: str) -> Version | None:
        found = self.versions_page(path, 1)
        return found[0] if found else None

    def versions_page(self, path: str, limit: int) -> list[Version]:
        with self._read() as conn:
            rows = conn.execute(
                select(template_versions).where(template_versions.c.path == path)
                .order_by(template_versions.c.id.desc()).limit(limit)
            ).all()
        return [Version(**r._asdict()) for r in rows]

    def paths(self) -> list[str]:
        """Every path with at least one version."""
        with self._read() as conn:
            return sorted(conn.execute(select(template_versions.c.path).distinct()).scalars())

    # -- writes --------------------------------------------------------------------
    def save(self, path: str, source: str, *, author: str, note: str | None = None) -> Version:
        """Append a version (a draft until published)."""
        if parse_path(path) is None:
            raise ValueError(f"not a template path: {path!r}")
        at = self.clock()
        version = content_version(source.encode("utf-8"))
        with self.engine.begin() as conn:
            new_id = conn.execute(
                template_versions.insert().values(
                    path=path, source=source, version=version, author=author,
                    note=note or None, created_at=at,
                ).returning(template_versions.c.id)
            ).scalar_one()
        return Version(int(new_id), path, source, version, author, note or None, at)

    def publish(self, version_id: int, *, by: str) -> Version:
        """Point the version's path at it. The caller checks it first (the studio does,
        and the stores check again before serving)."""
        at = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(template_versions).where(template_versions.c.id == version_id)
            ).first()
            if row is None:
                raise LookupError(f"no template version {version_id}")
            values = {"version_id": version_id, "published_at": at, "published_by": by}
            moved = conn.execute(
                update(template_published)
                .where(template_published.c.path == row.path).values(**values)
            ).rowcount
            if not moved:
                try:
                    with conn.begin_nested():
                        conn.execute(template_published.insert().values(path=row.path,
                                                                         **values))
                except IntegrityError:  # published by another process meanwhile
                    conn.execute(update(template_published)
                                 .where(template_published.c.path == row.path)
                                 .values(**values))
        return Version(**row._asdict())

    def unpublish(self, path: str) -> bool:
        """Take ``path`` out of service (its versions stay): an organisation's notices go
        back to the default template, a default back to the folder's file."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                delete(template_published).where(template_published.c.path == path)
            ).rowcount)

    def import_folder(self, directory: Path, *, author: str, update_changed: bool = False,
                      note: str = IMPORT_NOTE) -> ImportResult:
        """Seed the database from a templates folder: every template with no version
        yet gets one, published. With ``update_changed`` (after upgrading the hub's
        shipped templates) a template whose folder file differs from its published
        version gets a new published version too, unless that published version was
        made in the studio: an editor's wording is never overwritten by a file."""
        files, _stray = scan(directory)
        heads = self.heads()
        added: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        kept: list[str] = []
        for file in files:
            source = (directory / file.path).read_bytes().decode("utf-8")
            head = heads.get(file.path)
            if head is None and self.latest(file.path) is None:
                self.publish(self.save(file.path, source, author=author, note=note).id,
                             by=author)
                added.append(file.path)
                continue
            current = self.version(head.version_id) if head else self.latest(file.path)
            if current is not None and current.source == source:
                unchanged.append(file.path)
            elif current is not None and current.note != note:
                kept.append(file.path)
            elif update_changed:
                self.publish(self.save(file.path, source, author=author, note=note).id,
                             by=author)
                updated.append(file.path)
            else:
                unchanged.append(file.path)
        return ImportResult(added, updated, unchanged, kept)

    def count(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(template_versions))
                       .scalar_one())
