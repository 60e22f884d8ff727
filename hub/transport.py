"""Broker connections, and what each kind of broker can do, declared as data.

``amqp://`` URLs (:mod:`hub.brokerurl`: the RabbitMQ URI spec, a list for failover)
go to RabbitMQ through kombu's py-amqp transport, on the hub's own connection class
(:mod:`hub.broker`: buffered reads, no per-publish poll); ``memory://``
is kombu's in-memory transport, the embedded default of ``minwon-hub demo``. The
rest of the hub asks the :class:`TransportProfile` instead of testing URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from kombu import Connection

from hub.broker import TRANSPORTS
from hub.brokerurl import kombu_url, mask_password, parse_urls


@dataclass(frozen=True)
class TransportProfile:
    name: str
    confirms: bool  # publisher confirms and mandatory returns
    multiple_ack: bool  # basic.ack with multiple=True settles every tag up to it
    broker_delays: bool  # delay tiers by TTL + dead-lettering in the broker
    quorum: bool  # quorum queues, delivery limits
    polling_interval: float | None = None


PROFILES: dict[str, TransportProfile] = {
    "amqp": TransportProfile("amqp", True, True, True, True),
    "memory": TransportProfile("memory", False, False, False, False, polling_interval=0.005),
}
ALIASES = {"amqp": "amqp", "pyamqp": "amqp", "amqps": "amqp", "memory": "memory"}

MEMORY_URL = "memory://"


def profile_for(url: str) -> TransportProfile:
    scheme = urlsplit(url).scheme or "memory"
    try:
        return PROFILES[ALIASES[scheme]]
    except KeyError:
        raise ValueError(
            f"unsupported broker URL scheme {scheme!r} (use amqp:// or memory://)"
        ) from None


def connect(url: str, *, heartbeat: float = 30, connect_timeout: float = 10) -> Connection:
    """A kombu connection for ``url``, connected; raises if the broker is unreachable."""
    profile = profile_for(url)
    options: dict[str, object] = {}
    if profile.polling_interval is not None:
        options["polling_interval"] = profile.polling_interval
    conn = Connection(
        kombu_url(url) if profile.name == "amqp" else url,
        failover_strategy="round-robin",
        heartbeat=heartbeat if profile.name == "amqp" else 0,
        connect_timeout=connect_timeout,
        transport_options=options,
        transport=TRANSPORTS.get(urlsplit(url).scheme),
    )
    # Every URL of a failover list gets a try (kombu moves to the next after each error).
    tries = max(3, 2 * len(conn.alt or ()))
    conn.ensure_connection(max_retries=tries, interval_start=0.2, interval_step=0.5)
    return conn


def safe_url(url: str) -> str:
    """The URL (or failover list) without its passwords, for logs."""
    return mask_password(url)


def vhost_of(url: str) -> str:
    """The vhost of the (first) URL."""
    return parse_urls(url)[0].vhost
