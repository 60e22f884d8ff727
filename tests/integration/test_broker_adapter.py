"""hub.broker against the real broker: the hub's connections are HubConnections on the
buffered transport, negotiate without connection.blocked, publish with confirms, and a
consumer takes many messages per socket read; an idle drain waits without spinning."""

from __future__ import annotations

import time

import pytest
from kombu import Queue

from hub.broker import BufferedTransport, HubConnection
from hub.confirms import ConfirmingPublisher
from hub.transport import connect
from tests.conftest import VHost

pytestmark = pytest.mark.integration


def test_hub_connections_use_the_adapter_and_carry_messages(vhost: VHost) -> None:
    with connect(vhost.url) as conn:
        raw = conn.connection
        # Given the hub's connection: our classes, plugged in through kombu
        assert isinstance(raw, HubConnection)
        assert isinstance(raw.transport, BufferedTransport)
        assert raw.client_properties["capabilities"].get("connection.blocked") is not True
        channel = conn.channel()
        Queue("adapter.q", channel=channel, durable=True).declare()
        # When 2,000 messages are published with confirms
        publisher = ConfirmingPublisher(conn, channel, confirms=True)
        results: list[bool] = []
        for i in range(2000):
            publisher.publish(f"m{i}".encode(), exchange="", routing_key="adapter.q",
                              callback=lambda ok, _: results.append(ok))
        publisher.wait(30)
        # Then every one is confirmed
        assert results == [True] * 2000
        # When a consumer takes them, reading the socket through the buffer
        got: list[bytes | str] = []
        channel.basic_qos(0, 500, False)
        channel.basic_consume("adapter.q", callback=lambda m: got.append(m.body),
                              no_ack=True)
        reads = 0
        deadline = time.monotonic() + 30
        while len(got) < 2000 and time.monotonic() < deadline:
            if not raw.drain_buffered():
                reads += 1
                try:
                    raw.drain_events(timeout=1)
                except TimeoutError:
                    pass
        # Then all arrive in order, with far fewer socket waits than messages
        assert [g if isinstance(g, str) else g.decode() for g in got] == [
            f"m{i}" for i in range(2000)]
        assert reads < 2000 / 4, reads


def test_an_idle_drain_times_out_without_spinning(vhost: VHost) -> None:
    with connect(vhost.url) as conn:
        raw = conn.connection
        cpu, wall = time.process_time(), time.monotonic()
        for timeout in (0.0, 0.3, 0.3):
            try:
                raw.drain_events(timeout=timeout)
            except TimeoutError:
                pass
        waited, used = time.monotonic() - wall, time.process_time() - cpu
        assert waited >= 0.5
        assert used < waited / 4, f"{used:.3f} s of CPU in {waited:.3f} s: spinning"
