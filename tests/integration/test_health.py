"""/healthz and /readyz of a running hub against the real RabbitMQ.

The shared broker is never stopped: the hub reaches it through a small TCP proxy the
test starts, and "the broker becomes unreachable" is the proxy cutting every
connection and refusing new ones, for this hub alone."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.app import Hub
from hub.health import HealthServer, serve
from tests.conftest import AMQP_ROOT, VHost, make_config
from tests.integration.harness import publish, wait_for

pytestmark = pytest.mark.integration


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the broker until :meth:`cut` (every open connection
    closed, new ones refused); :meth:`restore` listens on the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            listener.close()
        with self._lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass


def get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    host_port = AMQP_ROOT.rsplit("@", 1)[-1]
    host, _, port = host_port.partition(":")
    p = TcpProxy((host, int(port or 5672)))
    try:
        yield p
    finally:
        p.cut()


def _event(event_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0", "id": event_id, "source": "/test", "type": "case.received",
        "data": {"org": "gumi", "case": {"id": f"H-{event_id}", "title": "t", "department": "d",
                                         "officer": {"name": "김담당", "phone": "054-480-0000"}},
                 "citizen": {"name": "홍길동", "phone": "010-7777-0001", "channels": ["sms"]}},
    }


def _running(config: Any) -> tuple[Hub, HealthServer]:
    hub = Hub(config)
    server = serve(hub, 0, "127.0.0.1")
    hub.start(wait=30)
    return hub, server


def test_readyz_follows_the_broker_going_away_and_coming_back(
    vhost: VHost, proxy: TcpProxy, tmp_path: Path
) -> None:
    # Given a hub that reaches its broker through the proxy, ready
    url = vhost.url.replace(AMQP_ROOT.rsplit("@", 1)[-1], f"127.0.0.1:{proxy.port}")
    config = make_config(tmp_path, url, broker={"heartbeat": 5, "connect_timeout": 2})
    hub, server = _running(config)
    try:
        wait_for(lambda: get(server.port, "/readyz")[0] == 200, timeout=30,
                 message="/readyz 200 after start")
        status, body = get(server.port, "/healthz")
        assert (status, body["status"]) == (200, "ok")
        # When the broker becomes unreachable for this hub
        cut_at = time.monotonic()
        proxy.cut()
        # Then /readyz fails within 10 s, naming the broker, while /healthz stays 200
        wait_for(lambda: get(server.port, "/readyz")[0] == 503, timeout=10,
                 message="/readyz 503 after the broker went away")
        took = time.monotonic() - cut_at
        status, body = get(server.port, "/readyz")
        assert status == 503 and body["status"] == "fail"
        assert "broker not connected" in body["reason"] or "not consuming" in body["reason"]
        assert get(server.port, "/healthz")[0] == 200
        # And when the broker is back, /readyz is 200 again
        proxy.restore()
        wait_for(lambda: get(server.port, "/readyz")[0] == 200, timeout=60,
                 message="/readyz 200 after the broker came back")
        print(f"/readyz went 503 {took:.1f}s after the cut")
    finally:
        hub.stop()
        server.stop()


def test_readyz_fails_while_a_worker_is_stalled_with_messages_waiting(
    vhost: VHost, tmp_path: Path
) -> None:
    # Given a hub whose SMS provider takes 8 s per send, and /readyz that calls a
    # loop stalled after 2 s without an ack while deliveries wait
    config = make_config(
        tmp_path, vhost.url,
        channels={"sms": {"providers": ["latency"]}, "email": {"providers": ["outbox"]},
                  "push": {"providers": ["outbox"]}},
        providers={"latency": {"latency_ms": 8000, "record": str(tmp_path / "rec")}},
        health={"stall_after": 2},
        worker={"concurrency": 1, "shutdown_timeout": 20},
    )
    hub, server = _running(config)
    try:
        wait_for(lambda: get(server.port, "/readyz")[0] == 200, timeout=30,
                 message="/readyz 200 after start")
        # When an SMS notice is taken and its send hangs
        publish(vhost.url, [_event("stall-1")])
        # Then /readyz fails, naming the stalled worker and what waits
        wait_for(lambda: get(server.port, "/readyz")[0] == 503, timeout=15,
                 message="/readyz 503 while the SMS worker is stalled")
        status, body = get(server.port, "/readyz")
        assert status == 503
        assert "worker-sms: stalled (1 unsettled" in body["reason"], body
        assert body["components"]["worker-sms"]["unsettled"] == 1
        # And once the send ends and is acked, /readyz is 200 again
        wait_for(lambda: get(server.port, "/readyz")[0] == 200, timeout=30,
                 message="/readyz 200 after the send ended")
    finally:
        hub.stop()
        server.stop()


def test_readyz_fails_when_the_ledger_does_not_answer(vhost: VHost, tmp_path: Path) -> None:
    # Given a running hub whose ledger is then closed (its writer stops)
    config = make_config(tmp_path, vhost.url)
    hub, server = _running(config)
    try:
        wait_for(lambda: get(server.port, "/readyz")[0] == 200, timeout=30,
                 message="/readyz 200 after start")
        hub.ledger.close()
        # Then /readyz fails naming the ledger
        status, body = get(server.port, "/readyz")
        assert status == 503 and body["reason"].startswith("ledger: ")
        assert body["components"]["ledger"] == {"ok": False}
    finally:
        hub.stop()
        server.stop()
