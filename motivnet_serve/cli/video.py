"""`python -m motivnet_serve predict-video CLIP`: a video's answer lines, printed as they come.

Offline it runs the server's own pipeline (decoding window, engine, tracker) without a server; with `--url`
it asks a running server. `--json` prints the NDJSON lines themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from motivnet_serve.client import MotivNetClient
from motivnet_serve.core.engine import Engine
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.pipelines.analysis import VideoAnalysis, VideoOptions
from motivnet_serve.pipelines.decode import VideoReader
from motivnet_serve.router.engine_options import engine_options
from motivnet_serve.router.limits import video_rules
from motivnet_serve.settings import Settings


def cmd_predict_video(args: argparse.Namespace, settings: Settings) -> int:
    """Exit status 2 when the video is refused, or its answer ends with an error line."""
    if not Path(args.video).is_file():
        raise FileNotFoundError(f"no such video file: {args.video}")
    if not args.url:
        return asyncio.run(_offline(args, settings))
    status = 0
    with MotivNetClient(args.url, timeout=600) as client:
        for line in client.video(args.video, fps=args.fps, detect=not args.no_detect):
            status = _print_line(line, args.json) or status
    return status


async def _offline(args: argparse.Namespace, settings: Settings) -> int:
    """The server's pipeline without a server: the same decoding window, engine limits and tracker. The video
    is opened (and refused, if it must be) before the model loads."""
    options = VideoOptions(fps=args.fps, detect=True, max_faces=None, smoothing=0.0)
    settings = settings.offline(detect=not args.no_detect)  # without detection every frame is one face
    status = 0
    with Path(args.video).open("rb") as file:
        rules = video_rules(settings)
        reader = await asyncio.to_thread(VideoReader, file, rules.video)
        metrics = Metrics(settings.max_batch_size)
        engine = await Engine.start(engine_options(settings), metrics, warm=False)
        try:
            async for line in VideoAnalysis(engine, reader, options, rules.pacing, metrics).lines():
                status = _print_line(line, args.json) or status
        finally:
            await engine.drain()
    return status


def _print_line(line: dict[str, Any], as_json: bool) -> int:
    """Prints one line the moment it is ready, so a long video shows progress; 2 for an error line (a frame's,
    or the one that says why the video stopped)."""
    if as_json:
        print(json.dumps(line), flush=True)
    elif "error" in line:
        where = f"frame {line['frame']} at {line['time_ms'] / 1000:.2f} s: " if "frame" in line else ""
        print(f"{where}error: {line['error']['code']}: {line['error']['message']}", flush=True)
    elif "summary" in line:
        summary = line["summary"]
        failed = f", {summary['errors']} error(s)" if summary.get("errors") else ""
        print(f"model: {summary['model']}, {summary['frames']} frames{failed}, {summary['duration_ms'] / 1000:.1f} s")
        for track in summary["tracks"]:
            top = track["probabilities"][track["label"]]
            span = f"{track['first_ms'] / 1000:.1f}-{track['last_ms'] / 1000:.1f} s"
            print(f"track {track['track_id']}: {track['label']} ({top:.3f}) over {track['frames']} frames, {span}")
    else:
        faces = ", ".join(f"#{face['track_id']} {face['label']}" for face in line["faces"]) or "no face"
        print(f"frame {line['frame']} at {line['time_ms'] / 1000:.2f} s: {faces}", flush=True)
    return 2 if "error" in line else 0
