"""The null hub: the hub's topology and processes with stages that only pass
messages on. It is what the hub's shape costs before any of its work (parsing,
rules, ledger, templates, providers), the floor the hub is measured against.

``python -m bench.nullhub router URL CHANNELS`` consumes ``hub.router`` with the
hub's own :class:`~hub.consumer.ConsumingLoop` and, for each event, publishes it
unchanged to ``hub.notify`` once per channel (as the router fans an event out to one
job per channel), confirmed before the event is acked.

``python -m bench.nullhub worker URL CHANNEL RECORD`` consumes ``hub.notify.<channel>``
with the same loop; for each delivery it appends one line to a record file (as the
latency provider does for an accepted send, so the benchmark counts the same way)
and publishes the message on to ``minwon.notifications`` (as the worker publishes a
status event), confirmed before the delivery is acked.

Both use the hub's connection settings, prefetch and batched acks; the processes
start as the hub's do (workers, then the router). The stages are written against the
consuming loop's stage interface (:class:`~hub.consumer.Stage`, ``Settlement``,
``Publish``): whoever changes that interface keeps these two stages in step, so the
null hub always measures the hub's current loop.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from hub.consumer import ConsumingLoop, Publish, Settlement, Stage
from hub.jobs import ATTEMPT
from hub.topology import NOTIFY_EXCHANGE, ROUTER_QUEUE, STATUS_EXCHANGE, notify_queue
from hub.transport import connect, profile_for


class NullRouter(Stage):
    queue_name = ROUTER_QUEUE

    def __init__(self, channels: tuple[str, ...]) -> None:
        self.channels = channels

    def handle(self, body: bytes, headers: dict[str, Any], delivery_tag: int,
               redelivered: bool) -> Settlement:
        return Settlement(delivery_tag, [
            Publish(exchange=NOTIFY_EXCHANGE, routing_key=c, body=body, headers={ATTEMPT: 1})
            for c in self.channels])


class NullWorker(Stage):
    def __init__(self, channel: str, record: str) -> None:
        self.channel = channel
        self.queue_name = notify_queue(channel)
        os.makedirs(record, exist_ok=True)
        self.pid = str(os.getpid())
        self.fd = os.open(os.path.join(record, f"{channel}.{self.pid}.tsv"),
                          os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.seen = 0

    def handle(self, body: bytes, headers: dict[str, Any], delivery_tag: int,
               redelivered: bool) -> Settlement:
        self.seen += 1
        now = f"{time.time():.6f}"
        ident = f"{self.pid}-{self.seen}"
        os.write(self.fd, "\t".join((ident, ident, self.channel, "1", now, now, self.pid,
                                     )).encode() + b"\n")
        return Settlement(delivery_tag, [Publish(
            exchange=STATUS_EXCHANGE, routing_key="notification.sent", body=body,
            mandatory=False, content_type="application/cloudevents+json")])


def main(argv: list[str]) -> int:
    role, url = argv[0], argv[1]
    stage: Stage
    if role == "router":
        stage = NullRouter(tuple(argv[2].split(",")))
    else:
        stage = NullWorker(argv[2], argv[3])
    prefetch = int(os.environ.get("BENCH_PREFETCH", "256"))
    with connect(url) as conn:
        loop = ConsumingLoop(conn, profile_for(url), stage, prefetch=prefetch)
        signal.signal(signal.SIGTERM, lambda *_: loop.request_stop())
        loop.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
