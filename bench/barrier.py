"""A start barrier for worker processes the benchmark starts (Celery, dramatiq):
each process, once imported and set up, writes ``<folder>/ready.<pid>`` and waits for
``<folder>/go``; the benchmark writes ``go`` when every process is ready, so no worker
starts on the backlog while another is still importing.

In a worker: ``wait_at_barrier()`` (does nothing unless ``BENCH_BARRIER`` names a
folder). In the benchmark: :func:`release_when_ready` once :func:`count_ready` is the number of
processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

ENV = "BENCH_BARRIER"


def wait_at_barrier(timeout: float = 300.0) -> None:
    folder = os.environ.get(ENV)
    if not folder:
        return
    path = Path(folder)
    (path / f"ready.{os.getpid()}").touch()
    go = path / "go"
    deadline = time.monotonic() + timeout
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)


def count_ready(folder: Path) -> int:
    return len(list(folder.glob("ready.*")))


def release_when_ready(folder: Path, processes: int, *, timeout: float = 120.0,
                       before: Callable[[], None] | None = None,
                       check: Callable[[], None] | None = None) -> None:
    """Wait until ``processes`` are ready (``check`` each round: raise to abort), call
    ``before``, then let them all go."""
    deadline = time.monotonic() + timeout
    while count_ready(folder) < processes:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {count_ready(folder)} of {processes} workers "
                               f"reached the start barrier in {timeout:.0f}s")
        if check is not None:
            check()
        time.sleep(0.02)
    if before is not None:
        before()
    (folder / "go").touch()
