"""hub.broker's transport against real py-amqp frame reading over a real TCP socket
pair: frames come out whole and in order however the bytes arrive, many frames cost
one recv, and a read with nothing to read waits for its timeout and raises, without
spinning (a non-blocking socket raises at once)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import amqp
import pytest

from hub.broker import CHUNK, AmqpTransport, BufferedTransport, HubConnection


def frame(payload: bytes, kind: int = 1, channel: int = 1) -> bytes:
    return bytes([kind]) + channel.to_bytes(2, "big") + len(payload).to_bytes(4, "big") \
        + payload + b"\xce"


@pytest.fixture
def pair() -> Iterator[tuple[BufferedTransport, socket.socket]]:
    """A connected transport (py-amqp's own connect path) and the server's socket."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    transport = BufferedTransport(f"127.0.0.1:{port}", connect_timeout=5)
    transport.connect()
    peer, _ = server.accept()
    server.close()
    try:
        yield transport, peer
    finally:
        transport.close()
        peer.close()


class Counting:
    """Wraps ``recv`` to count the calls."""

    def __init__(self, recv: Any) -> None:
        self.recv = recv
        self.calls = 0

    def __call__(self, n: int) -> bytes:
        self.calls += 1
        data: bytes = self.recv(n)
        return data


def test_many_frames_in_one_segment_are_read_with_one_recv(
    pair: tuple[BufferedTransport, socket.socket]
) -> None:
    transport, peer = pair
    # Given 50 frames the broker sent at once
    frames = [frame(f"message {i}".encode() * 20) for i in range(50)]
    peer.sendall(b"".join(frames))
    counting = Counting(transport._quick_recv)
    transport._quick_recv = counting
    # When py-amqp reads them
    transport.sock.settimeout(5)
    got = [transport.read_frame() for _ in frames]
    # Then each is whole and in order, and the socket was read about once per 64 KiB
    assert [payload for _, _, payload in got] == [f[7:-1] for f in frames]
    assert counting.calls <= 1 + len(b"".join(frames)) // CHUNK + 1
    assert not transport.frame_buffered()


def test_a_frame_arriving_in_pieces_across_timeouts_is_read_whole(
    pair: tuple[BufferedTransport, socket.socket]
) -> None:
    transport, peer = pair
    data = frame(b"x" * 1000)
    transport.sock.settimeout(0.05)
    # Given half a frame
    peer.sendall(data[:500])
    # When py-amqp reads, Then it times out without losing what it read
    with pytest.raises(socket.timeout):
        transport.read_frame()
    # And when the rest arrives, the frame is read whole
    peer.sendall(data[500:])
    transport.sock.settimeout(5)
    assert transport.read_frame() == (1, 1, b"x" * 1000)


def test_an_idle_read_waits_its_timeout_without_spinning(
    pair: tuple[BufferedTransport, socket.socket]
) -> None:
    transport, _ = pair
    transport.sock.settimeout(0.5)
    cpu, wall = time.process_time(), time.monotonic()
    with pytest.raises(socket.timeout):
        transport.read_frame()
    waited, used = time.monotonic() - wall, time.process_time() - cpu
    # It waited (about) its timeout, and burned a small part of it on the CPU
    assert waited >= 0.4
    assert used < waited / 4, f"{used:.3f} s of CPU in {waited:.3f} s: spinning"


def test_a_non_blocking_read_with_nothing_to_read_raises_at_once(
    pair: tuple[BufferedTransport, socket.socket]
) -> None:
    transport, peer = pair
    transport.sock.setblocking(False)
    with pytest.raises(socket.timeout):
        transport.read_frame()
    # And a frame that is there is read as usual
    peer.sendall(frame(b"ready"))
    deadline = time.monotonic() + 5
    while True:
        try:
            assert transport.read_frame() == (1, 1, b"ready")
            break
        except TimeoutError:
            assert time.monotonic() < deadline
            time.sleep(0.01)


def test_the_peer_closing_is_an_error_not_a_loop(
    pair: tuple[BufferedTransport, socket.socket]
) -> None:
    transport, peer = pair
    assert peer.recv(8) == b"AMQP\x00\x00\x09\x01"  # py-amqp's protocol header
    peer.sendall(frame(b"last")[:4])
    peer.close()
    transport.sock.settimeout(5)
    with pytest.raises(OSError, match="unexpectedly closed"):
        transport.read_frame()


def test_the_connection_class_is_wired_through_public_extension_points() -> None:
    # kombu's transport names the connection class; the connection negotiates no
    # connection.blocked (no per-publish poll) and keeps py-amqp's other capabilities
    assert AmqpTransport.Connection is HubConnection
    assert issubclass(HubConnection, amqp.Connection)
    caps = HubConnection.negotiate_capabilities
    assert caps["connection.blocked"] is False
    assert caps["consumer_cancel_notify"] is True
    assert caps["authentication_failure_close"] is True
    # and its Transport factory builds the buffered transport (TLS keeps py-amqp's)
    conn = HubConnection(host="127.0.0.1:1", connect_timeout=1)
    assert isinstance(conn.Transport("127.0.0.1:1", 1), BufferedTransport)
    assert not isinstance(conn.Transport("127.0.0.1:1", 1, ssl=True), BufferedTransport)
