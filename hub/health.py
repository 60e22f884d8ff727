"""Health on the metrics port: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

* ``/healthz`` — liveness: the process's supervising loop is alive (``Hub`` started
  and every component thread is running). A restart is the cure when it fails.
* ``/readyz`` — readiness: every consuming loop is connected to the broker and
  consuming; where deliveries are waiting unsettled, an ack or reject was sent within
  ``[health] stall_after`` seconds (a stalled worker is not ready); and the ledger
  answers a ping within ``[health] ledger_timeout`` seconds.

Both answer 200 with ``{"status": "ok", ...}`` or 503 with ``{"status": "fail",
"reason": "..."}`` (a short reason naming the component). The answer is computed on
request from :meth:`hub.consumer.ConsumingLoop.health` and
:meth:`hub.ledger.Ledger.ping`; the ping runs in its own thread so a hung database
cannot hang the probe.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from hub.consumer import LoopHealth

log = logging.getLogger(__name__)


class Component(Protocol):
    """What health reads of a supervised consuming loop (:class:`hub.app.Supervised`)."""

    name: str

    def alive(self) -> bool: ...

    def loop_health(self) -> LoopHealth | None: ...


class HubLike(Protocol):
    def health_components(self) -> Iterable[Component]: ...

    def ping_ledger(self) -> None: ...


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    detail: dict[str, Any] | None = None

    def body(self) -> bytes:
        doc: dict[str, Any] = {"status": "ok" if self.ok else "fail"}
        if self.reason:
            doc["reason"] = self.reason
        if self.detail:
            doc["components"] = self.detail
        return json.dumps(doc, ensure_ascii=False).encode()


class HealthCheck:
    """Computes ``/healthz`` and ``/readyz`` for one hub process."""

    def __init__(self, hub: HubLike, *, stall_after: float = 60.0,
                 ledger_timeout: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hub = hub
        self.stall_after = stall_after
        self.ledger_timeout = ledger_timeout
        self.clock = clock
        self._ping_lock = threading.Lock()
        self._ping: threading.Thread | None = None
        self._ping_error: str | None = None
        self._ping_done = threading.Event()

    def live(self) -> Verdict:
        components = list(self.hub.health_components())
        if not components:
            return Verdict(True, "starting")
        dead = [c.name for c in components if not c.alive()]
        if dead:
            return Verdict(False, f"{', '.join(dead)}: thread stopped")
        return Verdict(True)

    def ready(self) -> Verdict:
        live = self.live()
        if not live.ok:
            return live
        if live.reason == "starting":
            return Verdict(False, "starting")
        now = self.clock()
        detail: dict[str, Any] = {}
        reasons: list[str] = []
        for component in self.hub.health_components():
            health = component.loop_health()
            if health is None:
                reasons.append(f"{component.name}: not connected")
                detail[component.name] = {"connected": False}
                continue
            idle = round(max(0.0, now - health.last_ack), 1)
            detail[component.name] = {"connected": health.connected,
                                      "consuming": health.consuming,
                                      "unsettled": health.unsettled,
                                      "since_last_ack": idle}
            if not health.connected:
                reasons.append(f"{component.name}: broker not connected")
            elif not health.consuming:
                reasons.append(f"{component.name}: not consuming")
            elif health.unsettled and idle > self.stall_after:
                reasons.append(f"{component.name}: stalled ({health.unsettled} unsettled, "
                               f"no ack for {idle:.0f}s)")
        ledger = self._ping_ledger()
        detail["ledger"] = {"ok": ledger is None}
        if ledger is not None:
            reasons.append(f"ledger: {ledger}")
        if reasons:
            return Verdict(False, "; ".join(reasons), detail)
        return Verdict(True, "", detail)

    def _ping_ledger(self) -> str | None:
        """None when the ledger answered within the timeout, else the reason. At most
        one ping runs at a time: a hung one is not piled on."""
        with self._ping_lock:
            if self._ping is None or not self._ping.is_alive():
                self._ping_done.clear()
                self._ping = threading.Thread(target=self._run_ping, name="ledger-ping",
                                              daemon=True)
                self._ping.start()
            running = self._ping
        if not self._ping_done.wait(self.ledger_timeout) or running.is_alive():
            return f"no answer within {self.ledger_timeout:g}s"
        return self._ping_error

    def _run_ping(self) -> None:
        try:
            self.hub.ping_ledger()
            self._ping_error = None
        except Exception as exc:
            from hub.failures import mask_urls

            self._ping_error = mask_urls(f"{type(exc).__name__}: {exc}".splitlines()[0])[:200]
        finally:
            self._ping_done.set()


def _handler(check: HealthCheck) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                try:
                    verdict = check.live() if path == "/healthz" else check.ready()
                except Exception as exc:  # a probe must answer, never hang or crash
                    log.exception("health check failed")
                    verdict = Verdict(False, f"health check error: {type(exc).__name__}")
                self._send(200 if verdict.ok else 503, verdict.body(), "application/json")
            else:
                self._send(404, b'{"status": "not found"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes every few seconds are not worth a log line."""

    return Handler


class HealthServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` from a daemon thread."""

    def __init__(self, check: HealthCheck, port: int, addr: str = "0.0.0.0") -> None:
        self.check = check
        self.server = ThreadingHTTPServer((addr, port), _handler(check))
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="health",
                                       daemon=True)

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(hub: Any, port: int, addr: str = "0.0.0.0") -> HealthServer:
    """Serve the hub's health and metrics on ``addr:port`` (``[health]`` settings)."""
    config = hub.config
    check = HealthCheck(hub, stall_after=float(config["health"]["stall_after"]),
                        ledger_timeout=float(config["health"]["ledger_timeout"]))
    return HealthServer(check, port, addr).start()
