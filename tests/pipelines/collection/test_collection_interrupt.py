"""An `analyze` process stopped mid-run (kill -9, Ctrl-C), then the same command again: every source once,
every analysed frame of every video once, no row twice. The stop comes once parts are on disk (polled with a
deadline), never after a guessed sleep."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from motivnet_serve.pipelines.collection.parts import TEMPORARY, Output
from tests.clips import group_clip
from tests.conftest import ROOT
from tests.photos import photo_paths
from tests.pipelines.collection.conftest import MINI, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PHOTOS = 24
CLIPS = 2
CLIP_SECONDS = 2.0
CLIP_RATE = 25


def collection(root: Path) -> Path:
    """Photos (copies of real ones under many names) and clips, so a run lasts long enough to be cut."""
    photos = photo_paths()
    names = ["single_face.jpg", "multi_face.jpg", "0-f15-hao-ph.jpg", "astronaut.png"]
    folder = root / "in"
    folder.mkdir()
    for index in range(PHOTOS):
        name = names[index % len(names)]
        (folder / f"{index:03d}_{name}").write_bytes(photos[name].read_bytes())
    clip = group_clip(seconds=CLIP_SECONDS, rate=CLIP_RATE, size=(320, 180))
    for index in range(CLIPS):
        (folder / f"clip_{index}.mp4").write_bytes(clip)
    return folder


def command(folder: Path, out: Path) -> list[str]:
    args = ["analyze", str(folder), "--out", str(out), "--fps", "0", "--part-sources", "2", "--no-progress"]
    return [sys.executable, "-m", "motivnet_serve", *args, "--model-dir", str(MINI)]


def start_and_stop_after_parts(folder: Path, out: Path, how: signal.Signals, parts: int = 2) -> subprocess.Popen:
    """Starts the job and sends `how` once `parts` parts are committed, while it still runs."""
    process = subprocess.Popen(
        command(folder, out), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while len(list((out / "sources").glob("part-*.parquet"))) < parts:
        assert process.poll() is None, f"the job ended before it could be stopped: {process.communicate()}"
        assert time.monotonic() < deadline, "no part was written in time"
        time.sleep(0.02)
    assert process.poll() is None, "the job finished before it could be stopped; give it more to do"
    process.send_signal(how)
    process.wait(timeout=120)
    return process


def assert_each_once(out: Path, folder: Path) -> None:
    output = Output(out)
    sources = output.read("sources").to_pylist()
    assert sorted(row["source"] for row in sources) == sorted(str(path) for path in folder.iterdir())
    assert all(row["status"] == "ok" for row in sources), [row for row in sources if row["status"] != "ok"]
    faces = output.read("faces").to_pylist()
    keys = Counter((row["source"], row["frame"], row["face"]) for row in faces)
    assert max(keys.values()) == 1, "a face row is duplicated"
    per_source = Counter(row["source"] for row in faces)
    for row in sources:
        assert per_source[row["source"]] == row["faces"]
        if row["kind"] == "video":
            assert row["frames"] == CLIP_SECONDS * CLIP_RATE  # --fps 0: every frame analysed, once
            frames = {face["frame"] for face in faces if face["source"] == row["source"]}
            assert frames <= set(range(row["frames"]))
    tracks = Counter((row["source"], row["track_id"]) for row in output.read("tracks").to_pylist())
    assert max(tracks.values()) == 1, "a track row is duplicated"


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_a_stopped_run_goes_on_where_it_stopped_and_each_frame_lands_once(tmp_path, bundled_weights, how):  # noqa: ARG001
    folder = collection(tmp_path)
    out = tmp_path / "out"
    stopped = start_and_stop_after_parts(folder, out, how)
    if how == signal.SIGINT:
        assert stopped.returncode == 130
        assert "run the same command again" in stopped.stdout.read()
        leftovers = [path for path in out.rglob("*") if path.name.endswith(TEMPORARY)]
        assert leftovers == []  # Ctrl-C lets the part being written finish: nothing half-made
    output = Output(out)
    done = output.open()
    output.close()  # the rerun takes the folder's lock
    assert 0 < len(done) < PHOTOS + CLIPS
    again = run_cli(*command(folder, out)[3:], timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{len(done)} already done" in again.stdout
    assert_each_once(out, folder)
