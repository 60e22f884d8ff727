"""deploy/prometheus: the scrape config and alert rules are valid, their unit tests
pass, every alert is tested both ways, names only metrics the hub exports, and has a
runbook section; the hub's own exposition passes `promtool check metrics`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

import hub.metrics
from tests.deploy.conftest import DEPLOY, ROOT, load_yaml

PROM = DEPLOY / "prometheus"
RUNBOOK = ROOT / "docs" / "operations.md"

# Metrics of RabbitMQ's prometheus plugin that rules and panels may use.
RABBITMQ_METRICS = {"rabbitmq_queue_messages_ready", "rabbitmq_queue_consumers"}
BUILTIN_SERIES = {"up"}


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)


def hub_metric_names() -> set[str]:
    """Every series name the hub's metrics can expose (with _total, _bucket ...)."""
    names: set[str] = set()
    for value in vars(hub.metrics).values():
        describe = getattr(value, "describe", None)
        if describe is None or not hasattr(value, "_name"):
            continue
        for family in describe():
            base = family.name
            if family.type == "counter":
                names |= {f"{base}_total", f"{base}_created"}
            elif family.type == "histogram":
                names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count", f"{base}_created"}
            else:
                names.add(base)
    return names


_IDENT = re.compile(r"\b([a-z_][a-z0-9_]*)\s*(?=\{|\[|\)|\s|$)")
_METRIC_PREFIXES = ("minwon_", "rabbitmq_")


def metric_names_in(expr: str) -> set[str]:
    """Series names a PromQL expression reads (those of the hub and of RabbitMQ, and
    ``up``); label names inside braces are not taken for metrics."""
    without_labels = re.sub(r"\{[^}]*\}", "{}", expr)
    without_strings = re.sub(r'"[^"]*"', '""', without_labels)
    found = set(_IDENT.findall(without_strings))
    return {n for n in found if n.startswith(_METRIC_PREFIXES) or n in BUILTIN_SERIES}


def alert_rules() -> list[dict[str, Any]]:
    doc = load_yaml(PROM / "alerts.yml")
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_check_config(promtool: str) -> None:
    result = _run([promtool, "check", "config", str(PROM / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules(promtool: str) -> None:
    result = _run([promtool, "check", "rules", str(PROM / "alerts.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rule_unit_tests_pass(promtool: str) -> None:
    # Given the alert rules and their unit tests, When promtool runs them, Then all pass
    result = _run([promtool, "test", "rules", str(PROM / "alerts_test.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_hub_metrics_exposition_passes_promtool_check_metrics(promtool: str) -> None:
    # Given every hub metric with at least one child (so each family is exposed)
    hub.metrics.NOTICES.labels("sms", "outbox", "sent")
    hub.metrics.PROVIDER_LATENCY.labels("sms", "outbox", "sent").observe(0.1)
    hub.metrics.END_TO_END.labels("sms").observe(1.0)
    exposition = generate_latest(REGISTRY).decode()
    # When promtool lints it
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True,
        timeout=60,
    )
    # Then it finds nothing to complain about
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_rule_files_are_relative_and_exist() -> None:
    config = load_yaml(PROM / "prometheus.yml")
    for name in config["rule_files"]:
        assert not Path(name).is_absolute(), name
        assert (PROM / name).is_file(), name


def test_scrape_targets_are_the_compose_services() -> None:
    # Given the compose services, Then Prometheus discovers exactly the hub's roles
    compose = load_yaml(DEPLOY / "compose.yaml")
    config = load_yaml(PROM / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    hub_names = {n for sd in jobs["minwon-hub"]["dns_sd_configs"] for n in sd["names"]}
    hub_services = {
        name for name, svc in compose["services"].items()
        if str(svc.get("image", "")).startswith("${MINWON_IMAGE")
    }
    assert hub_names == hub_services
    rabbit_names = {n for sd in jobs["rabbitmq"]["dns_sd_configs"] for n in sd["names"]}
    assert rabbit_names == {n for n in compose["services"] if n.startswith("rabbitmq")}


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_reads_only_known_metrics(rule: dict[str, Any]) -> None:
    names = metric_names_in(rule["expr"])
    assert names, f"{rule['alert']}: no metric found in {rule['expr']!r}"
    unknown = names - hub_metric_names() - RABBITMQ_METRICS - BUILTIN_SERIES
    assert not unknown, f"{rule['alert']} reads metrics nobody exports: {sorted(unknown)}"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_has_severity_summary_and_runbook_section(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning"}
    assert rule["annotations"]["summary"]
    # runbook_url: the annotation Grafana, Alertmanager receivers and PagerDuty link to
    assert "runbook" not in rule["annotations"]
    runbook = rule["annotations"]["runbook_url"]
    path, _, anchor = runbook.partition("#")
    assert path == "docs/operations.md"
    assert anchor == rule["alert"].lower()
    # the runbook has a heading named after the alert, and the link's anchor is that
    # heading's (GitHub's slug of the whole heading line)
    headings = re.findall(r"^#{2,4}\s+(.+?)\s*$", RUNBOOK.read_text(encoding="utf-8"), re.M)
    assert rule["alert"] in {h.split()[0] for h in headings}, \
        f"docs/operations.md has no section {rule['alert']}"
    slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
    assert anchor in slugs, f"{runbook}: no heading of docs/operations.md has that anchor"


def test_every_alert_is_tested_firing_and_silent() -> None:
    tests = load_yaml(PROM / "alerts_test.yml")["tests"]
    fired: set[str] = set()
    silent: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - fired == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested staying silent"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('sum by (queue) (rabbitmq_queue_consumers{queue=~"hub\\\\..+"}) == 0',
         {"rabbitmq_queue_consumers"}),
        ("histogram_quantile(0.95, sum by (le) (rate(minwon_end_to_end_seconds_bucket[5m])))",
         {"minwon_end_to_end_seconds_bucket"}),
        ('up{job="minwon-hub"} == 0', {"up"}),
    ],
)
def test_metric_names_in_finds_series_not_labels(expr: str, expected: set[str]) -> None:
    assert metric_names_in(expr) == expected
