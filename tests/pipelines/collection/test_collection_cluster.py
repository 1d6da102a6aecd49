"""`analyze --ray` on a real Ray cluster of three nodes (a head and two workers, separate processes, in private
namespaces on loopback): its tables equal the local run's for the same photos and video, and a worker node
killed (`kill -9` of its raylet) while it classifies does not stop the job, nor make a frame appear twice.
Every command runs as a user would type it, the CLI included."""

from __future__ import annotations

import math
import os
import shutil
import signal
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from motivnet_serve.cli.collection import analyze
from motivnet_serve.pipelines.collection.parts import Output
from motivnet_serve.settings import Settings
from tests.clips import group_clip
from tests.conftest import MODEL_STORE, ROOT
from tests.photos import photo_paths
from tests.pipelines.collection.ray_cluster import RayCluster, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

MINI = MODEL_STORE / "mini-xception"
PHOTOS = ("single_face.jpg", "multi_face.jpg", "astronaut.png", "coffee.png")
FPS = "5"
KEYS = {"faces": ("source", "frame", "face"), "tracks": ("source", "track_id"), "sources": ("source",)}
UNTIMED = {"seconds"}
HEALTH_CHECKS = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "5"}
"""A dead node is declared dead after 5 missed checks a second apart (Ray's default: 3 s apart), so the killed
node's work is rescheduled sooner; slow enough that a loaded machine's late answer is not a death."""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, bundled_weights) -> Path:  # noqa: ARG001 - the detector's weights come first
    folder = tmp_path_factory.mktemp("inputs")
    for name in PHOTOS:
        shutil.copy(photo_paths()[name], folder / name)
    (folder / "group.mp4").write_bytes(group_clip(seconds=3.0))
    (folder / "broken.mp4").write_bytes(group_clip(seconds=1.0)[:2000])
    return folder


@pytest.fixture(scope="module")
def local(inputs, tmp_path_factory) -> Output:
    out = tmp_path_factory.mktemp("local")
    settings = Settings(model_dir=str(MINI), device="cpu")
    from motivnet_serve.pipelines.collection.job import JobOptions
    from motivnet_serve.pipelines.collection.rows import AnalyzeOptions

    job = JobOptions(analyze=AnalyzeOptions(fps=float(FPS)), progress=False)
    analyze([str(inputs)], out, job=job, settings=settings)
    return Output(out)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    temp = Path(tmp_path_factory.mktemp("ray", numbered=True))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    env |= {"MOTIVNET_MODEL_DIR": str(MINI), "MOTIVNET_DEVICE": "cpu", "RAY_TMPDIR": str(temp)}
    env |= HEALTH_CHECKS | {"RAY_AUTH_MODE": "disabled"}  # loopback in a private namespace: no token needed
    ray = RayCluster(env, temp)
    try:
        ray.start()
        ray.add_worker(cpus=3)  # two actors and a task still fit on one node once the other is killed
        ray.add_worker(cpus=3)
        yield ray
    finally:
        ray.stop()


def analyze_command(inputs: Path, out: Path, cluster: RayCluster) -> list[str]:
    ray = ["--ray", cluster.address, "--actors", "2"]
    return [sys.executable, "-m", "motivnet_serve", "analyze", str(inputs), "--out", str(out), "--fps", FPS, *ray]


def test_ray_tables_equal_the_local_run(inputs, local, cluster, tmp_path):
    out = tmp_path / "ray"
    run = cluster.run([*analyze_command(inputs, out, cluster), "--no-progress"], timeout=300)
    assert run.returncode == 1, run.stderr[-3000:]  # broken.mp4 fails, as it does locally
    assert "6 sources analysed (5 ok, 1 failed)" in run.stdout
    for name in KEYS:
        assert_same_table(Output(out).read(name), local.read(name), name)
    assert Output(out).read("tracks").num_rows > 1


def test_a_worker_node_killed_mid_run_loses_nothing_and_repeats_nothing(inputs, local, cluster, tmp_path):
    out = tmp_path / "ray"
    process = cluster.popen(analyze_command(inputs, out, cluster), tmp_path / "analyze.log")
    try:
        victim = wait_for(lambda: busy_worker(cluster, process), "an actor classifying on a worker node", 240)
        os.kill(victim, signal.SIGKILL)
        assert process.wait(timeout=300) == 1, (tmp_path / "analyze.log").read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    for name, key in KEYS.items():
        keys = Output(out).read(name).select(list(key)).to_pylist()
        assert len(keys) == len(set(map(tuple, (row.values() for row in keys)))), f"{name}: a row twice"
        assert sorted(map(str, keys)) == sorted(map(str, local.read(name).select(list(key)).to_pylist())), name


def busy_worker(cluster: RayCluster, process) -> int:
    """The raylet of a worker node whose classifying actor is in a call now, or 0."""
    assert process.poll() is None, "the job ended before a worker node was seen classifying"
    return next((raylet for raylet in cluster.workers if cluster.busy_actor_under(raylet)), 0)


def assert_same_table(got: pa.Table, want: pa.Table, name: str) -> None:
    """Same rows (in key order), strings and integers equal, floats within float tolerance (the model sees
    a frame in another batch on the cluster)."""
    order = [(column, "ascending") for column in KEYS[name]]
    rows = got.sort_by(order).to_pylist()
    expected = want.sort_by(order).to_pylist()
    assert len(rows) == len(expected), name
    for row, wanted in zip(rows, expected):
        for column, value in wanted.items():
            if column in UNTIMED:
                continue
            if isinstance(value, float):
                assert math.isclose(row[column], value, rel_tol=1e-4, abs_tol=1e-5), (name, column, row, wanted)
            else:
                assert row[column] == value, (name, column, row, wanted)
