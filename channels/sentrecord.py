"""A local record of what a provider accepted, for providers the hub cannot ask later.

SENS can be asked about a message only by the request id its answer carried, SMTP
servers cannot be asked at all, and SES has no search by message tag. So the moment
such a provider accepts a message, its id is appended here (one JSON line: the
notification id, the provider's message id, the time), before the worker records the
notice in the ledger. A worker that dies between the provider's answer and its ledger
write leaves the answer here, and the sweeper's :meth:`~channels.base.Provider.lookup`
finds it instead of sending a second message.

One file per provider type (``<record_dir>/<provider>.jsonl``, setting
``record_dir``, default ``records``), appended by every worker process of the host
(``O_APPEND`` line writes) and read incrementally. Put ``record_dir`` on a volume the
worker's replacement sees (the sweeper may run in another process). Entries older
than ``keep`` (two days, well above ``ledger.sweep_after``) are dropped from memory;
rotate the file with ``copytruncate`` (a truncated file is read from its start
again). No personal data: ids and times only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub import metrics

log = logging.getLogger(__name__)

DEFAULT_DIR = "records"
KEEP = timedelta(days=2)


class SentRecord:
    """Thread-safe append/find of ``notification id → provider message id``."""

    def __init__(self, path: str | os.PathLike[str], keep: timedelta = KEEP) -> None:
        self.path = Path(path)  # its folder is made by the first add()
        self.keep = keep
        self._lock = threading.Lock()
        self._index: dict[str, tuple[str, datetime]] = {}
        self._offset = 0
        self._warned = False

    @classmethod
    def for_provider(cls, settings: dict[str, object], provider: str) -> SentRecord:
        folder = str(settings.get("record_dir") or DEFAULT_DIR)
        return cls(Path(folder) / f"{provider}.jsonl")

    def add(self, notification_id: str, message_id: str) -> None:
        """Record that the provider accepted ``notification_id`` as ``message_id``.

        Never raises: the provider *has* accepted the message, and an error here would
        make the chain try the next provider (a second message). A record that cannot
        be written is logged (once per file) and counted in
        ``minwon_sent_record_failures_total``; the look-up then cannot tell."""
        try:
            self._append(notification_id, message_id)
        except OSError as exc:
            metrics.SENT_RECORD_FAILURES.inc()
            if not self._warned:
                self._warned = True
                log.error("cannot write the record of accepted messages %s: %s "
                          "(look-ups after a worker dies cannot tell; set record_dir "
                          "to a writable volume)", self.path, type(exc).__name__)

    def _append(self, notification_id: str, message_id: str) -> None:
        line = json.dumps(
            {"n": notification_id, "id": message_id,
             "t": datetime.now(UTC).isoformat(timespec="seconds")},
            ensure_ascii=True,
        ) + "\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line.encode("ascii"))
        finally:
            os.close(fd)

    def find(self, notification_id: str, since: datetime | None = None) -> str | None:
        """The message id recorded for ``notification_id`` (at or after ``since``)."""
        with self._lock:
            self._read_new()
            found = self._index.get(notification_id)
        if found is None:
            return None
        message_id, at = found
        if since is not None and at < since - timedelta(minutes=5):
            return None
        return message_id

    def _read_new(self) -> None:
        try:
            size = self.path.stat().st_size
        except OSError:  # not written yet, or not readable: nothing known
            return
        if size < self._offset:  # truncated (copytruncate rotation): read it again
            self._offset = 0
        if size == self._offset:
            return
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read(size - self._offset)
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1  # a torn last line is read next time
        oldest = datetime.now(UTC) - self.keep
        for raw in chunk[:end].splitlines():
            try:
                item = json.loads(raw)
                at = datetime.fromisoformat(item["t"])
                if at >= oldest:
                    self._index[str(item["n"])] = (str(item["id"]), at)
            except (ValueError, KeyError, TypeError):
                continue
        self._offset += end
        if len(self._index) > 100_000:
            self._index = {k: v for k, v in self._index.items() if v[1] >= oldest}
