"""Following the latency provider's record files while a run goes on."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from channels.latency import Record, read_records


class RecordCounter:
    """Counts record lines in a folder incrementally (reads only what was appended)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._offsets: dict[Path, int] = {}
        self.count = 0

    def poll(self) -> int:
        for path in self.folder.glob("*.tsv"):
            offset = self._offsets.get(path, 0)
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            if not chunk:
                continue
            complete = chunk.rfind(b"\n") + 1
            self.count += chunk.count(b"\n", 0, complete)
            self._offsets[path] = offset + complete
        return self.count

    def wait_for(self, expected: int, timeout: float, *, idle_timeout: float = 30.0,
                 check: Callable[[], None] | None = None, interval: float = 0.25) -> int:
        """Until ``expected`` lines are in, or ``timeout``, or nothing new for
        ``idle_timeout`` seconds; ``check`` is called each round (raise to abort)."""
        deadline = time.monotonic() + timeout
        last_change, last = time.monotonic(), -1
        while time.monotonic() < deadline:
            n = self.poll()
            if n >= expected:
                return n
            if n != last:
                last, last_change = n, time.monotonic()
            elif time.monotonic() - last_change > idle_timeout:
                break
            if check is not None:
                check()
            time.sleep(interval)
        return self.poll()


def load(folder: Path) -> list[Record]:
    return list(read_records(folder))


def throughput(records: list[Record]) -> float:
    """Notices per second between the first provider call and the last acceptance."""
    if len(records) < 2:
        return 0.0
    first = min(r.called_at for r in records)
    last = max(r.accepted_at for r in records)
    return len(records) / max(last - first, 1e-9)


def duplicates(records: list[Record]) -> int:
    seen: set[str] = set()
    dup = 0
    for r in records:
        if r.notification_id in seen:
            dup += 1
        seen.add(r.notification_id)
    return dup
