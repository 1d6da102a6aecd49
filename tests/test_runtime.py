"""CPU sharing: a container's CPU quota caps the detection workers and torch's threads, as the cores do."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from service.runtime import cgroup_cpu_quota, resolve_detect_workers


@pytest.mark.parametrize(
    ("cpu_max", "cpus"),
    [("200000 100000\n", 2), ("150000 100000\n", 2), ("50000 100000\n", 1), ("max 100000\n", None), ("", None)],
)
def test_cgroup_quota_in_whole_cpus(tmp_path: Path, cpu_max: str, cpus: int | None):
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    assert cgroup_cpu_quota(path) == cpus


def test_no_cgroup_file_means_no_quota(tmp_path: Path):
    assert cgroup_cpu_quota(tmp_path / "absent") is None


def test_workers_asked_for_are_kept_and_a_gpu_gets_one():
    assert resolve_detect_workers(3, torch.device("cpu")) == 3
    assert resolve_detect_workers(0, torch.device("cuda")) == 1
    assert 1 <= resolve_detect_workers(0, torch.device("cpu")) <= 4
