"""Publishing with the mandatory flag and pipelined publisher confirms.

:class:`ConfirmingPublisher` keeps many publishes in flight on one channel and
reports each one's fate to a callback: ``True`` once the broker confirmed it,
``False`` with a reason when it was returned as unroutable or nacked. Nothing
blocks per message; the owner of the channel calls :meth:`wait` or drains events
to let confirms arrive. On a transport without confirms (the in-memory one) a
publish is settled as soon as it is made.

A mandatory publish the broker cannot route comes back as ``basic.return`` (before
its confirm), which names no publish sequence number. So every mandatory publish
carries its own id in the :data:`PUBLISH_ID` header (this publisher's random prefix
and its sequence number), and a return is matched to its publish by that id, whether
or not the message has a ``message_id`` of its own. A return that names no id of
ours (never expected) fails every pending mandatory publish: the owners hold and
retry them, which may duplicate a message but never loses one.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from hub.jobs import PUBLISH_ID

Callback = Callable[[bool, str | None], None]


class PublishFailed(Exception):
    pass


class ConfirmingPublisher:
    def __init__(self, connection: Any, channel: Any, *, confirms: bool) -> None:
        self.connection = connection
        self.channel = channel
        self.confirms = confirms
        self._seq = 0
        self._prefix = secrets.token_hex(4)
        self._pending: dict[int, tuple[bool, Callback]] = {}  # seq -> (mandatory, callback)
        self._returned: dict[int, str] = {}
        if confirms:
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.events["basic_return"].add(self._on_return)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def publish(
        self,
        body: bytes,
        *,
        exchange: str,
        routing_key: str,
        headers: Mapping[str, Any] | None = None,
        message_id: str | None = None,
        content_type: str = "application/json",
        mandatory: bool = True,
        callback: Callback | None = None,
        **properties: Any,
    ) -> None:
        """Publish persistently; ``callback(ok, reason)`` is called once its fate is known."""
        props: dict[str, Any] = {"delivery_mode": 2, **properties}
        if message_id is not None:
            props["message_id"] = message_id
        application_headers = dict(headers or {})
        seq = self._seq + 1
        if self.confirms and mandatory:
            application_headers[PUBLISH_ID] = f"{self._prefix}.{seq}"
        message = self.channel.prepare_message(
            body, None, content_type, "utf-8" if "json" in content_type else "binary",
            application_headers, props
        )
        self.channel.basic_publish(message, exchange=exchange, routing_key=routing_key,
                                   mandatory=mandatory)
        if not self.confirms:
            if callback is not None:
                callback(True, None)
            return
        self._seq = seq
        self._pending[seq] = (mandatory, callback or _ignore)

    # -- broker answers ---------------------------------------------------------------
    def _settle(self, seq: int, ok: bool, reason: str | None) -> None:
        entry = self._pending.pop(seq, None)
        if entry is None:
            return
        _, callback = entry
        returned = self._returned.pop(seq, None)
        if returned is not None:
            ok, reason = False, returned
        callback(ok, reason)

    def _settle_upto(self, tag: int, multiple: bool, ok: bool, reason: str | None) -> None:
        if not multiple:
            self._settle(tag, ok, reason)
            return
        for seq in sorted(s for s in self._pending if s <= tag):
            self._settle(seq, ok, reason)

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle_upto(delivery_tag, multiple, True, None)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle_upto(delivery_tag, multiple, False, "nacked by the broker")

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        reason = f"unroutable: {exchange or '(default)'} {routing_key}"
        properties = getattr(message, "properties", None) or {}
        headers = properties.get("application_headers") or {}
        publish_id = headers.get(PUBLISH_ID)
        if isinstance(publish_id, bytes):
            publish_id = publish_id.decode("utf-8", "replace")
        prefix, _, number = str(publish_id or "").rpartition(".")
        if prefix == self._prefix and number.isdigit() and int(number) in self._pending:
            self._returned[int(number)] = reason
            return
        # Not one of ours by id: fail every pending mandatory publish rather than
        # let the returned one count as delivered.
        for seq, (mandatory, _) in self._pending.items():
            if mandatory:
                self._returned.setdefault(seq, f"{reason} (unmatched return)")

    def wait(self, timeout: float = 30.0) -> None:
        """Block until every publish so far is settled; raise on timeout."""
        deadline = time.monotonic() + timeout
        while self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishFailed(f"{len(self._pending)} publishes unconfirmed after {timeout}s")
            try:
                self.connection.drain_events(timeout=min(remaining, 1.0))
            except TimeoutError:
                pass


def _ignore(ok: bool, reason: str | None) -> None:
    return None
