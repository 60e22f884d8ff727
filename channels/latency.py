"""The latency provider: a stand-in for a real provider in benchmarks and fault tests.

It answers after ``latency_ms`` (a provider call takes 50–500 ms in production), keeps
no connection, and never looks at the recipient. Settings (``[providers.latency]``,
or ``MINWON__PROVIDERS__LATENCY__LATENCY_MS=50`` and so on):

``latency_ms``  (float, 0) how long each send takes; the send thread sleeps that long.
``record``      (path, unset) a folder: every *accepted* send appends one line to
                ``<record>/<channel>.<pid>.tsv`` (see :data:`RECORD_FIELDS`), written
                with one unbuffered ``write(2)`` on an ``O_APPEND`` descriptor, so a
                line is in the file as soon as ``send`` returns, even if the process is
                killed right after. One file per process: several workers never share
                a file. Lines hold ids and times only, never personal data.
``fail_flag``   (path, unset) while this file exists every send raises
                :class:`~channels.base.TransientError` (code ``LATENCY-FLAG``) after the
                latency: the fault suite's "provider down for 30 s".

A send that raises is not recorded. "Delivered" in the benchmark and the fault suite
means "has a line in a record file"; "sent twice" means "has two".

:meth:`LatencyProvider.lookup` answers from the record files of every process (a
provider's status look-up), so the ledger's sweeper settles a claim left by a worker
killed after the provider accepted the message instead of sending it again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from channels.base import LookupResult, Message, Provider, Receipt, TransientError

#: Columns of a record line, tab-separated. Times are Unix seconds (wall clock, so
#: that a benchmark can compare them with the publish time taken in another process).
RECORD_FIELDS: tuple[str, ...] = (
    "notification_id", "event_id", "channel", "attempt", "called_at", "accepted_at", "pid",
)


class LatencyProvider(Provider):
    name: ClassVar[str] = "latency"
    supports_lookup: ClassVar[bool] = True

    def __init__(self, settings: Mapping[str, Any], *, channel: str) -> None:
        super().__init__(settings, channel=channel)
        self.latency = max(0.0, float(self.settings.get("latency_ms", 0) or 0)) / 1000.0
        flag = self.settings.get("fail_flag")
        self.fail_flag = Path(str(flag)) if flag else None
        self._fd: int | None = None
        self.record_path: Path | None = None
        record = self.settings.get("record")
        if record:
            folder = Path(str(record))
            folder.mkdir(parents=True, exist_ok=True)
            self.record_path = folder / f"{channel}.{os.getpid()}.tsv"
            self._fd = os.open(self.record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._pid = str(os.getpid())
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._offsets: dict[Path, int] = {}

    def send(self, message: Message) -> Receipt:
        called = time.time()
        if self.latency:
            time.sleep(self.latency)
        if self.fail_flag is not None and self.fail_flag.exists():
            raise TransientError("provider unavailable (fail flag present)",
                                 provider=self.name, code="LATENCY-FLAG")
        fd = self._fd
        if fd is not None:
            line = "\t".join((message.notification_id, message.event_id, message.channel,
                              str(message.attempt), f"{called:.6f}", f"{time.time():.6f}",
                              self._pid))
            os.write(fd, (line + "\n").encode())
        return Receipt(self.name, message.notification_id)

    def lookup(self, notification_id: str, sent_after: datetime) -> LookupResult | None:
        """A receipt when any process's record file has ``notification_id``; reads only
        what was appended since the last look-up."""
        if self.record_path is None:
            return None
        with self._lock:
            if notification_id not in self._seen:
                for path in self.record_path.parent.glob(f"{self.channel}.*.tsv"):
                    offset = self._offsets.get(path, 0)
                    with path.open("rb") as fh:
                        fh.seek(offset)
                        chunk = fh.read()
                    end = chunk.rfind(b"\n") + 1  # a torn last line is read next time
                    self._seen.update(line.split(b"\t", 1)[0].decode()
                                      for line in chunk[:end].splitlines())
                    self._offsets[path] = offset + end
            found = notification_id in self._seen
        return LookupResult(found, self.name, notification_id if found else None)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


@dataclass(frozen=True, slots=True)
class Record:
    """One accepted send, as read back from a record file."""

    notification_id: str
    event_id: str
    channel: str
    attempt: int
    called_at: float
    accepted_at: float
    pid: int


def read_records(folder: str | os.PathLike[str]) -> Iterator[Record]:
    """Every complete line of every record file in ``folder`` (a torn last line of a
    killed process is skipped)."""
    for path in sorted(Path(folder).glob("*.tsv")):
        with path.open("rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    continue
                parts = raw.decode("utf-8", "replace").rstrip("\n").split("\t")
                if len(parts) != len(RECORD_FIELDS):
                    continue
                try:
                    yield Record(parts[0], parts[1], parts[2], int(parts[3]),
                                 float(parts[4]), float(parts[5]), int(parts[6]))
                except ValueError:
                    continue
