"""A three-node RabbitMQ cluster on this machine, started and stopped by the harness.

Each node is a RabbitMQ server of its own (node name, data directory, logs, ports),
never the shared broker at 127.0.0.1:5672. Two layouts, chosen at start:

``netns`` (the default where ``ip netns`` works, i.e. as root): every node lives in a
network namespace of its own, wired to a bridge on the host (``10.77.0.<i>``), and
listens on the standard ports there. The hub and the publisher run on the host and
reach the nodes over the bridge, exactly as they would reach three machines; cutting a
node's link (:meth:`Cluster.partition`) is a real network partition for its peers and
its clients alike.

``loopback`` (fallback): the nodes share the host's loopback on ports 5701.. (AMQP) and
25701.. (distribution); every fault but the partition is available.

Nodes are clustered with ``rabbitmqctl join_cluster``; the hub's definitions
(``deploy/rabbitmq/definitions.json``: vhost ``minwon``, users, quorum queues) are
imported once the three have joined, so every quorum queue has a member on each node.
``cluster_partition_handling = pause_minority`` as in ``deploy/rabbitmq/cluster``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RABBIT_BIN = Path(os.environ.get("MINWON_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
DEFINITIONS = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "definitions.json"
USER, PASSWORD, VHOST = "minwon", "minwon", "minwon"
BRIDGE = "mwbr0"
SUBNET = "10.77.0"
PREFIX = "mw-c"  # network namespaces mw-c1.., host-side links mwv1..
COOKIE = "MINWONCLUSTERHARNESSCOOKIE"


class ClusterError(RuntimeError):
    pass


def _run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 120,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise ClusterError(f"{' '.join(cmd)} failed ({out.returncode}): "
                           f"{(out.stderr or out.stdout).strip()[-800:]}")
    return out


def netns_available() -> bool:
    """Whether this process may make network namespaces (root, iproute2 present)."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        return False
    probe = f"{PREFIX}probe"
    made = _run(["ip", "netns", "add", probe], check=False).returncode == 0
    if made:
        _run(["ip", "netns", "del", probe], check=False)
    return made


