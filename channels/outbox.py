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

from channels.base import Message, Provider, Receipt
from channels.simulation import Simulator


class OutboxProvider(Provider):
    name: ClassVar[str] = "outbox"

    def __init__(self, settings: Mapping[str, Any], *, channel: str) -> None:
        super().__init__(settings, channel=channel)
        self.dir = Path(str(self.settings.get("dir", "outbox")))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"{channel}.jsonl"
        self._file: TextIO = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self._simulator = Simulator(self.name)

    def send(self, message: Message) -> Receipt:
        self._simulator.answer(message)  # raises for reserved failing recipients
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

    def close(self) -> None:
        with self._lock:
            self._file.close()
