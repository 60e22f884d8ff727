"""deploy/grafana: provisioning points at the dashboard and the datasource the
dashboard uses; every panel query is valid PromQL over metrics that exist."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, load_yaml
from tests.deploy.test_prometheus import (
    BUILTIN_SERIES,
    RABBITMQ_METRICS,
    hub_metric_names,
    metric_names_in,
)

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def _dashboard(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _queries() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        for panel in _dashboard(path)["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.stem}: {panel['title']} [{target['refId']}]", target["expr"]))
    return out


def _concrete(expr: str) -> str:
    """The query as Prometheus receives it, Grafana's variables filled in."""
    return expr.replace("$__rate_interval", "1m").replace("$channel", ".*")


def test_there_is_a_dashboard() -> None:
    assert [p.name for p in DASHBOARDS] == ["minwon-hub.json"]


def _datasource_refs(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node["datasource"]] if isinstance(node.get("datasource"), dict) else []
        return found + [r for v in node.values() for r in _datasource_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _datasource_refs(v)]
    return []


def test_dashboards_choose_their_datasource_on_import_and_provisioning() -> None:
    # Given the provisioned datasource (the default one: the variable resolves to it)
    [source] = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yaml")[
        "datasources"
    ]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["url"] == "http://prometheus:9090"
    for path in DASHBOARDS:
        dash = _dashboard(path)
        # an import asks for the Prometheus to use (no uid of ours hard-coded)
        [given] = dash["__inputs"]
        assert (given["name"], given["type"], given["pluginId"]) == (
            "DS_PROMETHEUS", "datasource", "prometheus")
        variable = next(v for v in dash["templating"]["list"] if v["name"] == "datasource")
        assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
        assert variable["current"]["value"] == "${DS_PROMETHEUS}"
        # and every panel, target and variable query goes through that variable
        refs = [r for r in _datasource_refs(dash) if r.get("type") != "grafana"]
        assert refs and all(r == {"type": "prometheus", "uid": "${datasource}"} for r in refs)
        assert all(r["uid"] != source["uid"] for r in refs)
        for panel in dash["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_provider_reads_the_folder_compose_mounts() -> None:
    [provider] = load_yaml(GRAFANA / "provisioning" / "dashboards" / "minwon-hub.yaml")[
        "providers"
    ]
    grafana = load_yaml(DEPLOY / "compose.yaml")["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_layout(path: Path) -> None:
    dash = _dashboard(path)
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dash["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], f"{panel['title']} has no query"


@pytest.mark.parametrize(
    "needle",
    [
        "minwon_notices_total",  # deliveries per channel / outcome, failure ratio
        "minwon_parked_total",
        "minwon_retries_total",
        "minwon_sends_in_flight",
        "minwon_provider_call_duration_seconds_bucket",
        "minwon_end_to_end_seconds_bucket",
        "rabbitmq_queue_messages_ready",
        "rabbitmq_queue_consumers",
        "minwon_template_errors_total",
        "minwon_template_broken",
        "minwon_provider_available",
        "minwon_provider_credentials_rejected_total",
    ],
)
def test_dashboard_shows(needle: str) -> None:
    assert any(needle in expr for _, expr in _queries())


@pytest.mark.parametrize(("where", "expr"), _queries(), ids=[w for w, _ in _queries()])
def test_panel_reads_only_known_metrics(where: str, expr: str) -> None:
    names = metric_names_in(_concrete(expr))
    assert names, f"{where}: no metric in {expr!r}"
    unknown = names - hub_metric_names() - RABBITMQ_METRICS - BUILTIN_SERIES
    assert not unknown, f"{where} reads metrics nobody exports: {sorted(unknown)}"


def test_every_panel_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    # Given every panel query as a recording rule (promtool parses rule expressions)
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query{i}", "expr": _concrete(expr)}
                    for i, (_, expr) in enumerate(_queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    # When promtool checks them, Then every one parses
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
