"""What the broker knows about the hub's queues: depth, consumers and rates.

Two sources, one answer (:class:`QueueStats`):

* :class:`ManagementAPI`, RabbitMQ's management HTTP API (``rabbitmq_management``):
  depth, unacknowledged, consumers, queue type and message rates;
* :class:`AmqpInspector`, a passive ``queue.declare`` over AMQP: depth (ready
  messages) and consumers only, where the management plugin is not enabled.

:func:`inspect_queues` tries the first and falls back to the second. The management
URL defaults to ``http://<amqp host>:15672`` with the AMQP URL's credentials; set
``[broker] management_url`` (``MINWON__BROKER__MANAGEMENT_URL``) otherwise.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests

log = logging.getLogger("hub.admin.rabbit")

MANAGEMENT_PORT = 15672
HUB_QUEUE_PREFIX = "hub."


class BrokerUnavailable(RuntimeError):
    """Neither the management API nor AMQP answered."""


@dataclass(frozen=True)
class QueueStats:
    """One queue as the broker sees it. ``None`` means the source cannot tell
    (AMQP knows no rates, no unacknowledged count, no type); ``exists`` is False for a
    queue that was asked for and is not declared."""

    name: str
    messages_ready: int | None
    consumers: int | None
    messages_unacked: int | None = None
    queue_type: str | None = None
    publish_rate: float | None = None  # messages/s published to the queue
    deliver_rate: float | None = None  # messages/s delivered to consumers (deliver + get)
    ack_rate: float | None = None  # messages/s acknowledged
    exists: bool = True
    source: str = "management"  # "management" | "amqp"


@dataclass(frozen=True)
class BrokerAddress:
    """The parts of an AMQP URL the inspectors need."""

    host: str
    port: int
    user: str
    password: str
    vhost: str
    amqp_url: str

    @classmethod
    def from_amqp_url(cls, url: str) -> BrokerAddress:
        """``amqp://u:p@host:5672/vh`` → host, port, u, p, ``vh``, read by
        :mod:`hub.brokerurl` as the hub's consumers and producer read it (an empty path or
        ``//`` is ``/``, ``%2F`` is decoded). Of a failover list the first URL counts."""
        from hub.brokerurl import parse_urls

        first = parse_urls(url)[0]
        return cls(
            host=first.host,
            port=first.port,
            user=first.user,
            password=first.password,
            vhost=first.vhost,
            amqp_url=url.split(";", 1)[0].strip(),
        )

    def management_url(self, scheme: str = "http", port: int = MANAGEMENT_PORT) -> str:
        return f"{scheme}://{self.host}:{port}"


def _rate(stats: Mapping[str, Any], key: str) -> float | None:
    details = stats.get(f"{key}_details")
    if isinstance(details, Mapping) and "rate" in details:
        return float(details["rate"])
    return None


def _deliver_rate(stats: Mapping[str, Any]) -> float | None:
    rate = _rate(stats, "deliver_get")
    return rate if rate is not None else _rate(stats, "deliver")


def parse_queue(raw: Mapping[str, Any]) -> QueueStats:
    """A :class:`QueueStats` from one object of ``GET /api/queues/{vhost}``."""
    stats = raw.get("message_stats") or {}
    return QueueStats(
        name=str(raw["name"]),
        messages_ready=int(raw.get("messages_ready") or 0),
        consumers=int(raw.get("consumers") or 0),
        messages_unacked=int(raw.get("messages_unacknowledged") or 0),
        queue_type=raw.get("type"),
        publish_rate=_rate(stats, "publish"),
        deliver_rate=_deliver_rate(stats),
        ack_rate=_rate(stats, "ack"),
    )


