"""Broker URLs: one format, read once, handed to kombu and pika alike.

The format is RabbitMQ's URI specification (https://www.rabbitmq.com/docs/uri-spec)::

    amqp://user:password@host:5672/vhost
    amqps://user:password@host:5671/vhost      (TLS, the system's CAs)

* The vhost is the one path segment, **percent-encoded**: the default vhost ``/`` is
  ``%2F`` (``amqp://guest:guest@localhost:5672/%2F``), ``a/b`` is ``a%2Fb``. A URL with
  no path or an empty one (``amqp://host``, ``amqp://host/``) means ``/`` as well, and
  so does kombu's ``//``. An unencoded ``/`` inside the vhost is refused.
* User and password are percent-encoded too (``s%40cret`` for ``s@cret``); absent, they
  are ``guest``/``guest``. Host defaults to ``localhost``, port to 5672 (5671 for amqps).
* Query options are refused: heartbeat and timeouts are ``[broker]`` keys.
* **Failover**: a list of URLs (``url = ["amqp://a/%2F", "amqp://b/%2F"]``; in the
  environment the same TOML array), or kombu's ``;``-separated string. Both clients try
  them in order: kombu as its alternates, pika's producer one after another.

Both clients are given the parsed parts, never the raw string: kombu a canonical URL
(every part encoded as above, which kombu decodes to the same parts), pika a
``ConnectionParameters`` built from the parts. ``pika.URLParameters`` is never used:
it reads ``amqp://host//`` as the vhost ``''``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

SCHEMES = {"amqp": (5672, False), "amqps": (5671, True)}


@dataclass(frozen=True)
class BrokerURL:
    host: str
    port: int
    user: str
    password: str
    vhost: str
    tls: bool = False

    @property
    def scheme(self) -> str:
        return "amqps" if self.tls else "amqp"

    def canonical(self, *, mask: bool = False) -> str:
        """The URL with every part encoded: what kombu is given (and logs show, with
        ``mask``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        password = "***" if mask else quote(self.password, safe="")
        return (f"{self.scheme}://{quote(self.user, safe='')}:{password}@{host}:{self.port}"
                f"/{quote(self.vhost, safe='')}")

    def pika_parameters(self, *, heartbeat: float | None = None,
                        connect_timeout: float = 10.0) -> Any:
        import pika

        options: dict[str, Any] = {}
        if self.tls:
            options["ssl_options"] = pika.SSLOptions(ssl.create_default_context(), self.host)
        if heartbeat is not None:
            options["heartbeat"] = int(heartbeat)
        return pika.ConnectionParameters(
            host=self.host, port=self.port, virtual_host=self.vhost,
            credentials=pika.PlainCredentials(self.user, self.password),
            socket_timeout=connect_timeout, connection_attempts=1,
            **options,
        )


def parse_url(url: str) -> BrokerURL:
    """One AMQP URL; ``ValueError`` saying what is wrong with it."""
    url = url.strip()
    if "://" not in url:
        raise ValueError(f"not a broker URL: {_masked(url)!r} (amqp://user:pass@host:5672/%2F)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{_masked(url)}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"{_masked(url)}: scheme {scheme!r} is not amqp:// or amqps://")
    if parts.query or parts.fragment:
        raise ValueError(f"{_masked(url)}: query options are not supported "
                         "(heartbeat and timeouts are [broker] keys)")
    default_port, tls = SCHEMES[scheme]
    path = parts.path
    if path in ("", "/", "//"):
        vhost = "/"
    else:
        raw = path[1:]
        if "/" in raw:
            raise ValueError(f"{_masked(url)}: the vhost {raw!r} holds an unencoded '/': "
                             "write it %2F (the default vhost is amqp://host:5672/%2F)")
        vhost = unquote(raw)
    return BrokerURL(
        host=parts.hostname or "localhost",
        port=port or default_port,
        user=unquote(parts.username) if parts.username is not None else "guest",
        password=unquote(parts.password) if parts.password is not None else "guest",
        vhost=vhost,
        tls=tls,
    )


def parse_urls(value: str | list[str]) -> list[BrokerURL]:
    """A failover list: a list of URLs or one string of ``;``-separated URLs."""
    items = value if isinstance(value, list) else value.split(";")
    urls = [parse_url(item) for item in items if item.strip()]
    if not urls:
        raise ValueError("no broker URL given")
    return urls


def kombu_url(value: str | list[str]) -> str:
    """What kombu's ``Connection`` is given: canonical URLs, ``;``-separated (the first
    is used, the others are its failover alternates)."""
    return ";".join(u.canonical() for u in parse_urls(value))


def _masked(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            return url.replace(f":{parts.password}@", ":***@", 1)
    except ValueError:
        pass
    return url


def mask_password(value: str) -> str:
    """``value`` (one URL or a ``;``-separated list) with passwords replaced by ***."""
    return ";".join(_masked(part) for part in value.split(";"))
