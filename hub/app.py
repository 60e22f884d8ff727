"""Assembling the hub from its configuration: the router, the channel workers, and the
threads that run them. ``minwon-hub run``, ``router``, ``worker`` and ``demo`` all go
through :class:`Hub`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from channels import get_channel, load_provider
from channels.base import LookupResult
from hub.config import DEFAULT_AMQP_URL, Config
from hub.consumer import ConsumingLoop, LoopHealth, Stage
from hub.delay import InProcessDelayPump
from hub.ledger import Ledger, ledger_from_config
from hub.ledger.sweeper import LOOKUP_SKEW
from hub.retry import RetryPolicy
from hub.router import Router
from hub.rules import load_rules
from hub.templates import TemplateStore
from hub.topology import Topology, from_config
from hub.transport import connect, profile_for, safe_url
from hub.worker import ChannelWorker, Sender

log = logging.getLogger(__name__)


def build_sender(channel: str, config: Config) -> Sender:
    """The channel's provider chain (failover + circuit breakers) from configuration."""
    try:
        from channels.chain import build_chain
    except ImportError:  # pragma: no cover - until the chain lands
        names = config["channels"][channel]["providers"]
        return load_provider(channel, names[0], config.get("providers", names[0], default={}))
    return build_chain(channel, config)


