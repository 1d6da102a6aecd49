"""docker-compose.yml, docker-compose.cpu.yml, .env.example and motivnet.env.example: GPU, health, drain, only
non-default settings, and only settings for the service."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import pytest
from deploykit import (
    REPO,
    ROUTES,
    SETTINGS_FIELDS,
    Reset,
    assert_not_defaults,
    effective_settings,
    env_name,
    field_name,
    find_tool,
    run_tool,
    seconds,
)

INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):-(?P<default>[^}]*)\}$")
# Where a container must differ from the code's defaults; everything else keeps them (docker-compose.yml and the
# k8s ConfigMap set exactly these).
CONTAINER_VALUES = {
    "model_dir": "/opt/motivnet/model_store/motivnet",
    "model_store": "/opt/motivnet/model_store",
    "device": "cuda",
    "host": "0.0.0.0",
    "compile_cache_dir": "/var/cache/motivnet/compile",
    "grpc_port": "8001",
}


def service_env(compose: dict[str, Any]) -> dict[str, str]:
    return compose["services"]["motivnet"]["environment"]


def defaults(compose: dict[str, Any]) -> dict[str, str]:
    """MOTIVNET_X -> the default of its `${MOTIVNET_X:-default}` interpolation."""
    out = {}
    for key, value in service_env(compose).items():
        match = INTERPOLATION.match(str(value))
        hint = f"{key}: write it as ${{{key}:-default}} so .env can set it"
        assert match, hint
        assert match["name"] == key, hint
        out[key] = match["default"]
    return out


def test_compose_sets_only_settings_that_differ_from_the_defaults(compose: dict[str, Any]) -> None:
    values = {field_name(key): value for key, value in defaults(compose).items()}
    unknown = set(values) - SETTINGS_FIELDS
    assert not unknown, f"not fields of motivnet_serve.settings.Settings: {sorted(unknown)}"
    assert values == CONTAINER_VALUES, "docker-compose.yml sets what a container needs, nothing else"
    assert_not_defaults(values)


def test_the_service_reads_only_its_settings_file(compose: dict[str, Any]) -> None:
    """Compose's .env (ports, image, the Grafana password) fills in ${...} and reaches no container whole."""
    assert compose["services"]["motivnet"]["env_file"] == [{"path": "motivnet.env", "required": False}]
    for name, service in compose["services"].items():
        files = [entry["path"] if isinstance(entry, dict) else entry for entry in service.get("env_file", [])]
        assert ".env" not in files, f"{name} would receive every variable of .env"


def test_the_settings_file_holds_only_settings() -> None:
    """motivnet.env.example: every line a comment or blank, each variable it names a setting."""
    lines = (REPO / "motivnet.env.example").read_text().splitlines()
    assert all(not line or line.startswith("#") for line in lines)
    named = {line[2:].split("=")[0] for line in lines if line.startswith("# MOTIVNET_") and "=" in line}
    assert named == {env_name(name) for name in SETTINGS_FIELDS}


def test_env_example_changes_no_setting_until_a_line_is_uncommented(env_example: dict[str, str]) -> None:
    """Its settings part is generated (tests/cli/test_settings_docs.py): every setting, commented out."""
    assert not [key for key in env_example if key.startswith("MOTIVNET_")]


def test_other_env_example_variables_are_used(env_example: dict[str, str]) -> None:
    text = (REPO / "docker-compose.yml").read_text() + (REPO / "docker-compose.cpu.yml").read_text()
    for key in env_example:
        if not key.startswith("MOTIVNET_"):
            assert "${" + key in text, f".env.example: {key} is used nowhere"


