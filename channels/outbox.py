"""The outbox provider: one JSON object per line in ``<dir>/<channel>.jsonl``.

It is the embedded default (the demo needs no account anywhere) and the pipeline's
test double. Records carry every field that DESIGN.md lists, so tests and operators
can see exactly what a citizen would have received. Reserved addresses
(:mod:`channels.simulation`) fail on purpose, so retries and the parking lot can be
exercised; a success to a reserved address is written like any other.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TextIO

from channels.base import LookupResult, Message, Provider, Receipt


class OutboxProvider(Provider):
    name: ClassVar[str] = "outbox"
    supports_lookup: ClassVar[bool] = True

    def __init__(self, settings: Mapping[str, Any], *, channel: str) -> None:
        super().__init__(settings, channel=channel)
        self.dir = Path(str(self.settings.get("dir", "outbox")))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"{channel}.jsonl"
        self._file: TextIO = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._seen_offset = 0

    def send(self, message: Message) -> Receipt:
        if self.simulator is not None:
            self.simulator.answer(message)  # raises for reserved failing recipients; a
        # simulated success is written like any other (the outbox is the record)
        record = {
            "notification_id": message.notification_id,
            "event_id": message.event_id,
            "event_type": message.event_type,
            "case_id": message.case_id,
            "org": message.org,
            "channel": message.channel,
            "to": message.to,
            "kind": message.kind,
            "subject": message.subject,
            "body": message.body,
            "html": message.html,
            "sender": message.sender,
            "template": message.template,
            "template_version": message.template_version,
            "attempt": message.attempt,
            "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
        return Receipt(self.name, message.notification_id)

    def lookup(self, notification_id: str, sent_after: datetime) -> LookupResult | None:
        """Whether the outbox holds a record for ``notification_id`` (written by this or
        any earlier process); reads only what was appended since the last look-up."""
        with self._lock:
            if notification_id not in self._seen and self.path.exists():
                with self.path.open("rb") as fh:
                    fh.seek(self._seen_offset)
                    chunk = fh.read()
                end = chunk.rfind(b"\n") + 1  # a torn last line is read next time
                for line in chunk[:end].splitlines():
                    try:
                        self._seen.add(json.loads(line)["notification_id"])
                    except (ValueError, KeyError):
                        continue
                self._seen_offset += end
            found = notification_id in self._seen
        return LookupResult(found, self.name, notification_id if found else None)

    def close(self) -> None:
        with self._lock:
            self._file.close()