class Supervised:
    """Runs one stage's consuming loop in a thread; reconnects after a broker failure."""

    def __init__(self, hub: Hub, stage: Stage, name: str) -> None:
        self.hub = hub
        self.stage = stage
        self.name = name
        self.loop: ConsumingLoop | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.restarts = 0

    def start(self) -> None:
        self.thread.start()

    def wait_ready(self, timeout: float = 15.0) -> bool:
        return self._ready.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self.loop is not None:
            self.loop.request_stop()

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    # -- health (hub.health) ----------------------------------------------------------------
    def alive(self) -> bool:
        return self.thread.is_alive()

    def loop_health(self) -> LoopHealth | None:
        """The current loop's health; None before the first connection."""
        loop = self.loop
        return loop.health() if loop is not None else None

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with self.hub.connect() as conn:
                    self.loop = ConsumingLoop(
                        conn, self.hub.profile, self.stage,
                        prefetch=self.hub.prefetch,
                        declare=self.hub.topology.declare,
                        shutdown_timeout=self.hub.shutdown_timeout,
                    )
                    if self._stop.is_set():
                        return
                    threading.Thread(target=self._mark_ready, daemon=True).start()
                    self.loop.run()
                    backoff = 0.5
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.restarts += 1
                log.warning("%s lost its broker connection (%s); reconnecting in %.1fs",
                            self.name, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _mark_ready(self) -> None:
        loop = self.loop
        if loop is not None and loop.wait_ready(30):
            self._ready.set()


class Hub:
    def __init__(self, config: Config, *, url: str | None = None,
                 ledger: Ledger | None = None, clock: Callable[[], Any] | None = None) -> None:
        self.config = config
        self.url = url or config.broker_url or DEFAULT_AMQP_URL
        self.profile = profile_for(self.url)
        self.topology: Topology = from_config(config, quorum_queues=self.profile.quorum)
        self.prefetch = int(config["broker"]["prefetch"])
        self.shutdown_timeout = float(config["worker"]["shutdown_timeout"])
        self.clock = clock
        self._ledger = ledger
        self._store: TemplateStore | None = None
        self._policy: Any = None
        self.components: list[Supervised] = []
        self._pump: InProcessDelayPump | None = None
        self._senders: dict[str, Sender] = {}
        self._sweeper: Any = None

    # -- parts ------------------------------------------------------------------------------
    def connect(self) -> Any:
        return connect(self.url, heartbeat=float(self.config["broker"]["heartbeat"]),
                       connect_timeout=float(self.config["broker"]["connect_timeout"]))

    def declare(self) -> None:
        with self.connect() as conn:
            self.topology.declare(conn.channel())

    @property
    def channels(self) -> tuple[str, ...]:
        return self.topology.channels

    def address_fields(self) -> dict[str, str]:
        return {c: get_channel(c).address_field for c in self.channels}

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = ledger_from_config(self.config)
        return self._ledger

    @property
    def store(self) -> TemplateStore:
        if self._store is None:
            self._store = TemplateStore.from_config(self.config, ledger=self.ledger)
        return self._store

    @property
    def policy(self) -> Any:
        if self._policy is None:
            try:
                from hub.policy import Policy
            except ImportError:  # pragma: no cover - until the policy lands
                return None
            from hub.optouts import OptOuts

            self._policy = Policy(self.config, optouts=OptOuts.for_ledger(self.ledger))
        return self._policy

    def router(self) -> Router:
        section = self.config["router"]
        return Router(load_rules(section.get("rules") or None), self.address_fields(),
                      max_event_bytes=int(section["max_event_bytes"]), sink=self.ledger)

    def worker(self, channel: str) -> ChannelWorker:
        sender = build_sender(channel, self.config)
        self._senders[channel] = sender
        return ChannelWorker(
            channel,
            address_field=get_channel(channel).address_field,
            sender=sender,
            store=self.store,
            ledger=self.ledger,
            retry=RetryPolicy.from_config(self.config, self.topology),
            topology=self.topology,
            orgs=self.config.org,
            policy=self.policy,
            concurrency=min(int(self.config["worker"]["concurrency"]), self.prefetch),
            clock=self.clock,
        )

    # -- health (hub.health) ----------------------------------------------------------------
    def health_components(self) -> list[Supervised]:
        return list(self.components)

    def ping_ledger(self) -> None:
        self.ledger.ping()

    # -- running ----------------------------------------------------------------------------
    def start(self, *, router: bool = True, channels: Iterable[str] | None = None,
              wait: float = 15.0) -> None:
        """Start the router and the channel workers in threads; return once consuming."""
        log.info("hub starting on %s", safe_url(self.url))
        self.declare()
        if not self.profile.broker_delays:
            self._pump = InProcessDelayPump(self.url, self.topology)
            self._pump.start()
        if router:
            self.components.append(Supervised(self, self.router(), "router"))
        for channel in self.channels if channels is None else channels:
            self.components.append(Supervised(self, self.worker(channel), f"worker-{channel}"))
        for component in self.components:
            component.start()
        for component in self.components:
            if not component.wait_ready(wait):
                raise RuntimeError(f"{component.name} did not start within {wait}s")
        if self._senders:
            self._start_sweeper()

    def _start_sweeper(self) -> None:
        from hub.ledger import DEFAULT_SWEEP_AFTER
        from hub.ledger.sweeper import Sweeper

        after = float(self.config.get("ledger", "sweep_after", default=DEFAULT_SWEEP_AFTER))
        self._sweeper = Sweeper(self.ledger, after, lookup=self._lookup,
                                channels=tuple(self._senders))
        self._sweeper.start(interval=max(0.5, after / 4))

    def _lookup(self, notice: Any) -> LookupResult | None:
        """What the notice's provider chain knows of it (sweeper); None: cannot tell."""
        sender = self._senders.get(notice.channel)
        if sender is None or not sender.supports_lookup:
            return None
        return sender.lookup(notice.id, (notice.claimed_at or notice.created_at) - LOOKUP_SKEW)

    def stop(self) -> None:
        """Graceful stop: finish what is in flight, return the rest to the queues."""
        for component in self.components:
            component.stop()
        for component in self.components:
            component.join(self.shutdown_timeout + 5)
        self.components.clear()
        if self._sweeper is not None:
            self._sweeper.stop()
        if self._pump is not None:
            self._pump.stop()
        for sender in self._senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                close()
        if self._store is not None:
            self._store.close()
        if self._ledger is not None:
            self._ledger.close()

    def run_forever(self, stop_event: threading.Event, **kwargs: Any) -> None:
        self.start(**kwargs)
        try:
            while not stop_event.wait(1.0):
                for c in self.components:
                    if not c.thread.is_alive():
                        raise RuntimeError(f"{c.name} died")
        finally:
            self.stop()
