"""Group commit: one writer thread turns many callers' ledger writes into few
transactions.

Send threads call :meth:`GroupCommitWriter.submit` and block on the returned future.
The writer takes the first waiting operation, gathers whatever else arrives within
``linger`` seconds (up to ``batch_size`` operations), applies them all in **one
transaction**, commits, and only then resolves every future: a caller returns once its
write is durable, and a thousand callers cost a handful of commits instead of a
thousand. If a batch fails, each of its operations is retried alone so that one bad
operation fails only its own caller.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from hub.metrics import LEDGER_BATCH_SIZE, LEDGER_FLUSH

log = logging.getLogger(__name__)


@dataclass
class Op:
    """One write: ``kind`` says how the batch applier treats ``args``."""

    kind: str
    args: tuple[Any, ...]
    future: Future[Any] = field(default_factory=Future)


#: Applies a batch inside an open transaction; returns one result per operation.
BatchApplier = Callable[[Connection, Sequence[Op]], list[Any]]

_STOP = object()


class WriterClosed(RuntimeError):
    """The ledger was closed: no more writes."""


class GroupCommitWriter:
    def __init__(
        self,
        engine: Engine,
        apply: BatchApplier,
        *,
        batch_size: int = 500,
        linger: float = 0.002,
        name: str = "ledger-writer",
    ) -> None:
        self.engine = engine
        self.apply = apply
        self.batch_size = batch_size
        self.linger = linger
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Open and its thread running."""
        return not self._closed and self._thread.is_alive()

    def submit(self, kind: str, *args: Any) -> Future[Any]:
        op = Op(kind, args)
        with self._lock:
            if self._closed:
                raise WriterClosed("the ledger is closed")
            self._queue.put(op)
        return op.future

    def call(self, kind: str, *args: Any, timeout: float | None = None) -> Any:
        """Submit and wait for the durable result."""
        return self.submit(kind, *args).result(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)

    # -- the writer thread ------------------------------------------------------
    def _gather(self, first: Op) -> tuple[list[Op], bool]:
        batch = [first]
        deadline = time.monotonic() + self.linger
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else \
                    self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is _STOP:
                break
            batch, stop = self._gather(item)
            self._flush(batch)
        # Drain anything submitted before close() won the lock.
        leftovers: list[Op] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                leftovers.append(item)
        if leftovers:
            self._flush(leftovers)

    def _flush(self, batch: list[Op]) -> None:
        started = time.perf_counter()
        try:
            with self.engine.connect() as conn, conn.begin():
                results = self.apply(conn, batch)
        except Exception as exc:
            if len(batch) == 1:
                log.warning("ledger write %s failed: %s", batch[0].kind, exc)
                batch[0].future.set_exception(exc)
                return
            log.warning("ledger batch of %d failed; retrying one by one", len(batch),
                        exc_info=True)
            for op in batch:
                self._flush([op])
            return
        LEDGER_FLUSH.labels("batch").observe(time.perf_counter() - started)
        LEDGER_BATCH_SIZE.observe(len(batch))
        for op, result in zip(batch, results, strict=True):
            op.future.set_result(result)
