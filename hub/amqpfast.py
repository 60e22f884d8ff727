"""Two py-amqp costs the hub's hot path does without.

py-amqp reads a socket exactly as many bytes as it needs next: a 7-byte frame header,
then the payload, then one end byte, so every delivered message (three frames) costs
about six ``recv`` calls plus two ``settimeout`` calls per ``drain_events``. And every
``basic_publish`` first polls the socket (``drain_events(timeout=0)``) to learn of a
``connection.blocked`` notice, and sets the socket timeout twice around its write.

Here:

* :func:`buffer_reads` makes the connection's transport read up to 64 KiB per
  ``recv``; :func:`drain_buffered` dispatches every frame already read without
  touching the socket. A busy consumer then pays one ``recv`` for many messages.
* :func:`publish` writes ``basic.publish`` directly. The hub's loops drain the
  connection between every batch of publishes anyway, so a ``connection.blocked``
  notice is still seen (and TCP back-pressure blocks a blocked publisher regardless).

Both rely on py-amqp's transport and channel attributes (``_read``, ``_read_buffer``,
``_quick_recv``, ``send_method``), stable across py-amqp 5.x; :func:`supported`
says whether a connection has them, and the hub falls back to the plain calls when not.
"""

from __future__ import annotations

import errno
import types
from typing import Any

from amqp import spec

_CHUNK = 65536
_PUBLISH_ARGSIG = "Bssbb"
_AGAIN = (errno.EAGAIN, errno.EWOULDBLOCK)


def supported(amqp_connection: Any) -> bool:
    transport = getattr(amqp_connection, "transport", None)
    return all(hasattr(transport, a) for a in ("_read", "_read_buffer", "_quick_recv")) \
        and type(transport).__name__ == "TCPTransport"


def _buffered_read(self: Any, n: int, initial: bool = False, _errnos: Any = _AGAIN) -> bytes:
    recv = self._quick_recv
    rbuf = self._read_buffer
    try:
        while len(rbuf) < n:
            try:
                s = recv(max(n - len(rbuf), _CHUNK))
            except OSError as exc:
                if exc.errno in _errnos:
                    # A non-blocking read (the caller's timeout is 0) found nothing: say
                    # so instead of retrying forever. py-amqp's read_frame puts back
                    # what it took of a partial frame and the caller's drain ends.
                    raise TimeoutError("timed out") from None
                if exc.errno == errno.EINTR:
                    continue
                raise
            if not s:
                raise OSError("Server unexpectedly closed connection")
            rbuf += s
    except BaseException:
        self._read_buffer = rbuf
        raise
    result, self._read_buffer = rbuf[:n], rbuf[n:]
    return bytes(result)


def buffer_reads(amqp_connection: Any) -> bool:
    """Make the connection read in 64 KiB chunks. Returns False if not supported."""
    if not supported(amqp_connection):
        return False
    transport = amqp_connection.transport
    transport._read = types.MethodType(_buffered_read, transport)
    return True


def _frame_ready(buf: bytes | bytearray) -> bool:
    if len(buf) < 7:
        return False
    size = int.from_bytes(buf[3:7], "big")
    return len(buf) >= 8 + size


def drain_buffered(amqp_connection: Any, limit: int = 4096) -> int:
    """Dispatch the frames already in the read buffer; returns how many."""
    transport = amqp_connection.transport
    count = 0
    while count < limit and _frame_ready(transport._read_buffer):
        amqp_connection.blocking_read(None)
        count += 1
    return count


def publish(channel: Any, message: Any, exchange: str, routing_key: str,
            mandatory: bool) -> None:
    """``basic.publish`` without py-amqp's per-publish socket poll and timeouts."""
    channel.send_method(spec.Basic.Publish, _PUBLISH_ARGSIG,
                        (0, exchange, routing_key, mandatory, False), message)
