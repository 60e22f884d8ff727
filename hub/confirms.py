"""Publishing with the mandatory flag and pipelined publisher confirms.

:class:`ConfirmingPublisher` keeps many publishes in flight on one channel and
reports each one's fate to a callback: ``True`` once the broker confirmed it,
``False`` with a reason when it was returned as unroutable or nacked. Nothing
blocks per message; the owner of the channel calls :meth:`wait` or drains events
to let confirms arrive. On a transport without confirms (the in-memory one) a
publish is settled as soon as it is made.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from hub import amqpfast

Callback = Callable[[bool, str | None], None]


class PublishFailed(Exception):
    pass


class ConfirmingPublisher:
    def __init__(self, connection: Any, channel: Any, *, confirms: bool,
                 fast: bool = False) -> None:
        self.connection = connection
        self.channel = channel
        self.confirms = confirms
        self.fast = fast  # publish through hub.amqpfast (py-amqp channels only)
        self._seq = 0
        self._pending: dict[int, tuple[str | None, Callback]] = {}
        self._returned: dict[int, str] = {}
        self._by_id: dict[str, list[int]] = {}
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
        message = self.channel.prepare_message(
            body, None, content_type, "utf-8" if "json" in content_type else "binary",
            dict(headers or {}), props
        )
        if self.fast:
            amqpfast.publish(self.channel, message, exchange, routing_key, mandatory)
        else:
            self.channel.basic_publish(message, exchange=exchange, routing_key=routing_key,
                                       mandatory=mandatory)
        if not self.confirms:
            if callback is not None:
                callback(True, None)
            return
        self._seq += 1
        seq = self._seq
        self._pending[seq] = (message_id, callback or _ignore)
        if message_id is not None:
            self._by_id.setdefault(message_id, []).append(seq)

    # -- broker answers ---------------------------------------------------------------
    def _settle(self, seq: int, ok: bool, reason: str | None) -> None:
        entry = self._pending.pop(seq, None)
        if entry is None:
            return
        message_id, callback = entry
        if message_id is not None:
            seqs = self._by_id.get(message_id)
            if seqs:
                seqs.remove(seq)
                if not seqs:
                    del self._by_id[message_id]
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
        message_id = getattr(message, "properties", {}).get("message_id")
        for seq in self._by_id.get(message_id or "", []):
            if seq not in self._returned:
                self._returned[seq] = f"unroutable: {exchange or '(default)'} {routing_key}"
                return

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
