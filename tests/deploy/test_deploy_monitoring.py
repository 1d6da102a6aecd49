"""Prometheus config and alerts, Grafana provisioning and dashboard: they read only metrics we export."""

from __future__ import annotations

import json
from typing import Any

import pytest
from deploykit import GPU_METRICS, METRICS, REPO, find_tool, load_yaml, metrics_in, run_tool

DASHBOARD = REPO / "docker" / "grafana" / "dashboards" / "motivnet.json"
PROMETHEUS_BUILTINS = {"up"}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panel_exprs() -> dict[str, list[str]]:
    return {panel["title"]: [target["expr"] for target in panel["targets"]] for panel in dashboard()["panels"]}


def alert_exprs() -> list[str]:
    rules = load_yaml("docker/prometheus/alerts.yml")
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_prometheus_scrapes_the_compose_service(compose: dict[str, Any]) -> None:
    config = load_yaml("docker/prometheus/prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in compose["services"]
    assert port == "8000"
    for rule_file in config["rule_files"]:
        assert (REPO / "docker" / "prometheus" / rule_file).is_file()
    mount = "./docker/prometheus:/etc/prometheus:ro"
    assert mount in compose["services"]["prometheus"]["volumes"]


def test_grafana_provisioning_matches_the_compose_mounts(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    assert "./docker/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./docker/grafana/dashboards:/etc/grafana/dashboards:ro" in grafana["volumes"]
    (source,) = load_yaml("docker/grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    (provider,) = load_yaml("docker/grafana/provisioning/dashboards/motivnet.yml")["providers"]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == "/etc/grafana/dashboards/" + DASHBOARD.name


def test_dashboard_reads_only_our_metrics() -> None:
    for title, exprs in panel_exprs().items():
        for expr in exprs:
            used = metrics_in(expr)
            assert used <= METRICS, f"{title}: unknown metrics {used - METRICS} in {expr}"
            assert used or any(name + "{" in expr for name in PROMETHEUS_BUILTINS), f"{title}: reads nothing"
            if "histogram_quantile" in expr:
                assert "_bucket" in expr, f"{title}: quantiles need buckets"
                assert "by (le)" in expr, f"{title}: quantiles need buckets by le"


def test_dashboard_shows_what_operators_need() -> None:
    panels = panel_exprs()
    everything = " ".join(expr for exprs in panels.values() for expr in exprs)
    assert metrics_in(everything) >= METRICS, f"not on the dashboard: {METRICS - metrics_in(everything)}"
    assert "sum by (status) (rate(motivnet_requests_total" in everything
    assert "sum by (reason) (rate(motivnet_rejected_total" in everything
    (latency,) = [exprs for title, exprs in panels.items() if "motivnet_request_duration_seconds_bucket" in exprs[0]]
    assert [expr.split(",")[0] for expr in latency] == [f"histogram_quantile({q}" for q in ("0.5", "0.95", "0.99")]
    assert GPU_METRICS <= metrics_in(" ".join(panels["GPU memory"]))


def test_dashboard_panels_use_the_datasource_variable() -> None:
    board = dashboard()
    variables = {var["name"]: var for var in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]


def test_alerts_read_only_our_metrics() -> None:
    for expr in alert_exprs():
        assert metrics_in(expr) <= METRICS, expr
        assert metrics_in(expr) or "up{" in expr, expr


def promtool() -> str:
    tool = find_tool("promtool")
    if tool is None:
        pytest.skip("SKIP promtool: not installed (scripts/deploy-tools.sh extracts it from Debian's prometheus)")
    return tool


def test_promtool_checks_config_and_rules() -> None:
    tool = promtool()
    result = run_tool([tool, "check", "config", "docker/prometheus/prometheus.yml"])
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_tool([tool, "check", "rules", "docker/prometheus/alerts.yml"])
    assert result.returncode == 0, result.stdout + result.stderr
