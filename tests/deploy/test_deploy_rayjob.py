"""deploy/k8s/ray/rayjob.yaml: the `analyze` job on KubeRay, checked without a cluster.

kubernetes-validate knows only the built-in kinds, so the RayJob is checked in two parts: its own fields
against a strict JSON schema written here from KubeRay's ray.io/v1 API (rayjob_types.go, raycluster_types.go;
only the fields this manifest uses, no others allowed, so a typo fails), and each pod template inside it
against the real Kubernetes schema, as a PodTemplate, strictly. Then what the job asks of our CLI: the
entrypoint parses as `analyze --ray`, and asks one actor per worker GPU.
"""

from __future__ import annotations

import shlex
from typing import Any

import jsonschema
import pytest
from deploykit import load_yaml_all

from motivnet_serve.cli.main import build_parser

RAYJOB = "deploy/k8s/ray/rayjob.yaml"
KUBERNETES_VERSIONS = ("1.29.0", None)
TEMPLATE = {"type": "object", "required": ["spec"]}  # checked as a PodTemplate by kubernetes-validate
START_PARAMS = {"type": "object", "additionalProperties": {"type": "string"}}


def strict(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


HEAD = strict({"rayStartParams": START_PARAMS, "template": TEMPLATE}, ("template",))
WORKER = strict(
    {
        "groupName": {"type": "string", "minLength": 1},
        "replicas": {"type": "integer", "minimum": 0},
        "minReplicas": {"type": "integer", "minimum": 0},
        "maxReplicas": {"type": "integer", "minimum": 0},
        "rayStartParams": START_PARAMS,
        "template": TEMPLATE,
    },
    ("groupName", "template"),
)
CLUSTER = strict(
    {
        "rayVersion": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
        "headGroupSpec": HEAD,
        "workerGroupSpecs": {"type": "array", "items": WORKER, "minItems": 1},
    },
    ("headGroupSpec",),
)
RAYJOB_SCHEMA = strict(
    {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayJob"},
        "metadata": strict({"name": {"type": "string"}, "labels": START_PARAMS}, ("name",)),
        "spec": strict(
            {
                "entrypoint": {"type": "string", "minLength": 1},
                "shutdownAfterJobFinishes": {"type": "boolean"},
                "ttlSecondsAfterFinished": {"type": "integer", "minimum": 0},
                "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
                "backoffLimit": {"type": "integer", "minimum": 0},
                "submissionMode": {"enum": ["K8sJobMode", "HTTPMode", "InteractiveMode"]},
                "rayClusterSpec": CLUSTER,
            },
            ("entrypoint", "rayClusterSpec"),
        ),
    },
    ("apiVersion", "kind", "metadata", "spec"),
)


def documents() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in load_yaml_all(RAYJOB)}


def rayjob() -> dict[str, Any]:
    return documents()["RayJob"]


def templates() -> dict[str, dict[str, Any]]:
    cluster = rayjob()["spec"]["rayClusterSpec"]
    found = {"head": cluster["headGroupSpec"]["template"]}
    return found | {group["groupName"]: group["template"] for group in cluster["workerGroupSpecs"]}


def test_rayjob_fields_are_kuberays():
    jsonschema.validate(rayjob(), RAYJOB_SCHEMA)


def test_the_strict_schema_refuses_a_misspelt_field():
    misspelt = rayjob() | {"spec": rayjob()["spec"] | {"shutdownAfterJobFinish": True}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(misspelt, RAYJOB_SCHEMA)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_pod_templates_and_the_claim_validate_against_the_api_schemas(version: str | None) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    version = version or kubernetes_validate.latest_version()
    for name, template in templates().items():
        pod_template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name}, "template": template}
        kubernetes_validate.validate(pod_template, version, strict=True)
    kubernetes_validate.validate(documents()["PersistentVolumeClaim"], version, strict=True)


def test_the_entrypoint_runs_analyze_on_the_cluster_with_an_actor_per_worker_gpu():
    spec = rayjob()["spec"]
    args = build_parser().parse_args(shlex.split(spec["entrypoint"])[3:])
    assert (args.command, args.ray) == ("analyze", "")  # the address: RAY_ADDRESS, set by `ray job submit`
    gpus = [group["replicas"] * worker_gpus(group["template"]) for group in spec["rayClusterSpec"]["workerGroupSpecs"]]
    assert args.actors * args.gpus_per_actor == sum(gpus)
    assert spec["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # the head only drives


def test_the_driver_writes_to_the_claim_and_workers_read_the_model_store():
    out = build_parser().parse_args(shlex.split(rayjob()["spec"]["entrypoint"])[3:]).out
    (head,) = templates()["head"]["spec"]["containers"]
    assert out in {mount["mountPath"] for mount in head["volumeMounts"]}
    claims = {volume["persistentVolumeClaim"]["claimName"] for volume in templates()["head"]["spec"]["volumes"]}
    assert documents()["PersistentVolumeClaim"]["metadata"]["name"] in claims
    (worker,) = templates()["gpu"]["spec"]["containers"]
    assert any(mount["readOnly"] for mount in worker["volumeMounts"] if mount["name"] == "model-store")


def worker_gpus(template: dict[str, Any]) -> int:
    (container,) = template["spec"]["containers"]
    return int(container["resources"]["limits"]["nvidia.com/gpu"])
