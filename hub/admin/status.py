"""``minwon-hub status``: the hub at a glance, in a terminal.

Three parts, each from its own source, each allowed to fail alone:

* **queues**: every hub queue's ready and unacknowledged messages, consumers and
  rates (publish, deliver, ack per second) from RabbitMQ's management API; where the
  API does not answer, depth and consumers only, by AMQP passive declares (said so in
  the output). See :mod:`hub.admin.rabbit`.
* **deliveries**: per channel, the notices sent, failed (retrying or parked) and
  skipped in the last hour, from the ledger (:meth:`hub.ledger.Ledger.counts_since`:
  notices by their current status, last changed within the window).
* **parking lots**: how many notices are parked on ``hub.dead`` and events rejected on
  ``hub.rejected`` (their depths).

No recipient or other personal data is read or shown.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.admin.rabbit import BrokerUnavailable, QueueStats, hub_queue_names, inspect_queues
from hub.config import DEFAULT_AMQP_URL
from hub.failures import one_line
from hub.ledger import DEAD, FAILED, RETRYING, SENT, SKIPPED, Ledger, ledger_from_config
from hub.topology import DEAD_QUEUE, REJECTED_QUEUE

WINDOW = timedelta(hours=1)
#: Ledger statuses counted as "failed" (a provider refused or failed this notice).
FAILED_STATUSES = (RETRYING, FAILED, DEAD)


@dataclass(frozen=True)
class ChannelCounts:
    channel: str
    sent: int = 0
    failed: int = 0  # retrying + failed + parked
    parked: int = 0  # of which parked (dead)
    skipped: int = 0


@dataclass
class StatusReport:
    since: datetime
    queues: list[QueueStats] = field(default_factory=list)
    queue_source: str | None = None  # "management" | "amqp" | None (broker unreachable)
    broker_error: str | None = None
    channels: list[ChannelCounts] = field(default_factory=list)
    ledger_error: str | None = None

    def depth(self, name: str) -> int | None:
        for q in self.queues:
            if q.name == name and q.exists and q.messages_ready is not None:
                return q.messages_ready + (q.messages_unacked or 0)
        return None

    @property
    def parked(self) -> int | None:
        return self.depth(DEAD_QUEUE)

    @property
    def rejected(self) -> int | None:
        return self.depth(REJECTED_QUEUE)

    @property
    def ok(self) -> bool:
        return self.broker_error is None and self.ledger_error is None


def open_ledger_of(config: Any) -> Ledger:
    """The ledger the workers of ``config`` use. A SQLite file that does not exist is
    an error here (opening it would create an empty one: wrong configuration or working
    directory), not a new ledger."""
    url = str(config.get("ledger", "url", default="") or "")
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):].split("?", 1)[0]
        if path and path != ":memory:" and not Path(path).exists():
            raise FileNotFoundError(
                f"no ledger at {path}: run with the workers' configuration "
                "(MINWON_CONFIG, MINWON__LEDGER__URL)")
    return ledger_from_config(config)


def channel_counts(counts: dict[tuple[str, str], int], channels: list[str]) -> list[ChannelCounts]:
    """Per channel (configured ones first, in order, then any other the ledger knows)."""
    known = list(channels) + sorted({c for c, _ in counts} - set(channels))
    out = []
    for channel in known:
        def n(*statuses: str, _channel: str = channel) -> int:
            return sum(counts.get((_channel, s), 0) for s in statuses)

        out.append(ChannelCounts(channel, sent=n(SENT), failed=n(*FAILED_STATUSES),
                                 parked=n(DEAD), skipped=n(SKIPPED)))
    return out


def gather(config: Any, *, now: datetime | None = None, ledger: Ledger | None = None,
           timeout: float = 5.0) -> StatusReport:
    """Ask the broker and the ledger; a source that fails leaves its error in the report."""
    now = now or datetime.now(UTC)
    report = StatusReport(since=now - WINDOW)
    url = config.broker_url or DEFAULT_AMQP_URL
    management = str(config.get("broker", "management_url", default="") or "")
    try:
        report.queues = inspect_queues(url, hub_queue_names(config), management_url=management,
                                       timeout=timeout)
        report.queue_source = report.queues[0].source if report.queues else None
    except BrokerUnavailable as exc:
        report.broker_error = one_line(exc)
    owned = ledger is None
    try:
        if ledger is None:
            ledger = open_ledger_of(config)
        report.channels = channel_counts(ledger.counts_since(report.since),
                                         list(config["channels"].keys()))
    except Exception as exc:  # a status screen shows what it can
        report.ledger_error = f"{type(exc).__name__}: {one_line(exc)}"
    finally:
        if owned and ledger is not None:
            ledger.close()
    return report


# -- rendering -------------------------------------------------------------------------
def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_text(report: StatusReport) -> str:
    from hub.trace import table

    parts: list[str] = []
    if report.broker_error:
        parts.append(f"queues: broker unreachable ({report.broker_error})")
    else:
        rows = []
        for q in report.queues:
            if not q.exists:
                rows.append([q.name, "not declared", "-", "-", "-", "-", "-", "-"])
                continue
            rows.append([q.name, q.queue_type or "-", _n(q.messages_ready),
                         _n(q.messages_unacked), _n(q.consumers), _rate(q.publish_rate),
                         _rate(q.deliver_rate), _rate(q.ack_rate)])
        title = "queues (RabbitMQ management API)"
        if report.queue_source == "amqp":
            title = ("queues (management API unavailable: AMQP passive declares, "
                     "depth and consumers only, no rates)")
        parts.append(title)
        parts.append(table(["QUEUE", "TYPE", "READY", "UNACKED", "CONSUMERS", "IN/s",
                            "OUT/s", "ACK/s"], rows))
    parts.append("")
    parts.append(f"deliveries in the last hour (since {report.since:%Y-%m-%d %H:%M} UTC; "
                 "notices by current status)")
    if report.ledger_error:
        parts.append(f"ledger unavailable ({report.ledger_error})")
    else:
        parts.append(table(["CHANNEL", "SENT", "FAILED", "PARKED", "SKIPPED"], [
            [c.channel, str(c.sent), str(c.failed), str(c.parked), str(c.skipped)]
            for c in report.channels]))
        parts.append("(failed = retrying + parked)")
    parts.append("")
    parts.append(f"parked on {DEAD_QUEUE}: {_n(report.parked)}    "
                 f"rejected on {REJECTED_QUEUE}: {_n(report.rejected)}")
    if report.parked:
        parts.append("  see them: minwon-hub dlq list")
    if report.rejected:
        parts.append("  see them: minwon-hub dlq list --queue rejected")
    return "\n".join(parts)


def render_json(report: StatusReport) -> str:
    return json.dumps({
        "since": report.since.isoformat(),
        "queue_source": report.queue_source,
        "broker_error": report.broker_error,
        "queues": [asdict(q) for q in report.queues],
        "channels": [asdict(c) for c in report.channels],
        "ledger_error": report.ledger_error,
        "parked": report.parked,
        "rejected": report.rejected,
    }, ensure_ascii=False, indent=2)
