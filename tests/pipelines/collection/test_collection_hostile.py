"""Bad inputs in a collection, each the kind the service already refuses (the bomb of tests/router/test_limits.py,
the clips of tests/clips.py): every one gets its `sources` row with the API's error code, the run goes on, the
exit status says some failed, memory stays bounded; `--strict` stops at the first."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from motivnet_serve.pipelines.collection.parts import Output
from tests.clips import declared_long, declared_size, group_clip
from tests.conftest import ROOT, encode
from tests.photos import photo_paths
from tests.pipelines.collection.conftest import MINI, run_cli
from tests.router.test_limits import bomb_gif

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

MAX_UPLOAD_BYTES = 400_000
BOMB_DECODED_BYTES = 8000 * 8000 * 3
"""What the bomb would take decoded (183 MiB), before any detection on it: the hostile run must stay below a
run on the one good photo by less than that (torch, the model and the detector take the rest, on both)."""
EXPECTED = {
    "bomb.gif": "image_too_large",
    "empty.jpg": "no_image",
    "notes.jpg": "unsupported_image",
    "truncated.jpg": "corrupt_image",
    "noise.png": "upload_too_large",
    "data.bin": "unsupported_image",
    "cut.mp4": "corrupt_video",
    "long.mkv": "video_too_long",
    "huge.mkv": "frame_too_large",
    "gone.jpg": "not_found",
    "single_face.jpg": None,
}


def hostile_folder(root) -> None:
    photo = photo_paths()["single_face.jpg"].read_bytes()
    clip = group_clip(seconds=1.0)
    noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    files = {
        "bomb.gif": bomb_gif(8000),
        "empty.jpg": b"",
        "notes.jpg": b"not a picture at all",
        "truncated.jpg": photo[: len(photo) // 2],
        "noise.png": encode(Image.fromarray(noise), "PNG"),
        "data.bin": os.urandom(2048),
        "cut.mp4": clip[: len(clip) // 2],
        "long.mkv": declared_long(hours=3),
        "huge.mkv": declared_size(8000, 5000),
        "single_face.jpg": photo,
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    (root / "list.csv").write_text("path\n" + "\n".join([*files, "gone.jpg"]) + "\n")


def analyze_measured(*args: str) -> tuple[subprocess.CompletedProcess, int]:
    """The CLI in a process that reports its own peak resident memory as its last line."""
    code = (
        "import resource, sys\nfrom motivnet_serve.cli.main import main\nstatus = main(sys.argv[1:])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\nsys.exit(status)"
    )
    env = {**os.environ, "MOTIVNET_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)}
    command = [sys.executable, "-c", code, "analyze", *args, "--model-dir", str(MINI), "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    return result, int(result.stdout.strip().splitlines()[-1])


def test_each_bad_input_gets_its_row_and_the_run_goes_on_in_bounded_memory(tmp_path, bundled_weights):  # noqa: ARG001
    hostile_folder(tmp_path)
    result, peak = analyze_measured(str(tmp_path / "list.csv"), "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    assert "11 sources analysed (1 ok, 10 failed)" in result.stdout
    assert "Traceback" not in result.stderr
    rows = {row["source"].rsplit("/", 1)[1]: row for row in Output(tmp_path / "out").read("sources").to_pylist()}
    assert {name: row["error_code"] for name, row in rows.items()} == EXPECTED
    assert all(row["error_message"] for row in rows.values() if row["status"] == "failed")
    assert rows["single_face.jpg"]["status"] == "ok"
    assert rows["single_face.jpg"]["faces"] == 1
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "single_face.jpg").write_bytes((tmp_path / "single_face.jpg").read_bytes())
    baseline, baseline_peak = analyze_measured(str(tmp_path / "good"), "--out", str(tmp_path / "good-out"))
    assert baseline.returncode == 0, baseline.stderr
    assert peak - baseline_peak < BOMB_DECODED_BYTES, (
        f"peak RSS {peak / 2**20:.0f} MiB, {baseline_peak / 2**20:.0f} alone"
    )
    again = run_cli("analyze", str(tmp_path / "list.csv"), "--out", str(tmp_path / "out"), "--model-dir", str(MINI))
    assert again.returncode == 1  # nothing analysed again, but the folder still holds failures
    assert "0 sources analysed" in again.stdout
    assert "(10 of them failed)" in again.stdout


def test_strict_stops_at_the_first_failure(tmp_path, bundled_weights):  # noqa: ARG001
    photo = photo_paths()["single_face.jpg"].read_bytes()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a_broken.jpg").write_bytes(b"not a picture")
    for index in range(20):
        (tmp_path / "in" / f"z_{index:02d}.jpg").write_bytes(photo)
    result = run_cli(
        "analyze", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--strict", "--model-dir", str(MINI)
    )
    assert result.returncode == 1
    assert "stopped at the first failure" in result.stdout
    sources = Output(tmp_path / "out").read("sources").to_pylist()
    assert 1 <= len(sources) < 21
    assert any(row["error_code"] == "unsupported_image" for row in sources)
