"""The deployment files against a live app: routes they probe exist, metrics they query are exported.

Runs the real app in-process (httpx over ASGI, inside its lifespan) with the tiny model on the CPU.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from deploykit import GPU_METRICS, METRICS, REPO, ROUTES, load_yaml, metrics_in
from prometheus_client import parser

from motivnet_serve.router import app as app_module
from motivnet_serve.settings import Settings

TINY = REPO / "model_store" / "motivnet-tiny"
READY_WAIT_SECONDS = 120.0  # a stall guard, not a margin: loading takes seconds on busy cores


def tiny_settings() -> Settings:
    return Settings(model_dir=str(TINY), device="cpu", warmup=False)


def queried_metrics() -> set[str]:
    """Every metric name the dashboard, the alerts and the HPA's adapter rules read."""
    board = json.loads((REPO / "docker/grafana/dashboards/motivnet.json").read_text())
    exprs = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
    exprs += [rule["expr"] for group in load_yaml("docker/prometheus/alerts.yml")["groups"] for rule in group["rules"]]
    adapter = load_yaml("deploy/k8s/prometheus-adapter-values.yaml")["rules"]["custom"]
    exprs += [rule["seriesQuery"] for rule in adapter]
    hpa = load_yaml("deploy/k8s/hpa.yaml")
    exprs += [metric["pods"]["metric"]["name"] for metric in hpa["spec"]["metrics"]]
    return set().union(*(metrics_in(expr) for expr in exprs))


def exported_names(text: str) -> set[str]:
    """Family and sample names in Prometheus text; counters answer to their `_total` name too."""
    names = set()
    for family in parser.text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        names.update(sample.name for sample in family.samples)
    return names


def used_paths() -> set[str]:
    """Every HTTP path a deployment file sends requests to."""
    deployment = load_yaml("deploy/k8s/deployment.yaml")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    paths = {container[probe]["httpGet"]["path"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
    paths |= {endpoint["path"] for endpoint in load_yaml("deploy/k8s/servicemonitor.yaml")["spec"]["endpoints"]}
    paths |= {job["metrics_path"] for job in load_yaml("docker/prometheus/prometheus.yml")["scrape_configs"]}
    probe = (REPO / "docker" / "healthcheck.py").read_text()
    paths |= {path for path in ROUTES if f'"{path}"' in probe}
    return paths


async def wait_ready(client: httpx.AsyncClient) -> int:
    deadline = time.monotonic() + READY_WAIT_SECONDS
    ready = await client.get("/health/ready")
    while ready.status_code != 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        ready = await client.get("/health/ready")
    return ready.status_code


async def live_responses(requests: list[tuple[str, str]]) -> tuple[int, list[httpx.Response]]:
    """Start the app with the tiny model, wait until ready, send the requests; (ready status, responses)."""
    app = app_module.create_app(tiny_settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://motivnet.test") as client:
            ready_status = await wait_ready(client)
            return ready_status, [await client.request(method, path) for method, path in requests]


def test_app_serves_every_route_the_deployment_uses() -> None:
    paths = used_paths()
    assert {"/health/ready", "/health/live", "/metrics"} <= paths
    ready_status, responses = asyncio.run(live_responses([("GET", path) for path in sorted(paths)]))
    assert ready_status == 200, "the tiny model never became ready"
    for path, response in zip(sorted(paths), responses):
        assert response.status_code == 200, f"GET {path}: {response.status_code}"


def test_live_metrics_include_every_name_the_deployment_queries() -> None:
    ready_status, (metrics,) = asyncio.run(live_responses([("GET", "/metrics")]))
    assert ready_status == 200, "the tiny model never became ready"
    exported = exported_names(metrics.text)
    on_cpu = METRICS - GPU_METRICS
    assert on_cpu <= exported, f"contract metrics missing from /metrics: {sorted(on_cpu - exported)}"
    queried = queried_metrics() - GPU_METRICS
    assert queried <= exported, f"queried but not exported: {sorted(queried - exported)}"
