"""A private RabbitMQ node for scenarios that restart the broker: its own node name,
AMQP and distribution ports, data, log and home folders under a temporary folder (the
shared broker on 5672 is never touched). Started with the installed
``rabbitmq-server``; plugins off; guest may connect from localhost. Removed on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from bench.procs import free_port
from bench.rabbitmq import PRIVATE_MARK

BIN = Path(os.environ.get("BENCH_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


class PrivateBroker:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.node = f"bench-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        dist = free_port()
        (home / "enabled_plugins").write_text("[].\n")
        (home / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "disk_free_limit.absolute = 50MB\n"
            "log.console = false\nlog.file.level = warning\n")
        (home / "rabbitmq-env.conf").write_text("")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")},
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(dist),
            "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(home / "log"),
            "RABBITMQ_PID_FILE": str(home / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(home / "advanced.config"),
        }
        self.server: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def ctl(self, *args: str, timeout: float = 120.0) -> str:
        done = subprocess.run([str(BIN / "rabbitmqctl"), "-n", self.node, *args],
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} ({self.node}): "
                               f"{(done.stderr or done.stdout).strip()[-500:]}")
        return done.stdout

    def start(self, timeout: float = 180.0) -> None:
        log = (self.home / "server.out").open("ab")
        self.server = subprocess.Popen([str(BIN / "rabbitmq-server")], env=self.env,
                                       stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, cwd=self.home)
        deadline = time.monotonic() + timeout
        while not self.accepting():
            if self.server.poll() is not None:
                tail = (self.home / "server.out").read_text("utf-8", "replace")[-1500:]
                raise RuntimeError(f"private RabbitMQ node did not start:\n{tail}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"private RabbitMQ node not up after {timeout:.0f}s")
            time.sleep(0.2)
        self.ctl("await_startup", timeout=timeout)

    def accepting(self) -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.server is None:
            return
        with contextlib.suppress(Exception):
            self.ctl("stop", timeout=60)
        try:
            self.server.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait(10)
        self.server = None


@contextlib.contextmanager
def private_broker() -> Iterator[PrivateBroker]:
    home = Path(tempfile.mkdtemp(prefix=PRIVATE_MARK.decode() + "-"))
    node = PrivateBroker(home)
    try:
        node.start()
        yield node
    finally:
        node.stop()
        shutil.rmtree(home, ignore_errors=True)
