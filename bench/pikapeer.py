"""A plain pika consumer doing the hub's work: what a team would write by hand with
pika's ``SelectConnection`` instead of the hub's consuming loop.

``python -m bench.pikapeer router`` consumes ``hub.router``; for each event it runs the
hub's :meth:`~hub.router.Router.route` (via :class:`bench.work.Work`) on the I/O thread
and publishes the jobs to ``hub.notify``, then acks the event once the broker confirmed
every job. ``python -m bench.pikapeer worker CHANNEL`` consumes ``hub.notify.<channel>``
and runs :meth:`bench.work.Work.notice` (claim, policy, render, provider, record) in a
pool of ``worker.concurrency`` threads; the I/O thread publishes the status event and
acks once it is confirmed. Prefetch = the hub's; publisher confirms pipelined (pika's
``confirm_delivery``); one ``basic.ack`` per message, as a pika consumer usually acks.

Configuration: ``MINWON_CONFIG`` (the run's ``minwon.toml``: broker URL, prefetch,
concurrency, ledger, provider).
"""

from __future__ import annotations

import functools
import signal
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pika
from pika.adapters.select_connection import SelectConnection

from bench.work import Work
from hub.consumer import Publish
from hub.topology import ROUTER_QUEUE, notify_queue


class PikaPeer:
    def __init__(self, work: Work, queue: str, *, threads: int = 0) -> None:
        config = work.config
        self.work = work
        self.queue = queue
        self.prefetch = int(config["broker"]["prefetch"])
        self.pool = ThreadPoolExecutor(threads) if threads else None
        self.channel: Any = None
        self.seq = 0  # publish sequence number = confirm delivery tag
        self.waiting: dict[int, int] = {}  # publish seq -> delivery tag
        self.remaining: dict[int, int] = {}  # delivery tag -> confirms still due
        self.conn = SelectConnection(
            pika.URLParameters(config.broker_url),
            on_open_callback=lambda c: c.channel(on_open_callback=self.on_channel),
            on_close_callback=lambda c, reason: c.ioloop.stop())

    def on_channel(self, channel: Any) -> None:
        self.channel = channel
        channel.confirm_delivery(self.on_confirm)
        channel.basic_qos(prefetch_count=self.prefetch)
        channel.basic_consume(self.queue, self.on_message)

    def on_message(self, channel: Any, method: Any, props: Any, body: bytes) -> None:
        tag = method.delivery_tag
        if self.pool is None:
            self.publish(tag, self.work.route(body))
            return
        future = self.pool.submit(self.work.notice, body)
        future.add_done_callback(functools.partial(self.done, tag))

    def done(self, tag: int, future: Future[list[Publish]]) -> None:
        """In a pool thread: hand the outcome to the I/O thread."""
        try:
            publishes = future.result()
        except Exception:  # as a worker would: back to the queue
            self.conn.ioloop.add_callback_threadsafe(
                functools.partial(self.channel.basic_reject, tag, requeue=True))
            return
        self.conn.ioloop.add_callback_threadsafe(functools.partial(self.publish, tag, publishes))

    def publish(self, tag: int, publishes: list[Publish]) -> None:
        if not publishes:
            self.channel.basic_ack(tag)
            return
        self.remaining[tag] = len(publishes)
        for p in publishes:
            self.channel.basic_publish(p.exchange, p.routing_key, p.body, pika.BasicProperties(
                content_type=p.content_type, delivery_mode=2, message_id=p.message_id,
                headers=p.headers or None), mandatory=p.mandatory)
            self.seq += 1
            self.waiting[self.seq] = tag

    def on_confirm(self, frame: Any) -> None:
        method = frame.method
        ok = isinstance(method, pika.spec.Basic.Ack)
        seqs = [s for s in self.waiting if s <= method.delivery_tag] if method.multiple \
            else [method.delivery_tag]
        for s in seqs:
            tag = self.waiting.pop(s, None)
            if tag is None:
                continue
            self.remaining[tag] -= 1
            if not ok:  # a refused publish: dead-letter the delivery, never lose it
                self.remaining[tag] = -1
                self.channel.basic_reject(tag, requeue=False)
            elif self.remaining[tag] == 0:
                del self.remaining[tag]
                self.channel.basic_ack(tag)

    def run(self) -> None:
        def stop(*_: Any) -> None:
            self.conn.ioloop.add_callback_threadsafe(self.conn.close)

        signal.signal(signal.SIGTERM, stop)
        self.conn.ioloop.start()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def main(argv: list[str]) -> int:
    work = Work()
    if argv[0] == "router":
        PikaPeer(work, ROUTER_QUEUE).run()
    else:
        channel = argv[1]
        work.sender(channel)
        PikaPeer(work, notify_queue(channel),
                 threads=int(work.config["worker"]["concurrency"])).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
