"""deploy/k8s: schema-valid manifests, probes on real routes, a drainable shutdown, the HPA's metric chain."""

from __future__ import annotations

import re
from typing import Any

import pytest
from deploykit import (
    METRICS,
    REPO,
    ROUTES,
    SETTINGS_FIELDS,
    assert_not_defaults,
    effective_settings,
    field_name,
    load_yaml,
    load_yaml_all,
    metrics_in,
)

K8S = "deploy/k8s"
# The oldest Kubernetes we claim (autoscaling/v2 HPA behaviour, startup probes) and the newest schema we have.
KUBERNETES_VERSIONS = ("1.29.0", None)
CRD_KINDS = {"ServiceMonitor"}


def kustomization() -> dict[str, Any]:
    return load_yaml(f"{K8S}/kustomization.yaml")


def manifests() -> dict[str, dict[str, Any]]:
    """kind -> the one resource of that kind the kustomization applies."""
    found = {}
    for resource in kustomization()["resources"]:
        for doc in load_yaml_all(f"{K8S}/{resource}"):
            assert doc["kind"] not in found, f"two {doc['kind']}s"
            found[doc["kind"]] = doc
    return found


def container() -> dict[str, Any]:
    (main,) = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return main


def test_kustomization_lists_every_manifest() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {path.name for path in (REPO / K8S).glob("*.yaml")}
    assert listed == on_disk - {"kustomization.yaml", "prometheus-adapter-values.yaml"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_against_the_api_schemas(version: str | None) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    version = version or kubernetes_validate.latest_version()
    for kind, resource in manifests().items():
        if kind not in CRD_KINDS:
            kubernetes_validate.validate(resource, version, strict=True)


def test_pods_get_one_gpu_and_the_model_read_only() -> None:
    main = container()
    assert main["resources"]["limits"]["nvidia.com/gpu"] == 1
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    claim = manifests()["PersistentVolumeClaim"]["metadata"]["name"]
    assert volumes["model-store"]["persistentVolumeClaim"] == {"claimName": claim, "readOnly": True}
    mounts = {mount["name"]: mount for mount in main["volumeMounts"]}
    assert set(mounts) == set(volumes)
    mount = mounts["model-store"]
    assert mount["readOnly"] is True
    settings = manifests()["ConfigMap"]["data"]
    assert mount["mountPath"] == settings["MOTIVNET_MODEL_DIR"]
    assert mount["mountPath"].startswith(settings["MOTIVNET_MODEL_STORE"] + "/")


def test_compile_cache_is_a_writable_shared_volume_at_the_configured_path() -> None:
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == "compile-cache"]
    assert volume["persistentVolumeClaim"]["claimName"] == manifests()["PersistentVolumeClaim"]["metadata"]["name"]
    assert not volume["persistentVolumeClaim"].get("readOnly")
    (mount,) = [mount for mount in container()["volumeMounts"] if mount["name"] == "compile-cache"]
    assert mount["mountPath"] == manifests()["ConfigMap"]["data"]["MOTIVNET_COMPILE_CACHE_DIR"]
    assert not mount.get("readOnly")
    assert mount["subPath"]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"], "the server must write it"