def test_gpu_is_reserved_the_current_way(compose: dict[str, Any]) -> None:
    devices = compose["services"]["motivnet"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "runtime" not in compose["services"]["motivnet"], "runtime: nvidia is the legacy way"


def test_model_folder_is_mounted_read_only_into_the_image_store(compose: dict[str, Any]) -> None:
    (volume,) = [volume for volume in compose["services"]["motivnet"]["volumes"] if volume["type"] == "bind"]
    assert volume["read_only"] is True
    assert volume["target"] == CONTAINER_VALUES["model_dir"]
    assert volume["target"].startswith(CONTAINER_VALUES["model_store"] + "/")
    assert volume["bind"]["create_host_path"] is False, "a missing folder must fail, not mount empty"


def test_compile_cache_is_a_named_volume_at_the_configured_path(compose: dict[str, Any]) -> None:
    (volume,) = [volume for volume in compose["services"]["motivnet"]["volumes"] if volume["type"] == "volume"]
    assert volume["target"] == CONTAINER_VALUES["compile_cache_dir"]
    assert not volume.get("read_only")
    assert volume["source"] in compose["volumes"], "a named volume outlives the container"


def test_healthcheck_waits_for_ready_long_enough(compose: dict[str, Any]) -> None:
    check = compose["services"]["motivnet"]["healthcheck"]
    assert check["test"] == ["CMD", "python", "/opt/motivnet/healthcheck.py"]
    probe = (REPO / "docker" / "healthcheck.py").read_text()
    assert '"/health/ready"' in probe
    assert "/health/ready" in ROUTES
    assert seconds(check["start_period"]) >= 180, "4.6 GB load + warm-up takes 1-2 minutes, more on slow disks"
    assert seconds(check["timeout"]) < seconds(check["interval"])


def test_restart_and_graceful_drain(compose: dict[str, Any]) -> None:
    service = compose["services"]["motivnet"]
    assert service["restart"] == "unless-stopped"
    assert service["init"] is True, "tini forwards SIGTERM and reaps children"
    settings = effective_settings(defaults(compose))
    timeout_s = settings.request_timeout_ms / 1000
    assert seconds(service["stop_grace_period"]) >= timeout_s + 15, "a queued request may wait the full timeout"
    drain_s = settings.connections.drain_timeout_s
    assert seconds(service["stop_grace_period"]) >= drain_s + 5, "the server must exit on its own before SIGKILL"


def test_port_published_from_the_setting(compose: dict[str, Any]) -> None:
    ports = compose["services"]["motivnet"]["ports"]
    assert ports == [
        "${HOST_BIND:-127.0.0.1}:${HOST_PORT:-8000}:${MOTIVNET_PORT:-8000}",
        "${HOST_BIND:-127.0.0.1}:${GRPC_HOST_PORT:-8001}:${MOTIVNET_GRPC_PORT:-8001}",
    ], "this host only by default; gRPC on the port the service's setting names"


def test_monitoring_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "profiles" not in services["motivnet"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
        assert ":latest" not in services[name]["image"]
        assert ":" in services[name]["image"]
        for port in services[name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name}: keep dashboards off public interfaces by default"


def test_cpu_variant_drops_the_gpu_and_serves_the_bundled_model(compose_cpu: dict[str, Any]) -> None:
    service = compose_cpu["services"]["motivnet"]
    env = service["environment"]
    assert env["MOTIVNET_DEVICE"] == "cpu"
    assert env["MOTIVNET_MODEL_DIR"].startswith(CONTAINER_VALUES["model_store"] + "/")
    assert env["MOTIVNET_MODEL_DIR"] != CONTAINER_VALUES["model_dir"]
    bundled = env["MOTIVNET_MODEL_DIR"].removeprefix(CONTAINER_VALUES["model_store"] + "/")
    assert (REPO / "model_store" / bundled / "model.json").is_file(), f"no bundled model folder {bundled}"
    baked = f"model_store/{bundled}/model.json {env['MOTIVNET_MODEL_DIR']}/model.json"
    assert baked in (REPO / "docker" / "Dockerfile").read_text(), "the image must carry the CPU model's folder"
    assert {field_name(key) for key in env} <= SETTINGS_FIELDS
    assert_not_defaults({field_name(key): value for key, value in env.items()})
    assert service["deploy"]["resources"]["reservations"]["devices"] == Reset("!reset", [])
    assert service["volumes"] == Reset("!reset", [])


def compose_cli() -> list[str] | None:
    tool = find_tool("docker-compose")
    if tool:
        return [tool]
    docker = shutil.which("docker")
    if docker and run_tool([docker, "compose", "version"]).returncode == 0:
        return [docker, "compose"]
    return None


@pytest.mark.parametrize("files", [["docker-compose.yml"], ["docker-compose.yml", "docker-compose.cpu.yml"]])
def test_docker_compose_accepts_the_files(files: list[str]) -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("SKIP docker compose: not installed (scripts/deploy-tools.sh fetches it)")
    argv = [*cli, "--project-directory", str(REPO), "--env-file", str(REPO / ".env.example")]
    for file in files:
        argv += ["-f", str(REPO / file)]
    result = run_tool([*argv, "--profile", "monitoring", "config", "--format", "json"])
    assert result.returncode == 0, result.stderr
    merged = json.loads(result.stdout)
    service = merged["services"]["motivnet"]
    gpu = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
    assert bool(gpu) == ("docker-compose.cpu.yml" not in files)
    assert {"motivnet", "prometheus", "grafana"} <= merged["services"].keys()
