"""`motivnet-serve export --format onnx` as a user runs it: the installed console script, real photos, real files."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from tests.conftest import ROOT
from tests.photos import photo_paths

pytestmark = pytest.mark.slow  # starts Python processes that import torch and export networks

SCRIPT = Path(sys.executable).parent / "motivnet-serve"
PARITY = re.compile(r"parity (\S+): (\d+) rows: max \|dp\| (\S+), top-1 agreement (\S+)%")


def run_export(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), "export", *args], capture_output=True, text=True, cwd=cwd, timeout=240)


@pytest.mark.timeout(300)
def test_export_with_detector_repository_and_parity_check(bundled_weights, tmp_path):
    photos = photo_paths()
    repo = tmp_path / "repo"
    result = run_export(
        "--format", "onnx", "--model-dir", str(bundled_weights / "mini-xception"), "--with-detector",
        "--out", str(tmp_path / "mini.onnx"), "--triton-repo", str(repo),
        "--check", str(photos["multi_face.jpg"]), str(photos["single_face.jpg"]),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    parity = {name: (int(rows), float(dp), float(agree)) for name, rows, dp, agree in PARITY.findall(result.stdout)}
    assert parity["mini-xception-fer2013"][0] == 6  # faces in the two photos
    assert parity.keys() == {"mini-xception-fer2013", "retinaface-mobilenet"}
    assert all(dp < 1e-4 and agree == 100.0 for _, dp, agree in parity.values())
    assert onnx.load(str(tmp_path / "mini.onnx")).graph.output[0].name == "probabilities"
    assert (tmp_path / "retinaface-mobilenet.onnx").is_file()
    assert (repo / "mini-xception-fer2013" / "1" / "model.onnx").is_file()
    assert (repo / "retinaface-mobilenet" / "config.pbtxt").is_file()


def test_user_mistakes_exit_2_with_one_line(bundled_weights, tmp_path):
    folder = str(bundled_weights / "mini-xception")
    too_old = run_export("--format", "onnx", "--model-dir", folder, "--opset", "13", cwd=tmp_path)
    assert too_old.returncode == 2
    assert too_old.stderr.strip().splitlines()[-1] == "error: opset 13: the emotion models export at opset 18 or above"
    no_weights = run_export("--format", "onnx", "--model-dir", folder, "--no-weights", "--check", "x.jpg", cwd=tmp_path)
    assert no_weights.returncode == 2
    assert "--check needs the weights" in no_weights.stderr


def test_the_service_starts_without_the_onnx_extra():
    """The command line (and so `serve`) imports neither onnx nor ONNX Runtime until `export` runs."""
    code = (
        "import sys, motivnet_serve.cli.main; print(sorted({'onnx', 'onnxruntime', 'onnxscript'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr


def test_the_script_without_a_command_still_serves(tmp_path):
    """`motivnet-serve [OPTIONS]` is `serve [OPTIONS]`: here it stops at the missing model folder, as serve does."""
    result = subprocess.run(
        [str(SCRIPT), "--model-dir", str(tmp_path / "absent")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: {tmp_path / 'absent' / 'model.json'} not found: a model folder needs a model.json"
    )