@dataclass
class Node:
    index: int
    root: Path
    layout: str  # "netns" | "loopback"

    @property
    def name(self) -> str:
        return f"mc{self.index}"

    @property
    def ns(self) -> str | None:
        return f"{PREFIX}{self.index}" if self.layout == "netns" else None

    @property
    def host(self) -> str:
        return f"{SUBNET}.{self.index}" if self.layout == "netns" else "127.0.0.1"

    @property
    def amqp_port(self) -> int:
        return 5672 if self.layout == "netns" else 5700 + self.index

    @property
    def dist_port(self) -> int:
        return 25672 if self.layout == "netns" else 25700 + self.index

    @property
    def erlang_name(self) -> str:
        return f"{self.name}@{self.host if self.layout == 'netns' else 'localhost'}"

    @property
    def dir(self) -> Path:
        return self.root / self.name

    def url(self, user: str = USER, password: str = PASSWORD, vhost: str = VHOST) -> str:
        return f"amqp://{user}:{password}@{self.host}:{self.amqp_port}/{vhost}"

    # -- processes -----------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": str(self.root / "home"),  # the shared Erlang cookie lives here
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.erlang_name,
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
        })
        if self.layout == "netns":
            env["RABBITMQ_USE_LONGNAME"] = "true"
        else:
            env["ERL_EPMD_ADDRESS"] = "127.0.0.1"
        return env

    def wrap(self, cmd: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *cmd] if self.ns else cmd

    def ctl(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        cmd = [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.erlang_name]
        if self.layout == "netns":
            cmd.insert(1, "-l")
        return _run(self.wrap([*cmd, *args]), env=self.env(), timeout=timeout,
                    check=check).stdout

    def write_files(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "rabbitmq-env.conf").write_text("", "utf-8")
        (self.dir / "enabled_plugins").write_text("[].\n", "utf-8")
        listen = f"{self.host}:{self.amqp_port}"
        (self.dir / "rabbitmq.conf").write_text("\n".join([
            f"listeners.tcp.1 = {listen}",
            "loopback_users = none",
            "cluster_partition_handling = pause_minority",
            "net_ticktime = 10",  # a cut link is noticed in ~10 s (the default is 60)
            "heartbeat = 10",
            "vm_memory_high_watermark.relative = 0.2",
            "disk_free_limit.absolute = 50MB",
            "log.file.level = info",
            "",
        ]), "utf-8")

    def start(self) -> None:
        _run(self.wrap([str(RABBIT_BIN / "rabbitmq-server"), "-detached"]), env=self.env(),
             timeout=60)

    def await_startup(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            out = _run(self.wrap([str(RABBIT_BIN / "rabbitmqctl"), *self._flags(),
                                  "await_startup", "--timeout", "20"]),
                       env=self.env(), timeout=40, check=False)
            if out.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"{self.erlang_name} did not start: "
                                   f"{(out.stderr or out.stdout).strip()[-400:]}\n"
                                   f"log: {self.dir / 'log'}")
            time.sleep(1)

    def _flags(self) -> list[str]:
        return ["-l", "-n", self.erlang_name] if self.layout == "netns" \
            else ["-n", self.erlang_name]

    def pid(self) -> int | None:
        try:
            return int((self.dir / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        """``kill -9`` of the node's Erlang VM: no goodbye to peers or clients."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 20
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.1)

    def stop(self) -> None:
        if self.alive():
            self.ctl("stop", timeout=60, check=False)
        self.kill()


class Cluster:
    """Three (``size``) clustered RabbitMQ nodes under ``root``."""

    def __init__(self, root: Path, size: int = 3, layout: str | None = None) -> None:
        self.root = root
        self.layout = layout or ("netns" if netns_available() else "loopback")
        self.nodes = [Node(i, root, self.layout) for i in range(1, size + 1)]
        self._links_down: set[int] = set()

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        cleanup_stale()
        home = self.root / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(COOKIE, "utf-8")
        cookie.chmod(0o400)
        if self.layout == "netns":
            self._wire()
        for node in self.nodes:
            node.write_files()
            node.start()
        for node in self.nodes:
            node.await_startup()
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("reset")
            node.ctl("join_cluster", first.erlang_name)
            node.ctl("start_app")
        running = self.running_nodes()
        if len(running) != len(self.nodes):
            raise ClusterError(f"cluster formed with {running} only")
        first.ctl("import_definitions", str(DEFINITIONS))
        first.ctl("change_password", USER, PASSWORD)  # the definitions' hash may differ
        self.await_members()

    def close(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop()
        if self.layout == "netns":
            unwire()

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what clients use -------------------------------------------------------------------
    def urls(self, **kwargs: str) -> list[str]:
        return [node.url(**kwargs) for node in self.nodes]

    def url(self, **kwargs: str) -> str:
        """The failover list as one URL string (kombu's ``;`` notation)."""
        return ";".join(self.urls(**kwargs))

    def any_running(self) -> Node:
        for node in self.nodes:
            if node.alive() and node.index not in self._links_down:
                return node
        raise ClusterError("no node is running")

    # -- state ------------------------------------------------------------------------------
    def running_nodes(self) -> list[str]:
        out = self.any_running().ctl("cluster_status", "--formatter", "json")
        return sorted(json.loads(out).get("running_nodes", []))

    def queue_leaders(self, vhost: str = VHOST) -> dict[str, str]:
        out = self.any_running().ctl("list_queues", "-p", vhost, "name", "leader",
                                     "--formatter", "json")
        return {q["name"]: q.get("leader", "") for q in json.loads(out)}

    def queue_members(self, vhost: str = VHOST) -> dict[str, list[str]]:
        out = self.any_running().ctl("list_queues", "-p", vhost, "name", "members",
                                     "--formatter", "json")
        return {q["name"]: sorted(q.get("members") or []) for q in json.loads(out)}

    def await_members(self, timeout: float = 60) -> None:
        """Every quorum queue of the hub has a member on each node."""
        want = sorted(n.erlang_name for n in self.nodes)
        deadline = time.monotonic() + timeout
        while True:
            members = self.queue_members()
            short = {q: m for q, m in members.items() if m != want}
            if members and not short:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"quorum queues not on all nodes: {short}")
            time.sleep(1)

    def leader_node(self) -> Node:
        """The node that leads most of the hub's queues."""
        counts = Counter(self.queue_leaders().values())
        name = counts.most_common(1)[0][0]
        return next(n for n in self.nodes if n.erlang_name == name)

    # -- faults ----------------------------------------------------------------------------
    def stop_app(self, node: Node) -> None:
        node.ctl("stop_app", timeout=90)

    def start_app(self, node: Node) -> None:
        node.ctl("start_app", timeout=180)
        node.await_startup()

    def restart_killed(self, node: Node) -> None:
        node.start()
        node.await_startup()

    def partition(self, node: Node) -> None:
        """Cut ``node``'s link to the others and to every client."""
        if self.layout != "netns":
            raise ClusterError("a partition needs the netns layout (run as root)")
        _run(["ip", "link", "set", f"mwv{node.index}", "down"])
        self._links_down.add(node.index)

    def heal(self, node: Node) -> None:
        _run(["ip", "link", "set", f"mwv{node.index}", "up"])
        self._links_down.discard(node.index)

    def await_running(self, timeout: float = 180) -> None:
        """Every node running and clustered again (after a fault)."""
        want = sorted(n.erlang_name for n in self.nodes)
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(ClusterError, ValueError, subprocess.TimeoutExpired):
                if self.running_nodes() == want:
                    return
            if time.monotonic() > deadline:
                raise ClusterError(f"cluster not whole again after {timeout:.0f}s")
            time.sleep(1)

    # -- network --------------------------------------------------------------------------
    def _wire(self) -> None:
        _run(["ip", "link", "add", BRIDGE, "type", "bridge", "forward_delay", "0"])
        _run(["ip", "addr", "add", f"{SUBNET}.254/24", "dev", BRIDGE])
        _run(["ip", "link", "set", BRIDGE, "up"])
        for node in self.nodes:
            ns, link = node.ns or "", f"mwv{node.index}"
            _run(["ip", "netns", "add", ns])
            _run(["ip", "link", "add", link, "type", "veth", "peer", "name", "eth0",
                  "netns", ns])
            _run(["ip", "link", "set", link, "master", BRIDGE])
            _run(["ip", "link", "set", link, "up"])
            _run(["ip", "-n", ns, "addr", "add", f"{node.host}/24", "dev", "eth0"])
            _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])


def unwire() -> None:
    listed = _run(["ip", "netns", "list"], check=False).stdout.split("\n")
    for line in listed:
        name = line.split(" ")[0]
        if name.startswith(PREFIX):
            _kill_namespace_processes(name)
            _run(["ip", "netns", "del", name], check=False)
    _run(["ip", "link", "del", BRIDGE], check=False)


def _kill_namespace_processes(ns: str) -> None:
    pids = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def cleanup_stale() -> None:
    """What an interrupted earlier run left: its namespaces, bridge and nodes."""
    if shutil.which("ip") is not None and os.geteuid() == 0:
        unwire()
