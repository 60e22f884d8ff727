"""hub.admin.rabbit: broker addresses and management API answers, read right."""

from __future__ import annotations

import pytest

from hub.admin.rabbit import BrokerAddress, ManagementAPI, QueueStats, parse_queue


@pytest.mark.parametrize(
    ("url", "host", "port", "user", "password", "vhost"),
    [
        ("amqp://guest:guest@localhost:5672//", "localhost", 5672, "guest", "guest", "/"),
        ("amqp://guest:guest@localhost:5672/", "localhost", 5672, "guest", "guest", "/"),
        ("amqp://minwon:s%40cret@rabbitmq/minwon", "rabbitmq", 5672, "minwon", "s@cret", "minwon"),
        ("amqp://u:p@h:5673/%2Ftenant", "h", 5673, "u", "p", "/tenant"),
        ("amqp://h", "h", 5672, "guest", "guest", "/"),
        ("amqp://u:p@a:5672/minwon;amqp://u:p@b:5672/minwon", "a", 5672, "u", "p", "minwon"),
    ],
)
def test_broker_address_from_amqp_url(
    url: str, host: str, port: int, user: str, password: str, vhost: str
) -> None:
    addr = BrokerAddress.from_amqp_url(url)
    assert (addr.host, addr.port, addr.user, addr.password, addr.vhost) == (
        host,
        port,
        user,
        password,
        vhost,
    )
    assert addr.management_url() == f"http://{host}:15672"


def test_management_api_for_broker_takes_credentials_from_the_management_url() -> None:
    # Given an AMQP URL and a management URL with credentials of its own
    api = ManagementAPI.for_broker(
        "amqp://hub:hubpw@rabbitmq:5672/minwon", "https://ops:opspw@mq.example.kr:443/"
    )
    # Then the management URL's credentials and the AMQP URL's vhost are used
    assert api.base_url == "https://mq.example.kr:443"
    assert api.session.auth == ("ops", "opspw")
    assert api.vhost == "minwon"


def test_management_api_for_broker_defaults_to_the_amqp_host() -> None:
    api = ManagementAPI.for_broker("amqp://hub:hubpw@rabbitmq:5672/minwon")
    assert api.base_url == "http://rabbitmq:15672"
    assert api.session.auth == ("hub", "hubpw")


def test_parse_queue_reads_depth_consumers_and_rates() -> None:
    # Given one queue as GET /api/queues/{vhost} returns it
    raw = {
        "name": "hub.notify.sms",
        "type": "quorum",
        "messages_ready": 12,
        "messages_unacknowledged": 3,
        "consumers": 2,
        "message_stats": {
            "publish": 100,
            "publish_details": {"rate": 4.5},
            "deliver_get_details": {"rate": 4.0},
            "ack_details": {"rate": 3.5},
        },
    }
    # Then every field lands where it belongs
    assert parse_queue(raw) == QueueStats(
        name="hub.notify.sms",
        messages_ready=12,
        consumers=2,
        messages_unacked=3,
        queue_type="quorum",
        publish_rate=4.5,
        deliver_rate=4.0,
        ack_rate=3.5,
    )


def test_parse_queue_without_stats_has_no_rates() -> None:
    # Given a fresh queue (no message_stats yet, counts missing)
    stats = parse_queue({"name": "hub.dead", "type": "quorum"})
    assert (stats.messages_ready, stats.consumers, stats.publish_rate) == (0, 0, None)
