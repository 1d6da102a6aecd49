"""`python -m bench analyze`: a collection analysed locally (`analyze`, the engine in this process) next to the
HTTP service saturated with the same inputs, in one run: photos per second, and seconds of video per second.

The photos are copies of bench/data/astronaut.jpg (one face, found by the detector on both paths); the videos
are the 640x360 group clip of `bench.video`, as many as the service analyses at once (`max_videos_in_flight`),
sent to /v1/video together. The local time is the job's own (listing to last part written), without the
model's load; the service is warmed up before it is timed.

`--ray` adds the same job through a Ray cluster started on this machine (`analyze --ray`, `--ray-actors`
actors), on loopback only; its time is the job's too, which on Ray includes starting the actors (loading the
model) and the grouped tracking pass, the price a cluster pays that one process does not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.load import measure
from bench.server_process import ROOT, ServerProcess
from bench.video import FACE_PHOTO, analyse_clip, make_clip
from motivnet_serve.cli.collection import analyze
from motivnet_serve.pipelines.collection.job import JobOptions
from motivnet_serve.pipelines.collection.rows import AnalyzeOptions
from motivnet_serve.pipelines.collection.stages import RayOptions
from motivnet_serve.settings import LimitOptions, Settings

VIDEOS_AT_ONCE = LimitOptions.model_fields["max_videos_in_flight"].default


@dataclass
class Rates:
    photos_per_s: float
    video_seconds_per_s: float


def _inputs(folder: Path, photos: int, clip_seconds: float) -> tuple[Path, Path, bytes]:
    photo = (ROOT / FACE_PHOTO).read_bytes()
    (folder / "photos").mkdir()
    (folder / "videos").mkdir()
    for index in range(photos):
        (folder / "photos" / f"{index:05d}.jpg").write_bytes(photo)
    clip = make_clip(clip_seconds)
    for index in range(VIDEOS_AT_ONCE):
        (folder / "videos" / f"clip_{index}.mp4").write_bytes(clip)
    return folder / "photos", folder / "videos", clip


def _local(photos: Path, videos: Path, args: argparse.Namespace, out: Path) -> Rates:
    settings = Settings.from_flat(model_dir=args.model_dir, device=args.device)
    job = JobOptions(analyze=AnalyzeOptions(fps=args.fps), progress=False)
    pictures = analyze([str(photos)], out / "photos", job=job, settings=settings).summary
    clips = analyze([str(videos)], out / "videos", job=job, settings=settings).summary
    return Rates(pictures.ok / pictures.seconds, VIDEOS_AT_ONCE * args.clip_seconds / clips.seconds)


def _on_ray(photos: Path, videos: Path, args: argparse.Namespace, out: Path) -> Rates:
    """As `_local`, through a Ray cluster of this machine's CPUs (started once, bound to 127.0.0.1)."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # loopback only; else Ray writes a token to ~/.ray
    ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    try:
        settings = Settings(model_dir=args.model_dir, device=args.device)
        job = JobOptions(analyze=AnalyzeOptions(fps=args.fps), progress=False)
        cluster = RayOptions(actors=args.ray_actors)
        pictures = analyze([str(photos)], out / "photos", job=job, settings=settings, cluster=cluster).summary
        clips = analyze([str(videos)], out / "videos", job=job, settings=settings, cluster=cluster).summary
    finally:
        ray.shutdown()
    return Rates(pictures.ok / pictures.seconds, VIDEOS_AT_ONCE * args.clip_seconds / clips.seconds)


def _served(clip: bytes, args: argparse.Namespace) -> Rates:
    with ServerProcess("--model-dir", args.model_dir, "--device", args.device) as server:
        server.wait_ready(args.startup_timeout)
        photo = (ROOT / FACE_PHOTO).read_bytes()
        load = asyncio.run(measure(server.url, [photo], "closed", args.concurrency, args.seconds, detect=True))
        asyncio.run(analyse_clip(server.url, clip, args.clip_seconds, args.fps))  # warm: first-use costs
        runs = asyncio.run(_clips_at_once(server.url, clip, args))
    wall = max(run.seconds for run in runs)
    return Rates(load.images_per_s, VIDEOS_AT_ONCE * args.clip_seconds / wall)


async def _clips_at_once(url: str, clip: bytes, args: argparse.Namespace) -> list:
    return await asyncio.gather(*(analyse_clip(url, clip, args.clip_seconds, args.fps) for _ in range(VIDEOS_AT_ONCE)))


def cmd_analyze(args: argparse.Namespace) -> dict:
    """Local `analyze` against the HTTP service saturated, on the same photos and videos, in one run."""
    with tempfile.TemporaryDirectory(prefix="bench-analyze-") as folder:
        photos, videos, clip = _inputs(Path(folder), args.photos, args.clip_seconds)
        local = _local(photos, videos, args, Path(folder) / "out")
        on_ray = _on_ray(photos, videos, args, Path(folder) / "ray") if args.ray else None
    served = _served(clip, args)
    print(f"{'':>8} {'photos/s':>9} {'video s/s':>10}")
    for name, rates in (("analyze", local), ("ray", on_ray), ("http", served)):
        if rates is not None:
            print(f"{name:>8} {rates.photos_per_s:9.2f} {rates.video_seconds_per_s:10.2f}")
    print(
        f"analyze / http: photos {local.photos_per_s / served.photos_per_s:.2f}x, "
        f"video {local.video_seconds_per_s / served.video_seconds_per_s:.2f}x"
    )
    if on_ray is not None:
        print(
            f"ray / analyze: photos {on_ray.photos_per_s / local.photos_per_s:.2f}x, "
            f"video {on_ray.video_seconds_per_s / local.video_seconds_per_s:.2f}x"
        )
    return {"analyze": asdict(local), "http": asdict(served)} | ({"ray": asdict(on_ray)} if on_ray else {})


def add_analyze_command(commands) -> None:
    parser = commands.add_parser("analyze", help=cmd_analyze.__doc__)
    parser.set_defaults(handler=cmd_analyze)
    parser.add_argument("--model-dir", default=str(ROOT / "model_store" / "mini-xception"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--photos", type=int, default=200, help="copies of the one-face photo in the collection")
    parser.add_argument("--clip-seconds", type=float, default=10.0, help="length of each 640x360 group clip")
    parser.add_argument("--fps", type=float, default=5.0, help="frames sampled per second of video")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight that saturate /predict")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the /predict measurement")
    parser.add_argument("--startup-timeout", type=float, default=600.0)
    parser.add_argument("--ray", action="store_true", help="also through a Ray cluster on this machine")
    parser.add_argument("--ray-actors", type=int, default=1, help="actors (one engine each) for --ray")
    parser.add_argument("--json", metavar="FILE", help="also write every number to FILE")
