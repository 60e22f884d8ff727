"""Broker URLs: one format (RabbitMQ's URI spec), read once, the same for kombu and pika."""

from __future__ import annotations

import pytest
from kombu import Connection

from hub.brokerurl import BrokerURL, kombu_url, mask_password, parse_url, parse_urls
from hub.config import DEFAULT_AMQP_URL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (DEFAULT_AMQP_URL, BrokerURL("localhost", 5672, "guest", "guest", "/")),
        ("amqp://guest:guest@localhost:5672//", BrokerURL("localhost", 5672, "guest", "guest",
                                                          "/")),
        ("amqp://guest:guest@localhost:5672/", BrokerURL("localhost", 5672, "guest", "guest",
                                                         "/")),
        ("amqp://h", BrokerURL("h", 5672, "guest", "guest", "/")),
        ("amqp://minwon:s%40cret@rabbitmq/minwon", BrokerURL("rabbitmq", 5672, "minwon",
                                                             "s@cret", "minwon")),
        ("amqp://u:p@h:5673/%2Ftenant", BrokerURL("h", 5673, "u", "p", "/tenant")),
        ("amqp://u:p@h/a%2Fb", BrokerURL("h", 5672, "u", "p", "a/b")),
        ("amqps://u:p@mq.example.kr/minwon", BrokerURL("mq.example.kr", 5671, "u", "p",
                                                       "minwon", tls=True)),
        ("amqp://u:p@[::1]:5672/%2F", BrokerURL("::1", 5672, "u", "p", "/")),
        ("amqp://u:@h/v", BrokerURL("h", 5672, "u", "", "v")),
    ],
)
def test_a_url_is_read_by_the_uri_spec(url: str, expected: BrokerURL) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("localhost:5672", "not a broker URL"),
        ("http://h/", "scheme 'http' is not amqp:// or amqps://"),
        ("amqp://h/a/b", "unencoded '/'"),
        ("amqp://h:99999/", "out of range"),
        ("amqp://h:port/", "Port could not be cast to integer"),
        ("amqp://h/v?heartbeat=5", "query options are not supported"),
        ("amqp://u:secret@h:port/", "amqp://u:***@h:port/"),  # the password never shows
    ],
)
def test_a_bad_url_is_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_url(url)
    assert reason in str(info.value)
    assert "secret" not in str(info.value)


URLS = [
    DEFAULT_AMQP_URL,
    "amqp://guest:guest@localhost:5672//",
    "amqp://h",
    "amqp://minwon:s%40c%3Aret@rabbitmq:5673/minwon",
    "amqp://u:p@h/%2Ftenant",
    "amqp://u:p@h/a%20b",
]


@pytest.mark.parametrize("url", URLS)
def test_kombu_and_pika_are_given_the_same_parts(url: str) -> None:
    parsed = parse_url(url)
    # kombu gets the canonical URL and decodes it back to the same parts
    conn = Connection(kombu_url(url))
    assert (conn.hostname, conn.port, conn.userid, conn.password, conn.virtual_host) == (
        parsed.host, parsed.port, parsed.user, parsed.password, parsed.vhost)
    # pika gets parameters built from the parts
    params = parsed.pika_parameters()
    assert (params.host, params.port, params.virtual_host) == (
        parsed.host, parsed.port, parsed.vhost)
    assert (params.credentials.username, params.credentials.password) == (
        parsed.user, parsed.password)


@pytest.mark.parametrize(
    "value",
    [
        ["amqp://u:p@a:5672/minwon", "amqp://u:p@b:5672/minwon", "amqp://u:p@c:5672/minwon"],
        "amqp://u:p@a:5672/minwon;amqp://u:p@b:5672/minwon;amqp://u:p@c:5672/minwon",
        " amqp://u:p@a:5672/minwon ; amqp://u:p@b:5672/minwon;amqp://u:p@c:5672/minwon; ",
    ],
)
def test_a_failover_list_keeps_its_order_for_both_clients(value: str | list[str]) -> None:
    urls = parse_urls(value)
    assert [(u.host, u.vhost) for u in urls] == [("a", "minwon"), ("b", "minwon"),
                                                ("c", "minwon")]
    conn = Connection(kombu_url(value))
    assert conn.hostname == "a"
    assert [parse_url(alt).host for alt in conn.alt] == ["a", "b", "c"]
    assert {parse_url(alt).vhost for alt in conn.alt} == {"minwon"}


def test_an_empty_list_is_refused() -> None:
    with pytest.raises(ValueError, match="no broker URL"):
        parse_urls(" ; ")


def test_passwords_are_masked_in_a_list() -> None:
    assert mask_password("amqp://u:p1@a/%2F;amqp://u:p2@b/%2F") == \
        "amqp://u:***@a/%2F;amqp://u:***@b/%2F"
