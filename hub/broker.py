"""The RabbitMQ connection the hub uses: py-amqp, extended through its public extension
points, plugged into kombu through ``Transport.Connection``.

py-amqp reads a socket exactly as many bytes as it needs next (a 7-byte frame
header, the payload, one end byte), so every delivered message (three frames) costs
about six ``recv`` calls. And every ``basic_publish`` first polls the socket
(``drain_events(timeout=0)``) when the ``connection.blocked`` capability was
negotiated. Here:

* :class:`BufferedTransport` (a ``TCPTransport``) reads up to 64 KiB per ``recv``
  and hands py-amqp exactly the bytes it asked for. A read that would block waits on
  the socket with ``poll`` for the socket's timeout and then raises
  ``socket.timeout``; it never spins (a non-blocking socket raises at once).
* :class:`HubConnection` (an ``amqp.Connection``) builds that transport from its
  ``Transport`` factory (TLS connections keep py-amqp's own ``SSLTransport``), and
  adds :meth:`HubConnection.drain_buffered`, which dispatches every frame already read
  without touching the socket: a busy consumer pays one ``recv`` for many messages.
* ``negotiate_capabilities`` leaves ``connection.blocked`` out, so ``basic_publish``
  is a plain write. The hub's consuming loops read the socket between every batch
  of publishes anyway, and a broker that blocks publishers stops reading the socket:
  TCP back-pressure blocks the publisher whether or not it was told.
* :class:`AmqpTransport` / :class:`AmqpsTransport` are kombu's py-amqp transports with
  ``Connection = HubConnection``; :func:`hub.transport.connect` passes them to kombu.
"""

from __future__ import annotations

import errno
import select
from typing import Any, ClassVar

import amqp
from amqp.transport import TCPTransport
from kombu.transport import pyamqp

CHUNK = 65536
_WOULD_BLOCK = (errno.EAGAIN, errno.EWOULDBLOCK)


class BufferedTransport(TCPTransport):
    """A TCP transport that reads in 64 KiB chunks and waits, never spins."""

    _read_buffer: bytes

    def _read(self, n: int, initial: bool = False, _errnos: Any = None) -> bytes:
        """Exactly ``n`` bytes: from the buffer, topped up by ``recv`` calls of up to
        :data:`CHUNK` bytes. Keeps what it read when interrupted (timeout, error)."""
        rbuf = self._read_buffer
        try:
            while len(rbuf) < n:
                try:
                    chunk = self._quick_recv(max(n - len(rbuf), CHUNK))
                except BlockingIOError:
                    self._wait_readable()
                    continue
                except OSError as exc:
                    if exc.errno in _WOULD_BLOCK:
                        self._wait_readable()
                        continue
                    raise
                if not chunk:
                    raise OSError("Server unexpectedly closed connection")
                rbuf += chunk
        except BaseException:
            self._read_buffer = rbuf
            raise
        result, self._read_buffer = rbuf[:n], rbuf[n:]
        return bytes(result)

    def _wait_readable(self) -> None:
        """The socket had nothing: wait for it as long as its timeout allows, then
        raise ``socket.timeout`` (at once for a non-blocking socket)."""
        timeout = self.sock.gettimeout()
        if timeout == 0:
            raise TimeoutError()
        poller = select.poll()
        poller.register(self.sock, select.POLLIN | select.POLLPRI)
        if not poller.poll(None if timeout is None else timeout * 1000):
            raise TimeoutError()

    def frame_buffered(self) -> bool:
        """Whether a whole frame is already in the read buffer."""
        buf = self._read_buffer
        if len(buf) < 7:
            return False
        return len(buf) >= 8 + int.from_bytes(buf[3:7], "big")


class HubConnection(pyamqp.Connection):
    """kombu's py-amqp connection with buffered reads and no per-publish poll."""

    negotiate_capabilities: ClassVar[dict[str, bool]] = {
        **amqp.Connection.negotiate_capabilities,
        "connection.blocked": False,
    }

    def Transport(
        self, host: str, connect_timeout: float | None, ssl: Any = False,
        read_timeout: float | None = None, write_timeout: float | None = None,
        socket_settings: Any = None, **kwargs: Any,
    ) -> Any:
        if ssl:
            return super().Transport(host, connect_timeout, ssl=ssl,
                                     read_timeout=read_timeout, write_timeout=write_timeout,
                                     socket_settings=socket_settings, **kwargs)
        return BufferedTransport(host, connect_timeout=connect_timeout,
                                 read_timeout=read_timeout, write_timeout=write_timeout,
                                 socket_settings=socket_settings, **kwargs)

    def drain_buffered(self, limit: int = 4096) -> int:
        """Dispatch the frames already read (no socket call); returns how many."""
        transport = self.transport
        if not isinstance(transport, BufferedTransport):
            return 0
        count = 0
        while count < limit and transport.frame_buffered():
            self.blocking_read(None)
            count += 1
        return count


class AmqpTransport(pyamqp.Transport):
    """kombu's ``amqp://`` transport on :class:`HubConnection`."""

    Connection = HubConnection


class AmqpsTransport(pyamqp.SSLTransport):
    """kombu's ``amqps://`` transport on :class:`HubConnection` (TLS reads unbuffered)."""

    Connection = HubConnection


#: URL scheme → the kombu transport class the hub connects with.
TRANSPORTS: dict[str, type[pyamqp.Transport]] = {
    "amqp": AmqpTransport,
    "pyamqp": AmqpTransport,
    "amqps": AmqpsTransport,
}
