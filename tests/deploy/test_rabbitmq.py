"""deploy/rabbitmq: definitions.json is hub.topology's (generated, in sync, accepted
by a real broker where the hub's own declarations then agree), users have the
documented development passwords, the config files use keys RabbitMQ knows."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from hub.admin.definitions import (
    ADMIN_USER,
    DEFAULT_VHOST,
    HUB_USER,
    check_password,
    deployment_definitions,
)
from hub.config import DEFAULTS, Config
from hub.topology import from_config
from tests.deploy.conftest import DEPLOY

RABBIT = DEPLOY / "rabbitmq"
SINGLE = RABBIT / "rabbitmq.conf"
CLUSTER = RABBIT / "cluster" / "rabbitmq.conf"
# Keys of RabbitMQ newer than the broker installed here (3.13+): the compose image.
NEWER_KEYS = {
    "quorum_queue.continuous_membership_reconciliation.enabled",
    "quorum_queue.continuous_membership_reconciliation.target_group_size",
}
SCHEMA_DIRS = [Path("/usr/lib/rabbitmq/lib")]
MANAGEMENT_URL = os.environ.get("MINWON_TEST_MANAGEMENT_URL", "http://127.0.0.1:15672")


def _definitions() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RABBIT / "definitions.json").read_text(encoding="utf-8"))
    return data


def _conf(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not `key = value`: {line!r}"
            pairs[key.strip()] = value.strip()
    return pairs


def _schema_key_patterns() -> list[re.Pattern[str]]:
    patterns = []
    for root in SCHEMA_DIRS:
        for schema in root.glob("rabbitmq_server-*/plugins/*/priv/schema/*.schema"):
            text = schema.read_text(encoding="utf-8", errors="replace")
            for key in re.findall(r'\{mapping,\s*"([^"]+)"', text):
                regex = re.escape(key).replace(r"\$", "$")
                regex = re.sub(r"\$[a-z_]+", r"[^.]+", regex)
                patterns.append(re.compile(f"^{regex}$"))
    return patterns


def test_definitions_file_is_the_generators_output() -> None:
    # Given the topology of the default configuration, When generated, Then it is the file
    assert _definitions() == deployment_definitions(), (
        "deploy/rabbitmq/definitions.json is stale: "
        "python -m hub.admin.definitions > deploy/rabbitmq/definitions.json"
    )


def test_definitions_hold_the_topology_of_design_md() -> None:
    defs = _definitions()
    assert [v["name"] for v in defs["vhosts"]] == [DEFAULT_VHOST]
    exchanges = {e["name"]: e["type"] for e in defs["exchanges"]}
    assert exchanges == {"minwon.events": "topic", "hub.notify": "direct",
                         "hub.retry": "direct", "minwon.notifications": "topic"}
    queues = {q["name"]: q["arguments"] for q in defs["queues"]}
    assert set(queues) == {
        "hub.router", "hub.notify.sms", "hub.notify.email", "hub.notify.push",
        "hub.retry.10s", "hub.retry.1m", "hub.retry.10m", "hub.retry.1h",
        "hub.dead", "hub.rejected",
    }
    for name, args in queues.items():
        assert args["x-queue-type"] == "quorum", name
    for channel in ("sms", "email", "push"):
        args = queues[f"hub.notify.{channel}"]
        assert args["x-delivery-limit"] == 20
        assert args["x-dead-letter-routing-key"] == "hub.dead"
    assert queues["hub.router"]["x-dead-letter-routing-key"] == "hub.rejected"
    ttls = {n: a["x-message-ttl"] for n, a in queues.items() if n.startswith("hub.retry.")}
    assert ttls == {"hub.retry.10s": 10_000, "hub.retry.1m": 60_000,
                    "hub.retry.10m": 600_000, "hub.retry.1h": 3_600_000}
    for name in ttls:
        assert queues[name]["x-dead-letter-exchange"] == "hub.notify"
    bindings = {(b["source"], b["routing_key"], b["destination"]) for b in defs["bindings"]}
    assert ("minwon.events", "#", "hub.router") in bindings
    assert ("hub.notify", "sms", "hub.notify.sms") in bindings
    assert ("hub.retry", "1m", "hub.retry.1m") in bindings


@pytest.mark.parametrize(("user", "password", "tag"), [(HUB_USER, "minwon", "management"),
                                                       (ADMIN_USER, "admin", "administrator")])
def test_users_have_the_documented_development_passwords(
    user: str, password: str, tag: str
) -> None:
    users = {u["name"]: u for u in _definitions()["users"]}
    assert check_password(password, users[user]["password_hash"])
    assert not check_password(password + "x", users[user]["password_hash"])
    assert users[user]["tags"] == [tag]
    perms = {(p["user"], p["vhost"]) for p in _definitions()["permissions"]}
    assert (user, DEFAULT_VHOST) in perms


def test_enabled_plugins() -> None:
    text = (RABBIT / "enabled_plugins").read_text(encoding="utf-8").strip()
    assert text == "[rabbitmq_management,rabbitmq_prometheus]."


def test_single_and_cluster_configs_share_their_settings() -> None:
    single, cluster = _conf(SINGLE), _conf(CLUSTER)
    assert single.items() <= cluster.items()
    extra = set(cluster) - set(single)
    assert all(k.startswith(("cluster_", "quorum_queue.")) for k in extra), extra
    assert single["load_definitions"] == "/etc/rabbitmq/definitions.json"
    assert single["prometheus.return_per_object_metrics"] == "true"
    assert cluster["cluster_formation.peer_discovery_backend"] == "classic_config"


@pytest.mark.parametrize("path", [SINGLE, CLUSTER], ids=["single", "cluster"])
def test_config_keys_are_known_to_rabbitmq(path: Path) -> None:
    patterns = _schema_key_patterns()
    if not patterns:
        pytest.skip("RabbitMQ's configuration schemas are not installed here")
    unknown = [
        key for key in _conf(path)
        if key not in NEWER_KEYS and not any(p.match(key) for p in patterns)
    ]
    assert not unknown, f"keys RabbitMQ does not know: {unknown}"


@pytest.mark.integration
def test_a_real_broker_accepts_the_definitions_and_the_hub_agrees(vhost: Any) -> None:
    """Given definitions.json imported into a throw-away vhost, When the hub declares its
    topology there, Then the broker finds every declaration equivalent (a mismatch of
    one argument would close the channel with PRECONDITION_FAILED)."""
    from amqp.exceptions import PreconditionFailed
    from kombu import Connection, Queue

    session = requests.Session()
    session.auth = ("guest", "guest")
    try:
        session.get(f"{MANAGEMENT_URL}/api/overview", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        pytest.skip(f"RabbitMQ management API not available ({exc}); "
                    "rabbitmq-plugins enable rabbitmq_management")
    # Given: the topology part of definitions.json, moved to the test's vhost
    defs = _definitions()
    scoped = {
        key: [{**item, "vhost": vhost.name} for item in defs[key]]
        for key in ("exchanges", "queues", "bindings")
    }
    response = session.post(f"{MANAGEMENT_URL}/api/definitions", json=scoped, timeout=30)
    assert response.status_code in (200, 201, 204), response.text
    listed = session.get(f"{MANAGEMENT_URL}/api/queues/{quote(vhost.name, safe='')}",
                         timeout=10).json()
    assert {q["name"]: q["type"] for q in listed} == {
        q["name"]: "quorum" for q in defs["queues"]
    }
    # When: the hub declares its topology on top
    topology = from_config(Config(DEFAULTS))
    with Connection(vhost.url, connect_timeout=5) as conn:
        topology.declare(conn.channel())
        # Then: accepted; and a declaration that differs is refused, so this means something
        different = Queue("hub.retry.10s", durable=True,
                          queue_arguments={"x-queue-type": "quorum", "x-message-ttl": 5000})
        with pytest.raises(PreconditionFailed):
            different(conn.channel()).declare()