class ManagementAPI:
    """A small client of the management HTTP API for one vhost."""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        vhost: str = "/",
        *,
        timeout: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.vhost = vhost
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.auth = (user, password)

    @classmethod
    def for_broker(cls, amqp_url: str, management_url: str = "", **kw: Any) -> ManagementAPI:
        """The API next to the broker of ``amqp_url`` (credentials and vhost from it;
        a ``management_url`` with its own ``user:password@`` wins)."""
        addr = BrokerAddress.from_amqp_url(amqp_url)
        user, password = addr.user, addr.password
        base = management_url or addr.management_url()
        parts = urlsplit(base)
        if parts.username:
            user, password = unquote(parts.username), unquote(parts.password or "")
            netloc = parts.hostname or ""
            if parts.port:
                netloc += f":{parts.port}"
            base = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return cls(base, user, password, addr.vhost, **kw)

    def _get(self, path: str, **params: Any) -> Any:
        response = self.session.get(
            f"{self.base_url}/api/{path}", params=params, timeout=self.timeout
        )
        response.raise_for_status()
        return response.json()

    @property
    def _vh(self) -> str:
        return quote(self.vhost, safe="")

    def overview(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("overview")
        return result

    def available(self) -> bool:
        """Whether the API answers with these credentials."""
        try:
            self.overview()
        except (requests.RequestException, ValueError):
            return False
        return True

    def queues(self, prefix: str = HUB_QUEUE_PREFIX) -> list[QueueStats]:
        """Every queue of the vhost whose name starts with ``prefix``, by name."""
        raw = self._get(f"queues/{self._vh}")
        return sorted(
            (parse_queue(q) for q in raw if str(q.get("name", "")).startswith(prefix)),
            key=lambda q: q.name,
        )

    def queue(self, name: str) -> QueueStats:
        """One queue; ``exists=False`` when it is not declared."""
        try:
            return parse_queue(self._get(f"queues/{self._vh}/{quote(name, safe='')}"))
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return QueueStats(name, None, None, exists=False)
            raise


class AmqpInspector:
    """Depth and consumers by passive ``queue.declare``: works on any AMQP 0-9-1
    broker, needs no plugin, knows nothing else."""

    def __init__(self, amqp_url: str, *, connect_timeout: float = 5.0) -> None:
        self.amqp_url = amqp_url
        self.connect_timeout = connect_timeout

    def queues(self, names: Iterable[str]) -> list[QueueStats]:
        from amqp.exceptions import NotFound
        from kombu import Connection

        out: list[QueueStats] = []
        with Connection(self.amqp_url, connect_timeout=self.connect_timeout) as conn:
            conn.ensure_connection(max_retries=1)
            for name in names:
                channel = conn.channel()
                try:
                    ok = channel.queue_declare(queue=name, passive=True)
                    out.append(
                        QueueStats(
                            name, int(ok.message_count), int(ok.consumer_count), source="amqp"
                        )
                    )
                except NotFound:  # the broker closed the channel; the next gets a new one
                    out.append(QueueStats(name, None, None, exists=False, source="amqp"))
                finally:
                    with contextlib.suppress(Exception):  # already closed by the broker
                        channel.close()
        return out


def inspect_queues(
    amqp_url: str,
    names: Sequence[str],
    *,
    management_url: str = "",
    timeout: float = 5.0,
) -> list[QueueStats]:
    """Stats of ``names`` (in that order) from the management API, or by AMQP when
    the API does not answer. Queues not declared come back with ``exists=False``.

    Raises :class:`BrokerUnavailable` when neither answers."""
    api = ManagementAPI.for_broker(amqp_url, management_url, timeout=timeout)
    try:
        found = {q.name: q for q in api.queues(prefix="")}
    except (requests.RequestException, ValueError) as exc:
        log.info("management API unavailable (%s); falling back to AMQP", type(exc).__name__)
    else:
        return [found.get(n) or QueueStats(n, None, None, exists=False) for n in names]
    try:
        return AmqpInspector(amqp_url, connect_timeout=timeout).queues(names)
    except Exception as exc:
        raise BrokerUnavailable(f"broker unreachable by HTTP and AMQP: {exc}") from exc


def update_gauges(stats: Iterable[QueueStats]) -> None:
    """Publish depth and consumers as ``minwon_queue_messages`` and
    ``minwon_queue_consumers`` (for the alert on queues without consumers where
    RabbitMQ's own metrics are not scraped). Queues that do not exist are skipped."""
    from hub.metrics import QUEUE_CONSUMERS, QUEUE_MESSAGES

    for q in stats:
        if not q.exists:
            continue
        if q.messages_ready is not None:
            QUEUE_MESSAGES.labels(q.name).set(q.messages_ready)
        if q.consumers is not None:
            QUEUE_CONSUMERS.labels(q.name).set(q.consumers)


def hub_queue_names(config: Any) -> list[str]:
    """The queues the hub declares for ``config`` (router, channels, tiers, parking)."""
    from hub.topology import from_config

    return [q.name for q in from_config(config).queues()]
