"""Delay tiers played in-process, for transports without TTL and dead-lettering.

On RabbitMQ a job published to ``hub.retry`` waits in its tier's queue until the
fixed TTL expires and the broker dead-letters it back to ``hub.notify``. kombu's
in-memory transport has neither, so :class:`InProcessDelayPump` takes what lands in
the tier queues, holds it for the tier's time, and publishes it to ``hub.notify``
with the channel named in its ``CC`` header. Nothing else in the hub knows the
difference. Held messages live in memory only: this is for the embedded demo.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Any

from hub.topology import NOTIFY_EXCHANGE, Topology
from hub.transport import connect

log = logging.getLogger(__name__)


class InProcessDelayPump:
    def __init__(self, url: str, topology: Topology, *, poll: float = 0.01) -> None:
        self.url = url
        self.topology = topology
        self.poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heap: list[tuple[float, int, bytes, dict[str, Any], dict[str, Any]]] = []
        self._counter = itertools.count()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="delay-pump", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def held(self) -> int:
        return len(self._heap)

    def _run(self) -> None:
        with connect(self.url) as conn:
            channel = conn.channel()
            self.topology.declare(channel)
            while not self._stop.is_set():
                now = time.monotonic()
                for tier in self.topology.tiers:
                    while True:
                        message = channel.basic_get(tier.queue, no_ack=True)
                        if message is None:
                            break
                        props = {k: v for k, v in message.properties.items()
                                 if k in ("message_id", "content_type", "delivery_mode")}
                        heapq.heappush(self._heap, (now + tier.seconds, next(self._counter),
                                                    message.body, dict(message.headers or {}),
                                                    props))
                while self._heap and self._heap[0][0] <= now:
                    _, _, body, headers, props = heapq.heappop(self._heap)
                    channels = headers.get("CC") or []
                    for name in channels:
                        msg = channel.prepare_message(
                            body, None, props.get("content_type", "application/json"), "utf-8",
                            headers, {"message_id": props.get("message_id"), "delivery_mode": 2},
                        )
                        channel.basic_publish(msg, exchange=NOTIFY_EXCHANGE, routing_key=name)
                time.sleep(self.poll)
