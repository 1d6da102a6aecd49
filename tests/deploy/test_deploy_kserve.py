"""deploy/k8s/kserve: a ServingRuntime and an InferenceService (protocol v2) that run this image as the
Kubernetes manifests do. The custom resources are checked against JSON schemas of KServe's API
(kserve_schema.py), their containers against the real core/v1 schema, both for the Kubernetes versions the
other manifests claim."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from deploykit import ROUTES, effective_settings, load_yaml_all
from kserve_schema import INFERENCE_SERVICE, SERVING_RUNTIME
from test_deploy_k8s import KUBERNETES_VERSIONS, container, manifests

MANIFEST = "deploy/k8s/kserve/motivnet.yaml"
V2_ROUTES = {"/v2/health/ready", "/v2/health/live"}


def resources() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in load_yaml_all(MANIFEST)}


def runtime_container() -> dict[str, Any]:
    (main,) = resources()["ServingRuntime"]["spec"]["containers"]
    return main


def test_resources_match_kserves_api() -> None:
    found = resources()
    assert set(found) == {"ServingRuntime", "InferenceService"}
    jsonschema.validate(found["ServingRuntime"], SERVING_RUNTIME)
    jsonschema.validate(found["InferenceService"], INFERENCE_SERVICE)


def test_the_schemas_refuse_what_kserve_refuses() -> None:
    service = resources()["InferenceService"]
    wrong = {
        **service,
        "spec": {"predictor": {"model": {"modelFormat": {"name": "motivnet"}, "protocolVersion": "v3"}}},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, INFERENCE_SERVICE)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**service, "spec": {"predictor": {"modle": {}}}}, INFERENCE_SERVICE)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_runtime_container_is_a_valid_kubernetes_container(version: str | None) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    version = version or kubernetes_validate.latest_version()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "check"},
        "spec": {"containers": [runtime_container()]},
    }
    kubernetes_validate.validate(pod, version, strict=True)


def test_inference_service_runs_this_runtime_with_protocol_v2() -> None:
    runtime, service = resources()["ServingRuntime"], resources()["InferenceService"]
    model = service["spec"]["predictor"]["model"]
    assert model["protocolVersion"] == "v2"
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in {entry["name"] for entry in runtime["spec"]["supportedModelFormats"]}
    assert {"v2", "grpc-v2"} <= set(runtime["spec"]["protocolVersions"])


def test_runtime_container_serves_what_the_ports_and_probe_say() -> None:
    main = runtime_container()
    env = {entry["name"]: entry["value"] for entry in main["env"]}
    settings = effective_settings(env)
    assert settings.model_dir == "/mnt/models", "KServe's storage initializer puts the model there"
    (port,) = main["ports"]
    assert (port["name"], port["containerPort"]) == ("http1", settings.port)
    assert main["readinessProbe"]["httpGet"]["path"] in V2_ROUTES
    assert settings.grpc_port == 8001
    assert "/predict" in ROUTES


def test_runtime_container_is_the_deployments_image_and_hardening() -> None:
    main, pods = runtime_container(), container()
    assert main["image"].split(":")[0] == pods["image"]
    assert main["resources"] == pods["resources"]
    runtime_env = {entry["name"]: entry["value"] for entry in main["env"]}
    # The pods' settings, but the model where KServe puts it and no compile cache (no volume for it here).
    expected = manifests()["ConfigMap"]["data"] | {
        "MOTIVNET_MODEL_DIR": "/mnt/models",
        "MOTIVNET_COMPILE_CACHE_DIR": "",
    }
    assert runtime_env == expected
    assert main["securityContext"]["capabilities"] == {"drop": ["ALL"]}
