"""The /tmp each deployment gives holds what the settings' limits allow there at once.

Videos spool whole to /tmp and photo uploads past 1 MiB do too (`LimitOptions.max_temp_bytes`); a /tmp smaller
than that fails uploads with ENOSPC under load, and a memory-backed one can get the pod evicted. Both the
compose tmpfs and the k8s emptyDir are read with the settings the same file (or its ConfigMap) sets.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from deploykit import SETTINGS_FIELDS, field_name, load_yaml, load_yaml_all

from motivnet_serve.settings import Settings

pytestmark = pytest.mark.timeout(30)

INTERPOLATION = re.compile(r"^\$\{[A-Z0-9_]+:-(?P<default>[^}]*)\}$")
COMPOSE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
K8S_UNITS = {"": 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "k": 1000, "M": 1000**2, "G": 1000**3}


def settings_from(env: dict[str, Any]) -> Settings:
    """The settings a container starts with: `${NAME:-default}` read as its default, other values as they are."""
    values = {}
    for key, value in env.items():
        match = INTERPOLATION.match(str(value))
        if key.startswith("MOTIVNET_") and field_name(key) in SETTINGS_FIELDS:
            values[field_name(key)] = match["default"] if match else value
    return Settings.from_flat(**values)


def compose_tmpfs_bytes(entries: list[str]) -> int:
    """`/tmp:size=1280m,mode=1777` -> bytes (Docker's tmpfs size takes b, k, m, g)."""
    (entry,) = [entry for entry in entries if entry.split(":")[0] == "/tmp"]
    size = re.search(r"size=(\d+)([bkmg]?)\b", entry.lower())
    assert size, f"/tmp has no size, so it may fill the host's memory: {entry}"
    return int(size[1]) * COMPOSE_UNITS[size[2]]


def k8s_quantity_bytes(quantity: str) -> int:
    """A Kubernetes quantity such as `1280Mi` or `2G` -> bytes."""
    parsed = re.fullmatch(r"(\d+)(Ki|Mi|Gi|k|M|G)?", quantity)
    assert parsed, f"not a quantity this test reads: {quantity!r}"
    return int(parsed[1]) * K8S_UNITS[parsed[2] or ""]


def need(settings: Settings) -> str:
    limits = settings.limits
    return (
        f"{limits.max_videos_in_flight} videos x {limits.max_video_bytes} B + "
        f"{limits.max_requests_in_flight} uploads x {limits.max_upload_bytes} B = {limits.max_temp_bytes} B"
    )


def test_compose_tmpfs_holds_what_the_limits_allow() -> None:
    service = load_yaml("docker-compose.yml")["services"]["motivnet"]
    settings = settings_from(service["environment"])
    given = compose_tmpfs_bytes(service["tmpfs"])
    assert given >= settings.limits.max_temp_bytes, f"compose /tmp is {given} B; the limits allow {need(settings)}"


def test_k8s_tmp_volume_holds_what_the_limits_allow() -> None:
    docs = {
        doc["kind"]: doc
        for doc in load_yaml_all("deploy/k8s/deployment.yaml") + load_yaml_all("deploy/k8s/configmap.yaml")
    }
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (main,) = pod["containers"]
    (mount,) = [mount for mount in main["volumeMounts"] if mount["mountPath"] == "/tmp"]
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]
    settings = settings_from(docs["ConfigMap"]["data"])
    given = k8s_quantity_bytes(volume["emptyDir"]["sizeLimit"])
    assert given >= settings.limits.max_temp_bytes, f"k8s /tmp is {given} B; the limits allow {need(settings)}"
    if volume["emptyDir"].get("medium") == "Memory":
        limit = k8s_quantity_bytes(main["resources"]["limits"]["memory"])
        assert given < limit / 4, "a memory-backed /tmp counts in the memory limit: leave the model most of it"


@pytest.mark.parametrize(
    ("entry", "expected"), [("/tmp:size=256m,mode=1777", 256 * 1024**2), ("/tmp:mode=1777,size=2g", 2 * 1024**3)]
)
def test_tmpfs_sizes_are_read_in_docker_units(entry: str, expected: int) -> None:
    assert compose_tmpfs_bytes([entry]) == expected


def test_the_old_256_mib_would_fail() -> None:
    """The check has teeth: the 256 MiB both files gave before did not hold one video and the photo uploads."""
    assert k8s_quantity_bytes("256Mi") < Settings().limits.max_temp_bytes
