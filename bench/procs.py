"""Hub components as separate processes, as production runs them, and what the benchmark
reads about processes from ``/proc``: CPU seconds, resident memory, load.

A :class:`HubProcesses` runs ``minwon-hub router`` and one ``minwon-hub worker
--channel <c>`` per channel, each its own Python process (so the router and the
workers spread over the cores), all reading one ``minwon.toml`` (``MINWON_CONFIG``)
and each serving metrics on its own port.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (its threads included); 0 when gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MiB from /proc/<pid>/status (VmRSS, VmHWM)."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


def loadavg() -> tuple[float, float, float]:
    with open("/proc/loadavg") as fh:
        a, b, c = fh.read().split()[:3]
    return float(a), float(b), float(c)


def total_cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as fh:
        parts = [int(x) for x in fh.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return float(sum(parts) - idle), float(sum(parts))


def machine_info() -> dict[str, object]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": loadavg(),
    }


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    cpu_mark: float = 0.0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class HubProcesses:
    """Router and channel workers of one run, each a ``minwon-hub`` process."""

    config: Path
    workdir: Path
    channels: Sequence[str]
    router: bool = True
    env: Mapping[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    def command(self, role: str) -> list[str]:
        base = [sys.executable, "-m", "hub.cli"]
        if role == "router":
            return [*base, "router"]
        return [*base, "worker", "--channel", role]

    def spawn(self, role: str) -> Proc:
        from bench.workload import SECRET_ENV

        env = dict(os.environ)
        env.update(SECRET_ENV)
        env.update(self.env)
        env["MINWON_CONFIG"] = str(self.config)
        env["MINWON__METRICS__PORT"] = str(free_port())
        env.setdefault("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
        log = self.workdir / f"{role}.log"
        name = "router" if role == "router" else f"worker-{role}"
        with log.open("ab") as out:
            popen = subprocess.Popen(self.command(role), cwd=self.workdir, env=env,
                                     stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        if self.router:
            self.spawn("router")
        for channel in self.channels:
            self.spawn(channel)

    def by_name(self, name: str) -> Proc:
        for proc in self.procs:
            if proc.name == name and proc.alive():
                return proc
        raise KeyError(name)

    def check_alive(self) -> None:
        for proc in self.procs:
            if not proc.alive():
                tail = proc.log.read_text("utf-8", "replace")[-2000:]
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{tail}")

    def profile(self, out: Path, seconds: float, rate: int = 250) -> list[subprocess.Popen[bytes]]:
        """Attach ``py-spy record`` (collapsed stacks, on-CPU samples) to every process
        for ``seconds``; the profiles land in ``out/<name>.txt``."""
        out.mkdir(parents=True, exist_ok=True)
        spy = Path(sys.executable).with_name("py-spy")
        gil = ["--gil"] if os.environ.get("BENCH_PYSPY_GIL") else []  # on-GIL samples only
        return [
            subprocess.Popen([str(spy), "record", "--pid", str(p.pid), "--duration",
                              str(int(seconds)), "--rate", str(rate), "--format", "raw",
                              "--nonblocking", *gil, "-o", str(out / f"{p.name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for p in self.procs if p.alive()
        ]

    def mark_cpu(self) -> None:
        for proc in self.procs:
            proc.cpu_mark = cpu_seconds(proc.pid)

    def cpu_since_mark(self) -> dict[str, float]:
        return {p.name: round(cpu_seconds(p.pid) - p.cpu_mark, 2) for p in self.procs
                if p.alive()}

    def stop(self, timeout: float = 20.0) -> None:
        for proc in self.procs:
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.popen.wait(remaining)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.kill()
                proc.popen.wait(5)
        self.procs = [p for p in self.procs if p.alive()]

    def __enter__(self) -> HubProcesses:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def started_at(pid: int) -> float | None:
    """Wall-clock time ``pid`` started (from its start tick and the boot time)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith("btime"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return boot + ticks / CLK_TCK


def cmdline(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().split(b"\0")
    except OSError:
        return []


def pids_matching(predicate: Callable[[list[bytes]], bool]) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and predicate(cmdline(int(entry))):
            out.append(int(entry))
    return out


def postgres_pids(database: str) -> list[int]:
    """PostgreSQL's processes that work for ``database``: its backends
    (``postgres: [cluster:] user database host``) and the shared writers (WAL writer,
    checkpointer, background writer), whose work the run's commits cause."""
    db = database.encode()
    shared = (b"walwriter", b"checkpointer", b"background writer")

    def ours(argv: list[bytes]) -> bool:
        head = argv[0] if argv else b""
        if not head.startswith(b"postgres:"):
            return False
        words = head.split()
        # "postgres: [cluster:] user database host(port) state"
        return db in words[1:5] or any(s in head for s in shared)

    return pids_matching(ours)


class CpuMeter:
    """CPU seconds of named groups of processes between :meth:`mark` and
    :meth:`read`; a group is re-scanned at read time (PostgreSQL starts a backend per
    connection), a process seen only at read time counts from zero."""

    def __init__(self, groups: Mapping[str, Callable[[], Sequence[int]]]) -> None:
        self.groups = dict(groups)
        self._marks: dict[str, dict[int, float]] = {}
        self._busy0 = (0.0, 0.0)
        self._wall0 = 0.0

    def mark(self) -> None:
        self._marks = {name: {pid: cpu_seconds(pid) for pid in find()}
                       for name, find in self.groups.items()}
        self._busy0 = total_cpu_busy()
        self._wall0 = time.monotonic()

    def mark_group(self, name: str) -> None:
        self._marks[name] = {pid: cpu_seconds(pid) for pid in self.groups[name]()}

    def read(self) -> dict[str, Any]:
        cpu: dict[str, float] = {}
        for name, find in self.groups.items():
            marks = self._marks.get(name, {})
            pids = set(find()) | set(marks)
            cpu[name] = round(sum(max(0.0, cpu_seconds(p) - marks.get(p, 0.0))
                                  for p in pids if os.path.exists(f"/proc/{p}")), 3)
        busy1, total1 = total_cpu_busy()
        busy = busy1 - self._busy0[0]
        total = max(total1 - self._busy0[1], 1.0)
        return {
            "cpu_seconds": cpu,
            "machine_busy": round(busy / total, 3),
            # CPU the machine spent on anything but the measured processes
            "other_cpu_seconds": round(max(0.0, busy / CLK_TCK - sum(cpu.values())), 2),
            "wall_seconds": round(time.monotonic() - self._wall0, 2),
        }
