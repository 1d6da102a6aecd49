"""`python -m bench.analyze_ray`: `analyze` on this machine, in-process and through a local Ray cluster, on the
same photos and the same clip, measured in one run: photos/s and video seconds per second, each end to end
(the command's wall time, model loading and Ray's start included) and as the job's own summary reports it.

Every command runs in a private network namespace (`unshare -n`, root), so the Ray cluster that `--ray` starts
on this machine binds loopback only. The bundled CPU model (mini-Xception) with face detection, as the tests.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.video import FACE_PHOTO, make_clip
from tests.photos import photo_paths

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "model_store" / "mini-xception"
PHOTOS = ("single_face.jpg", "multi_face.jpg", "astronaut.png", "0-f15-hao-ph.jpg")
SUMMARY = re.compile(r"in (?P<seconds>[\d.]+) s")


@dataclass
class Run:
    runner: str
    inputs: str
    units: float
    wall_s: float
    job_s: float

    @property
    def rate(self) -> float:
        return self.units / self.wall_s


def make_inputs(folder: Path, photos: int, clip_seconds: float) -> tuple[Path, Path]:
    """`photos` photo files (the test photos, copied round-robin) and one clip."""
    images = folder / "photos"
    images.mkdir(parents=True)
    found = photo_paths()
    for index in range(photos):
        name = PHOTOS[index % len(PHOTOS)]
        shutil.copy(found[name], images / f"{index:04d}-{name}")
    shutil.copy(FACE_PHOTO, images / "astronaut.jpg")
    videos = folder / "videos"
    videos.mkdir()
    (videos / "group.mp4").write_bytes(make_clip(clip_seconds))
    return images, videos


def measure(runner: str, inputs: Path, out: Path, units: float, extra: list[str]) -> Run:
    """One `analyze` command, timed from start to exit, in its own network namespace."""
    command = [sys.executable, "-m", "motivnet_serve", "analyze", str(inputs), "--out", str(out), "--no-progress"]
    script = "ip link set lo up && exec " + " ".join([*command, *extra])
    env_model = f"MOTIVNET_MODEL_DIR={MINI} MOTIVNET_DEVICE=cpu"
    started = time.monotonic()
    done = subprocess.run(
        ["unshare", "-n", "bash", "-c", f"{env_model} {script}"], capture_output=True, text=True, check=False
    )
    wall = time.monotonic() - started
    found = SUMMARY.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{runner} failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-3000:]}")
    return Run(runner, inputs.name, units, wall, float(found["seconds"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=48)
    parser.add_argument("--clip-seconds", type=float, default=10.0)
    parser.add_argument("--fps", default="5")
    parser.add_argument("--actors", default="1")
    parser.add_argument("--json", help="also write the runs to this file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    images, videos = make_inputs(work, args.photos, args.clip_seconds)
    ray = ["--ray", "--actors", args.actors]
    runs = []
    for inputs, units in ((images, args.photos + 1), (videos, args.clip_seconds)):
        for runner, extra in (("local", []), ("ray", ray)):
            out = work / f"out-{runner}-{inputs.name}"
            runs.append(measure(runner, inputs, out, units, ["--fps", args.fps, *extra]))
    print("| inputs | runner | wall s | job s | per wall second | ray / local (wall) | ray / local (job) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for local, ray_run in zip(runs[::2], runs[1::2]):
        unit = "photos" if local.inputs == "photos" else "video s"
        for run in (local, ray_run):
            ratios = f"{ray_run.rate / local.rate:.2f} | {local.job_s / ray_run.job_s:.2f}" if run is ray_run else " |"
            figures = f"{run.wall_s:.1f} | {run.job_s:.1f} | {run.rate:.2f} {unit}"
            print(f"| {run.inputs} | {run.runner} | {figures} | {ratios} |")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(run) for run in runs], indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
