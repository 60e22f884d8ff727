"""hub.amqpfast: buffered reads return exactly what py-amqp asked for, in order, with
far fewer recv calls; a frame is dispatched only when it is complete."""

from __future__ import annotations

import errno
import socket
import types
from typing import Any

import pytest

from hub import amqpfast


class FakeTransport:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.calls = 0
        self._read_buffer = b""
        self._quick_recv = self._recv

    def _recv(self, n: int) -> bytes:
        self.calls += 1
        data, self.chunks = (self.chunks[0], self.chunks[1:]) if self.chunks else (b"", [])
        return data


def frame(payload: bytes, kind: int = 1, channel: int = 1) -> bytes:
    return bytes([kind]) + channel.to_bytes(2, "big") + len(payload).to_bytes(4, "big") \
        + payload + b"\xce"


def test_reads_come_out_in_order_from_one_big_recv() -> None:
    # Given three frames that arrive in one TCP segment
    data = frame(b"method") + frame(b"header") + frame(b"body" * 100)
    transport = FakeTransport([data])
    read = types.MethodType(amqpfast._buffered_read, transport)
    # When py-amqp reads them piece by piece
    pieces = [read(7), read(6), read(1), read(7), read(6), read(1), read(7), read(400), read(1)]
    # Then it gets exactly the bytes, and the socket was read once
    assert b"".join(pieces) == data
    assert transport.calls == 1


def test_a_closed_socket_is_an_error() -> None:
    transport = FakeTransport([b"abc"])
    read = types.MethodType(amqpfast._buffered_read, transport)
    with pytest.raises(OSError, match="closed"):
        read(10)
    assert transport._read_buffer == b"abc"  # what was read is kept


@pytest.mark.parametrize(
    ("buffer", "ready"),
    [
        (b"", False),
        (frame(b"x")[:6], False),
        (frame(b"payload")[:-1], False),
        (frame(b"payload"), True),
        (frame(b"a") + frame(b"b")[:3], True),
    ],
)
def test_a_frame_is_ready_only_when_complete(buffer: bytes, ready: bool) -> None:
    assert amqpfast._frame_ready(buffer) is ready


def test_supported_only_on_plain_tcp_transports() -> None:
    class TCPTransport(FakeTransport):
        _read: Any = None

    class SSLTransport(TCPTransport):
        pass

    ok = types.SimpleNamespace(transport=TCPTransport([]))
    tls = types.SimpleNamespace(transport=SSLTransport([]))
    assert amqpfast.supported(ok)
    assert not amqpfast.supported(tls)
    assert not amqpfast.supported(types.SimpleNamespace(transport=None))


class NonBlockingTransport(FakeTransport):
    """A socket set non-blocking (timeout 0) with nothing more to read."""

    def _recv(self, n: int) -> bytes:
        self.calls += 1
        if self.chunks:
            data, self.chunks = self.chunks[0], self.chunks[1:]
            return data
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")


@pytest.mark.parametrize("initial", [True, False])
def test_a_read_that_would_block_times_out_instead_of_spinning(initial: bool) -> None:
    # Given a non-blocking socket that brought half a frame
    transport = NonBlockingTransport([b"\x01\x00"])
    read = types.MethodType(amqpfast._buffered_read, transport)
    # When py-amqp asks for the 7-byte frame header
    with pytest.raises(socket.timeout):
        read(7, initial)
    # Then it gets a timeout after one empty try (not an endless retry), keeping the bytes
    assert transport.calls == 2
    assert transport._read_buffer == b"\x01\x00"
