"""The fields of KServe's `ServingRuntime` (serving.kserve.io/v1alpha1) and `InferenceService`
(serving.kserve.io/v1beta1) that deploy/k8s/kserve uses, as JSON schemas written from KServe's API reference
(kserve.github.io, "Control Plane API": ServingRuntimeSpec, InferenceServiceSpec, PredictorSpec, ModelSpec,
PredictorExtensionSpec). kubernetes-validate has no schemas for custom resources, so these stand in for the
CRDs: unknown fields are refused, as the API server's structural schemas do, and enums are KServe's. The
containers inside are core/v1 Containers, which the test validates with kubernetes-validate itself.
"""

from __future__ import annotations

from typing import Any

NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": NAME, "namespace": NAME, "labels": {"type": "object"}, "annotations": {"type": "object"}},
    "additionalProperties": False,
}
PROTOCOLS = ["v1", "v2", "grpc-v1", "grpc-v2"]
MODEL_FORMAT = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
    "additionalProperties": False,
}


def resource(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
        "additionalProperties": False,
    }


SERVING_RUNTIME = resource(
    "serving.kserve.io/v1alpha1",
    "ServingRuntime",
    {
        "type": "object",
        "required": ["supportedModelFormats", "containers"],
        "properties": {
            "supportedModelFormats": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "autoSelect": {"type": "boolean"},
                        "priority": {"type": "integer", "minimum": 1},
                    },
                    "additionalProperties": False,
                },
            },
            "protocolVersions": {"type": "array", "items": {"enum": PROTOCOLS}, "uniqueItems": True},
            "multiModel": {"type": "boolean"},
            "disabled": {"type": "boolean"},
            "containers": {"type": "array", "minItems": 1, "items": {"type": "object"}},
        },
        "additionalProperties": False,
    },
)

INFERENCE_SERVICE = resource(
    "serving.kserve.io/v1beta1",
    "InferenceService",
    {
        "type": "object",
        "required": ["predictor"],
        "properties": {
            "predictor": {
                "type": "object",
                "required": ["model"],
                "properties": {
                    "minReplicas": {"type": "integer", "minimum": 0},
                    "maxReplicas": {"type": "integer", "minimum": 1},
                    "timeout": {"type": "integer", "minimum": 1},
                    "model": {
                        "type": "object",
                        "required": ["modelFormat"],
                        "properties": {
                            "modelFormat": MODEL_FORMAT,
                            "runtime": NAME,
                            "protocolVersion": {"enum": PROTOCOLS},
                            "storageUri": {"type": "string", "pattern": r"^(pvc|gs|s3|https?|hdfs|webhdfs|oci)://"},
                        },
                        "additionalProperties": False,
                    },
                },
                "additionalProperties": False,
            }
        },
        "additionalProperties": False,
    },
)
