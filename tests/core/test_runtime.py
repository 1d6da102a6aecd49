"""CPU sharing: a container's CPU quota caps the detection workers and torch's threads, as the cores do; the
forward takes the cores detection leaves, and each thread's torch thread count is its own. And every dtype
word the settings accept resolves to a torch dtype."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from motivnet_serve.core.runtime import (
    ThreadPolicy,
    cgroup_cpu_quota,
    resolve_detect_workers,
    resolve_dtype,
    use_threads,
)
from motivnet_serve.settings import DTYPES

WAIT_S = 30


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


def test_the_forward_takes_the_cores_running_detections_leave():
    policy = ThreadPolicy(cores=4, detect_workers=2, detect_threads=2)
    assert [policy.forward_threads(detecting) for detecting in (0, 1, 2, 3)] == [4, 2, 1, 1]
    assert "up to 4 torch thread(s)" in policy.describe()


def test_a_threads_torch_thread_count_is_its_own():
    """The batch worker's count must not change the detection workers' (nor theirs its): both set, then both
    run a parallel op and read back what they set."""
    both_set = threading.Barrier(2, timeout=WAIT_S)
    seen: dict[int, int] = {}

    def worker(count: int) -> None:
        use_threads(count)
        both_set.wait()
        torch.ones(256, 256).exp().sum()
        seen[count] = torch.get_num_threads()

    threads = [threading.Thread(target=worker, args=(count,)) for count in (1, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert seen == {1: 1, 3: 3}


@pytest.mark.parametrize("name", DTYPES)
def test_every_dtype_the_settings_accept_resolves(name: str):
    resolved = resolve_dtype(name, torch.device("cpu"))
    assert resolved == (torch.float32 if name == "auto" else getattr(torch, name))
