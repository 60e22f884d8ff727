"""deploy/compose.yaml: valid against the Compose specification, the services the
hub needs, workers that scale, health checks, files that exist, a cluster profile."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from channels import CHANNEL_NAMES
from hub.brokerurl import parse_urls
from hub.config import DEFAULTS, load_config
from tests.deploy.conftest import DEPLOY, ROOT, load_yaml

COMPOSE = DEPLOY / "compose.yaml"
HUB_ROLES = {"router", *(f"worker-{c}" for c in CHANNEL_NAMES)}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def _env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def _volume(spec: str) -> tuple[str, str]:
    """(source, target) of a short-syntax volume, ``${VAR:-default}`` taken as default."""
    spec = re.sub(r"\$\{[A-Z_]+:-([^}]+)\}", r"\1", spec)
    source, target = spec.split(":")[:2]
    return source, target


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema not installed (dev extra)")
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(COMPOSE)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {
        "rabbitmq", "rabbitmq-2", "rabbitmq-3", "postgres", "prometheus", "grafana",
        *HUB_ROLES,
    }


@pytest.mark.parametrize("role", sorted(HUB_ROLES))
def test_hub_role_runs_its_command_and_can_scale(
    services: dict[str, dict[str, Any]], role: str
) -> None:
    svc = services[role]
    # Given a hub role, Then it runs `minwon-hub router` or `worker --channel X`
    if role == "router":
        assert svc["command"] == ["router"]
    else:
        assert svc["command"] == ["worker", "--channel", role.removeprefix("worker-")]
    # and nothing pins it to one container: no name, no published port
    assert "container_name" not in svc
    assert "ports" not in svc
    assert "hostname" not in svc
    # and it is built from this repository's Dockerfile
    assert (COMPOSE.parent / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
    # and it waits for a healthy broker and ledger database
    assert svc["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_worker_command_matches_the_cli() -> None:
    # Given the CLI's parser, When it parses each compose command, Then it accepts it
    from hub.cli import build_parser

    services = load_yaml(COMPOSE)["services"]
    parser = build_parser()
    for role in sorted(HUB_ROLES):
        args = parser.parse_args(services[role]["command"])
        assert args.command == services[role]["command"][0]


@pytest.mark.parametrize("name", ["rabbitmq", "rabbitmq-2", "rabbitmq-3", "postgres",
                                  "prometheus", "grafana", *sorted(HUB_ROLES)])
def test_every_long_running_service_has_a_healthcheck(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    check = services[name]["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert check.get("retries", 3) >= 1


def test_hub_environment_names_real_configuration_keys(services: dict[str, dict[str, Any]]) -> None:
    # Given MINWON__SECTION__KEY variables, Then each section exists in the configuration
    env = services["router"]["environment"]
    for name in env:
        assert name.startswith("MINWON__"), name
        section = name.split("__")[1].lower()
        assert section in DEFAULTS, f"{name}: no [{section}] in hub.config.DEFAULTS"
    assert "minwon" in env["MINWON__BROKER__URL"]  # the vhost of definitions.json
    assert env["MINWON__LEDGER__URL"].count("postgresql") == 1  # one ledger for all replicas


def test_all_hub_roles_share_one_environment(services: dict[str, dict[str, Any]]) -> None:
    envs = [services[role]["environment"] for role in sorted(HUB_ROLES)]
    assert all(env == envs[0] for env in envs)


def test_mounted_files_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source, _ = _volume(volume)
            if not source.startswith("."):
                continue  # a named volume
            assert (COMPOSE.parent / source).exists(), f"{name}: {volume}"


def test_rabbitmq_loads_plugins_and_definitions(services: dict[str, dict[str, Any]]) -> None:
    for name in ("rabbitmq", "rabbitmq-2", "rabbitmq-3"):
        targets = {_volume(v)[1] for v in services[name]["volumes"]}
        assert {
            "/etc/rabbitmq/rabbitmq.conf",
            "/etc/rabbitmq/enabled_plugins",
            "/etc/rabbitmq/definitions.json",
        } <= targets


def test_rabbitmq_nodes_share_an_erlang_cookie(services: dict[str, dict[str, Any]]) -> None:
    nodes = [services[n] for n in ("rabbitmq", "rabbitmq-2", "rabbitmq-3")]
    cookies = {node["environment"]["MINWON_ERLANG_COOKIE"] for node in nodes}
    assert len(cookies) == 1
    script = nodes[0]["entrypoint"][-1]
    assert ".erlang.cookie" in script and "exec docker-entrypoint.sh rabbitmq-server" in script
    assert "umask 077" in script  # Erlang refuses a cookie others can read


def test_cluster_profile(services: dict[str, dict[str, Any]]) -> None:
    # Given the cluster env file
    env = _env_file(DEPLOY / "cluster.env")
    # Then it turns on the profile with the extra nodes, and the clustered config
    assert env["COMPOSE_PROFILES"] == "cluster"
    assert services["rabbitmq-2"]["profiles"] == ["cluster"]
    assert services["rabbitmq-3"]["profiles"] == ["cluster"]
    assert "profiles" not in services["rabbitmq"]  # node 1 is the single node too
    conf = env["MINWON_RABBITMQ_CONF"]
    assert (DEPLOY / conf).is_file()
    text = (DEPLOY / conf).read_text(encoding="utf-8")
    for node in ("rabbitmq", "rabbitmq-2", "rabbitmq-3"):
        assert f"= rabbit@{services[node]['hostname']}\n" in text
    # and the hub may connect to any node: a list of URLs both clients fail over along
    config = load_config(environ={**_hub_environment(services),
                                  "MINWON__BROKER__URL": env["MINWON_BROKER_URL"]})
    urls = parse_urls(config.broker_url)
    assert [(u.host, u.vhost) for u in urls] == [("rabbitmq", "minwon"), ("rabbitmq-2", "minwon"),
                                                ("rabbitmq-3", "minwon")]


def test_prometheus_loads_the_alert_rules(services: dict[str, dict[str, Any]]) -> None:
    prom = services["prometheus"]
    assert "./prometheus:/etc/prometheus:ro" in prom["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    assert "alerts.yml" in config["rule_files"]


def test_uis_are_bound_to_localhost(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to all"


def _hub_environment(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The hub's environment as compose would set it, given a value for every variable
    that must be set (``${VAR:?message}``) and the default of the others."""
    env = {}
    for name, value in services["router"]["environment"].items():
        value = re.sub(r"\$\{([A-Z_]+):\?[^}]*\}", lambda m: f"value-of-{m.group(1).lower()}",
                       str(value))
        env[name] = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    env["MINWON__TEMPLATES__DIR"] = str(ROOT / "templates")
    return env


def test_hub_environment_is_a_valid_production_configuration(
    services: dict[str, dict[str, Any]]
) -> None:
    config = load_config(environ=_hub_environment(services))
    assert config.production
    chains = {c: config["channels"][c]["providers"] for c in CHANNEL_NAMES}
    assert chains == {"sms": ["nhn", "sens"], "email": ["ses", "smtp"], "push": ["sns"]}
    # every secret is a required variable or empty by default, never a value in the file
    for name, value in services["router"]["environment"].items():
        if any(word in name for word in ("SECRET", "PASSWORD", "HASH_KEY")):
            assert str(value).startswith("${") and (":?" in value or ":-}" in value), name


def test_hub_healthcheck_asks_readyz(services: dict[str, dict[str, Any]]) -> None:
    test = services["router"]["healthcheck"]["test"]
    assert "http://127.0.0.1:9108/readyz" in shlex.join(test)
    assert services["router"]["environment"]["MINWON__METRICS__PORT"] == "9108"


def test_repository_root_is_the_build_context(services: dict[str, dict[str, Any]]) -> None:
    context = (COMPOSE.parent / services["router"]["build"]["context"]).resolve()
    assert context == ROOT.resolve()