def test_configmap_sets_only_settings_that_differ_from_the_defaults() -> None:
    config = manifests()["ConfigMap"]
    data = config["data"]
    assert {field_name(key) for key in data} <= SETTINGS_FIELDS
    assert container()["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    assert all(isinstance(value, str) for value in data.values()), "ConfigMap values must be strings"
    assert_not_defaults({field_name(key): value for key, value in data.items()})
    parsed = effective_settings(data)
    assert parsed.host == "0.0.0.0"
    assert parsed.device == "cuda"


def test_compose_and_configmap_agree(compose: dict[str, Any]) -> None:
    environment = compose["services"]["motivnet"]["environment"]
    fallbacks = {key: value.split(":-", 1)[1].removesuffix("}") for key, value in environment.items()}
    assert manifests()["ConfigMap"]["data"] == fallbacks


def test_service_links_cannot_shadow_our_settings() -> None:
    # A Service named "motivnet" injects MOTIVNET_PORT=tcp://... into pods that keep service links.
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    assert pod["enableServiceLinks"] is False


def test_probes_point_at_real_routes() -> None:
    main = container()
    port_names = {port["name"] for port in main["ports"]}
    expected = {"startupProbe": "/health/ready", "readinessProbe": "/health/ready", "livenessProbe": "/health/live"}
    for probe, path in expected.items():
        get = main[probe]["httpGet"]
        assert get["path"] == path, probe
        assert path in ROUTES, probe
        assert get["port"] in port_names, probe
    startup = main["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300, "loading 4.6 GB + warm-up takes minutes"


def test_shutdown_leaves_time_to_drain() -> None:
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    command = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = int(command[1])
    timeout_s = effective_settings(manifests()["ConfigMap"]["data"]).request_timeout_ms / 1000
    assert pre_stop >= 5
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + timeout_s + 10


def test_service_exposes_the_container_ports() -> None:
    service = manifests()["Service"]
    deployment = manifests()["Deployment"]
    selector = service["spec"]["selector"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    ports = {port["targetPort"]: port for port in service["spec"]["ports"]}
    assert set(ports) == {p["name"] for p in container()["ports"]} == {"http", "grpc"}


def test_grpc_port_is_the_one_the_server_listens_on() -> None:
    """The container's `grpc` port is the ConfigMap's MOTIVNET_GRPC_PORT, and the Service speaks HTTP/2 to it."""
    (grpc_port,) = [port for port in container()["ports"] if port["name"] == "grpc"]
    assert grpc_port["containerPort"] == effective_settings(manifests()["ConfigMap"]["data"]).grpc_port
    (service_port,) = [port for port in manifests()["Service"]["spec"]["ports"] if port["name"] == "grpc"]
    assert service_port["appProtocol"] == "kubernetes.io/h2c"


def test_service_monitor_scrapes_metrics_from_the_service() -> None:
    monitor = manifests()["ServiceMonitor"]
    service = manifests()["Service"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert "/metrics" in ROUTES
    for duration in ("interval", "scrapeTimeout"):
        assert re.fullmatch(r"\d+(ms|s|m|h)", endpoint[duration]), duration


def adapter_rules() -> list[dict[str, Any]]:
    values = load_yaml(f"{K8S}/prometheus-adapter-values.yaml")
    return values["rules"]["custom"]


def test_hpa_scales_the_deployment_on_queue_depth() -> None:
    hpa = manifests()["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", manifests()["Deployment"]["metadata"]["name"])
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["target"]["type"] == "AverageValue"
    exposed = {rule["name"]["as"] for rule in adapter_rules()}
    assert metric["pods"]["metric"]["name"] in exposed, "the adapter must expose the metric the HPA reads"
    assert hpa["spec"]["minReplicas"] >= 1
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]


def test_adapter_rules_read_our_metrics_per_pod() -> None:
    for rule in adapter_rules():
        assert metrics_in(rule["seriesQuery"]) == {"motivnet_queue_depth"}
        assert metrics_in(rule["seriesQuery"]) <= METRICS
        assert re.fullmatch(rule["name"]["matches"], "motivnet_queue_depth")
        assert rule["resources"]["overrides"] == {
            "namespace": {"resource": "namespace"},
            "pod": {"resource": "pod"},
        }
        for placeholder in ("<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"):
            assert placeholder in rule["metricsQuery"]


def test_hardened_like_the_compose_service(compose: dict[str, Any]) -> None:
    """The settings tests/deploy/test_compose_stack.py proves on a real engine, here for the pods."""
    service = compose["services"]["motivnet"]
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is service["read_only"] is True
    assert security["capabilities"] == {"drop": service["cap_drop"]} == {"drop": ["ALL"]}
    assert security["allowPrivilegeEscalation"] is False
    assert "no-new-privileges:true" in service["security_opt"]
    assert manifests()["Deployment"]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    pod_volumes = {
        volume["name"]: volume for volume in manifests()["Deployment"]["spec"]["template"]["spec"]["volumes"]
    }
    writable = {mount["mountPath"] for mount in container()["volumeMounts"] if "emptyDir" in pod_volumes[mount["name"]]}
    assert writable == {entry.split(":")[0] for entry in service["tmpfs"]}, "the same writable places"
