"""`bench/gpu.sh --smoke`: the GPU report's default sections run end to end on the CPU with the tiny model,
so the script the next GPU session runs is known to work before device time is spent on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.photos import photo_paths


@pytest.mark.server
@pytest.mark.slow
def test_the_gpu_report_runs_end_to_end_on_a_cpu(tmp_path: Path):
    photos = [ROOT / "bench" / "data" / "astronaut.jpg", photo_paths()["multi_face.jpg"]]
    runs_before = set((ROOT / "docs" / "gpu-runs").iterdir())
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(tmp_path))
    command = ["bash", "bench/gpu.sh", "--smoke", "--photos", *map(str, photos)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_report.json").read_text())
    deployment = report["deployment"]
    for step in ("cold_start", "warm_start", "served_detect", "concurrency_1", "saturation"):
        assert "error" not in deployment[step], deployment[step]
    assert deployment["served_detect"]["faces_per_image"] == 5
    assert deployment["served_detect"]["load"]["errors"] == 0
    assert deployment["saturation"]["errors"] == 0
    assert [r["batch_size"] for r in report["bare_forward"]["results"]] == [1, 2]
    fp8 = report["fp8"]
    assert fp8["crops"] == 6, "one face in the astronaut photo, five in the group photo"
    assert fp8["fp8_vs_fp32"]["max_abs_dp"] < 0.01
    assert fp8["fp8_vs_fp32"]["top1_agreement"] == 1.0
    assert report["stream"]["errors"] == 0
    assert report["stream"]["fps_per_session"] > 0
    table = (tmp_path / "gpu_table.txt").read_text()
    assert "served with detection: 5 faces/photo" in table
    assert "concurrency 1:" in table
    assert "fp8:" in table
    assert "live stream at 5 frames/s:" in table
    assert set((ROOT / "docs" / "gpu-runs").iterdir()) == runs_before, "a smoke run is not a GPU run"
