"""`python -m bench raw|serve|compare|peer|revisions|threads|video|stream|analyze`: measured numbers, printed as tables
(and JSON with --json FILE)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from bench.analyze import add_analyze_command
from bench.load import LoadResult, format_load, measure
from bench.random_model import make_random_model_folder
from bench.raw import FLOP_PER_IMAGE_1B, format_raw, run_raw
from bench.revisions import WORK_TREE, RevisionRuns, export, format_revisions, measure_round, merge_base
from bench.server_process import ROOT, TINY_DIR, PeerProcess, ServerProcess
from bench.threads import format_sweep, sweep
from bench.video import analyse_clip, fair_sharing, format_sharing, format_stream, format_video, make_clip, run_streams
from motivnet_serve.settings import DTYPES, Settings

DEFAULT_IMAGE = Path(__file__).parent / "data" / "astronaut.jpg"


def _images(paths: list[str] | None) -> list[bytes]:
    return [Path(path).read_bytes() for path in (paths or [DEFAULT_IMAGE])]


def _powers_of_two(limit: int) -> list[int]:
    sizes = [1]
    while sizes[-1] * 2 <= limit:
        sizes.append(sizes[-1] * 2)
    return sizes


def _random_model(preset: str) -> str:
    """A model folder of the preset with random float32 weights, for the commands that serve one."""
    folder = Path(tempfile.mkdtemp(prefix="bench-model-")) / preset
    return str(make_random_model_folder(folder, preset, torch.float32))


def _write_json(path: str | None, document: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(document, indent=2))


def cmd_raw(args: argparse.Namespace) -> dict:
    results = run_raw(
        args.model_dir, args.preset, args.device, args.dtype, _powers_of_two(args.max_batch_size), args.repeats
    )
    flop = FLOP_PER_IMAGE_1B if args.preset == "sapiens-1b" or args.flop_per_image else None
    print(format_raw(results, args.flop_per_image or flop, args.peak_tflops * 1e12 if args.peak_tflops else None))
    return {"raw": [asdict(r) for r in results]}


def _server_options(args: argparse.Namespace, max_batch_size: int) -> list[str]:
    return [
        "--model-dir",
        args.model_dir,
        "--device",
        args.device,
        "--dtype",
        args.dtype,
        "--max-batch-size",
        str(max_batch_size),
        "--max-batch-delay-ms",
        str(args.max_batch_delay_ms),
        "--max-queue-size",
        "4096",
    ]


def _serve_levels(url: str, args: argparse.Namespace, images: list[bytes]) -> list:
    detect = getattr(args, "detect", False)
    results = [asyncio.run(measure(url, images, "closed", c, args.seconds, detect)) for c in args.concurrency]
    results += [asyncio.run(measure(url, images, "open", rate, args.seconds, detect)) for rate in args.rates]
    return results


def cmd_serve(args: argparse.Namespace) -> dict:
    images = _images(args.images)
    if args.url:
        results = _serve_levels(args.url, args, images)
    else:
        with ServerProcess(*_server_options(args, args.max_batch_size)) as server:
            server.wait_ready(args.startup_timeout)
            results = _serve_levels(server.url, args, images)
    print(format_load(results))
    return {"serve": [asdict(r) for r in results]}


def _saturate(args: argparse.Namespace, max_batch_size: int, concurrency: list[int], images: list[bytes]) -> list:
    with ServerProcess(*_server_options(args, max_batch_size)) as server:
        server.wait_ready(args.startup_timeout)
        return [asyncio.run(measure(server.url, images, "closed", c, args.seconds)) for c in concurrency]


def cmd_compare(args: argparse.Namespace) -> dict:
    """Raw vs served at the same batch limit, and batching on vs --max-batch-size 1, in one run."""
    images = _images(args.images)
    [raw_one, raw_full] = run_raw(args.model_dir, None, args.device, args.dtype, [1, args.max_batch_size], args.repeats)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    saturation = max(2 * args.max_batch_size, 32)
    batched = _saturate(args, args.max_batch_size, [1, saturation], images)
    unbatched = _saturate(args, 1, [saturation], images)
    print(format_raw([raw_one, raw_full], None, None))
    print(format_load(batched))
    print("with --max-batch-size 1:")
    print(format_load(unbatched))
    summary = {
        "raw_images_per_s": raw_full.images_per_s,
        "served_images_per_s": batched[1].images_per_s,
        "ratio": batched[1].images_per_s / raw_full.images_per_s,
        "p50_ms": batched[1].p50_ms,
        "p99_ms": batched[1].p99_ms,
        "mean_batch_size": batched[1].mean_batch_size,
        "unbatched_images_per_s": unbatched[0].images_per_s,
        "concurrency": saturation,
        "max_batch_size": args.max_batch_size,
        "c1_p50_ms": batched[0].p50_ms,
        "raw_batch1_ms": raw_one.median_ms,
    }
    return {
        "summary": summary,
        "raw": [asdict(raw_one), asdict(raw_full)],
        "served": [asdict(r) for r in batched],
        "unbatched": [asdict(r) for r in unbatched],
    }


def cmd_peer(args: argparse.Namespace) -> dict:
    """This service (default settings, `detect=false`) and LitServe (bench/peer.py) serving the same model folder
        to the same closed-loop clients for the same time, one after the other; each gets the images the way its docs
    send them (this service a raw body, LitServe base64 in JSON)."""
    images = _images(args.images)
    batching = ["--max-batch-size", str(args.max_batch_size)]
    peer_options = ["--model-dir", args.model_dir, "--device", args.device, *batching]
    logs = Path(tempfile.mkdtemp(prefix="bench-peer-"))
    levels: dict[str, list] = {}
    with PeerProcess(*peer_options, log_path=logs / "litserve.log") as peer:
        peer.wait_ready(args.startup_timeout)
        levels["litserve"] = _closed_levels(peer.url, images, args, as_json=True)
    with ServerProcess("--model-dir", args.model_dir, "--device", args.device, *batching) as server:
        server.wait_ready(args.startup_timeout)
        levels["motivnet-serve"] = _closed_levels(server.url, images, args, as_json=False)
    print(format_peer(levels))
    return {name: [asdict(r) for r in results] for name, results in levels.items()}


def _closed_levels(url: str, images: list[bytes], args: argparse.Namespace, *, as_json: bool) -> list[LoadResult]:
    return [asyncio.run(measure(url, images, "closed", c, args.seconds, as_json=as_json)) for c in args.concurrency]


def format_peer(levels: dict[str, list[LoadResult]]) -> str:
    """Per concurrency both servers' throughput and tail, and this service's ratios to LitServe."""
    lines = [f"{'clients':>7} {'server':>15} {'img/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"]
    for ours, theirs in zip(levels["motivnet-serve"], levels["litserve"]):
        for name, r in (("litserve", theirs), ("motivnet-serve", ours)):
            lines.append(f"{r.level:7g} {name:>15} {r.images_per_s:7.2f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {r.errors:6d}")
        throughput, tail = ours.images_per_s / theirs.images_per_s, ours.p99_ms / theirs.p99_ms
        lines.append(f"{ours.level:7g} {'ours / theirs':>15} {f'x{throughput:.2f}':>7} {'':>8} {f'x{tail:.2f}':>8}")
    return "\n".join(lines)


def cmd_revisions(args: argparse.Namespace) -> dict:
    """Two git revisions (default: the merge base with main, and the work tree) served with the same model,
    settings and closed-loop clients, alternately, --rounds times each, in one sitting; one table."""
    base = args.base or merge_base()
    env = {"MOTIVNET_MODEL_STORE": str(ROOT / "model_store"), **dict(pair.split("=", 1) for pair in args.env)}
    options = ["--model-dir", str(Path(args.model_dir).resolve()), "--device", args.device]
    load = {"images": _images(args.images), "mode": "closed", "level": args.concurrency, "seconds": args.seconds}
    load["detect"] = args.detect
    with tempfile.TemporaryDirectory(prefix="bench-revisions-") as folder:
        revisions = [RevisionRuns(name, export(name, Path(folder))) for name in (base, args.head)]
        for _ in range(args.rounds):
            measure_round(revisions, options, env, load, args.startup_timeout)
    print(format_revisions(revisions))
    return {revision.revision: [asdict(run) for run in revision.runs] for revision in revisions}


def cmd_threads(args: argparse.Namespace) -> dict:
    """The emotion model's forward at each torch thread count, alone and beside one busy core (a detection
    worker), set on the calling thread as the batch worker sets it: the sweep behind the thread policy."""
    results = sweep(args.model_dir, args.batch_sizes, args.repeats, args.rounds)
    print(format_sweep(results))
    return {"threads": [asdict(r) for r in results]}


def _video_server(args: argparse.Namespace, **env: str) -> ServerProcess:
    settings = {f"MOTIVNET_{name.upper()}": value for name, value in env.items()}
    return ServerProcess("--model-dir", args.model_dir, "--device", args.device, env=settings)


def cmd_video(args: argparse.Namespace) -> dict:
    """A clip analysed through POST /v1/video against its real-time rate; with --sharing, a photo's and a live
    frame's latency while a video is analysed."""
    clip = make_clip(args.clip_seconds)
    document: dict = {"video": []}
    for in_flight in args.frames_in_flight:
        with _video_server(args, video_frames_in_flight=str(in_flight)) as server:
            server.wait_ready(args.startup_timeout)
            asyncio.run(analyse_clip(server.url, clip, args.clip_seconds, args.fps))  # warm: first-use costs
            timed = (analyse_clip(server.url, clip, args.clip_seconds, args.fps) for _ in range(args.repeats))
            runs = [asyncio.run(analysis) for analysis in timed]
            for result in runs:
                print(f"frames in flight {in_flight}: {format_video(result)}")
            median = statistics.median(result.realtime_ratio for result in runs)
            print(f"frames in flight {in_flight}: median of {len(runs)} runs {median:.1f}x real time")
            document["video"].append({"frames_in_flight": in_flight, "runs": [asdict(result) for result in runs]})
            if args.sharing and in_flight == args.frames_in_flight[-1]:
                long_clip = make_clip(args.sharing_clip_seconds)
                sharing = asyncio.run(fair_sharing(server.url, long_clip, args.photos, args.stream_fps, args.seconds))
                print(format_sharing(sharing))
                document["sharing"] = asdict(sharing)
    return document


def cmd_stream(args: argparse.Namespace) -> dict:
    """Live sessions on WS /v1/stream, each sending 640x480 one-face frames at --fps (0: as fast as answered)."""
    if args.url:
        result = asyncio.run(run_streams(args.url, args.sessions, args.fps, args.seconds))
    else:
        with _video_server(args) as server:
            server.wait_ready(args.startup_timeout)
            asyncio.run(run_streams(server.url, 1, 10, 1))  # warm: first-use costs
            result = asyncio.run(run_streams(server.url, args.sessions, args.fps, args.seconds))
    print(format_stream(result))
    return {"stream": asdict(result)}


def _add_video_commands(commands) -> None:
    video = commands.add_parser("video", help=cmd_video.__doc__)
    video.set_defaults(handler=cmd_video)
    video.add_argument("--clip-seconds", type=float, default=10.0, help="length of the 640x360 group clip")
    video.add_argument("--fps", type=float, default=5.0, help="frames sampled per second of video")
    video.add_argument("--frames-in-flight", type=int, nargs="+", default=[2, 4, 6], help="one server run each")
    video.add_argument("--repeats", type=int, default=3, help="timed analyses of the clip per server run")
    video.add_argument("--sharing", action="store_true", help="also measure a photo and a live frame during a video")
    video.add_argument("--sharing-clip-seconds", type=float, default=30.0)
    video.add_argument("--photos", type=int, default=30, help="photo requests per p50")
    video.add_argument("--stream-fps", type=float, default=10.0, help="live session rate during --sharing")
    stream = commands.add_parser("stream", help=cmd_stream.__doc__)
    stream.set_defaults(handler=cmd_stream)
    stream.add_argument("--url", help="measure this running server instead of starting one")
    stream.add_argument("--sessions", type=int, default=1)
    stream.add_argument("--fps", type=float, default=25.0, help="frames per second each session sends; 0: closed loop")
    for sub in (video, stream):
        sub.add_argument("--model-dir", default=str(ROOT / "model_store" / "mini-xception"))
        sub.add_argument("--device", default="cpu")
        sub.add_argument("--seconds", type=float, default=10.0, help="length of each live measurement")
        sub.add_argument("--startup-timeout", type=float, default=600.0)
        sub.add_argument("--json", metavar="FILE", help="also write every number to FILE")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler in (("raw", cmd_raw), ("serve", cmd_serve), ("compare", cmd_compare)):
        sub = commands.add_parser(name, help=handler.__doc__)
        sub.set_defaults(handler=handler)
        sub.add_argument("--model-dir", default=str(TINY_DIR), help="model folder (default: the tiny test model)")
        sub.add_argument("--device", default="auto")
        sub.add_argument("--dtype", default="auto", choices=DTYPES)
        sub.add_argument("--max-batch-size", type=int, default=Settings.model_fields["max_batch_size"].default)
        sub.add_argument("--repeats", type=int, default=5, help="timed forwards per batch size")
        sub.add_argument("--seconds", type=float, default=10.0, help="duration of each load level")
        sub.add_argument(
            "--max-batch-delay-ms", type=float, default=Settings.model_fields["max_batch_delay_ms"].default
        )
        sub.add_argument("--startup-timeout", type=float, default=600.0)
        sub.add_argument("--images", nargs="+", help="images to send (default: bench/data/astronaut.jpg)")
        sub.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    for name in ("raw", "compare"):
        commands.choices[name].add_argument(
            "--preset", help="random weights of a Sapiens preset instead of --model-dir, e.g. sapiens-cpu, sapiens-1b"
        )
    raw = commands.choices["raw"]
    raw.add_argument("--flop-per-image", type=float, help="for MFU; 9.33e12 for MotivNet-1B")
    raw.add_argument("--peak-tflops", type=float, help="for MFU: the device's measured dense peak")
    serve = commands.choices["serve"]
    serve.add_argument("--url", help="measure this running server instead of starting one")
    serve.add_argument("--concurrency", type=int, nargs="*", default=[1, 4, 16, 32])
    serve.add_argument("--rates", type=float, nargs="*", default=[], help="open-loop Poisson request rates")
    serve.add_argument("--detect", action="store_true", help="find faces first (default: whole image is one face)")
    peer = commands.add_parser("peer", help=cmd_peer.__doc__)
    peer.set_defaults(handler=cmd_peer)
    peer.add_argument("--model-dir", default=str(TINY_DIR))
    peer.add_argument("--preset", help="random weights of a Sapiens preset instead of --model-dir, e.g. sapiens-cpu")
    peer.add_argument("--device", default="cpu")
    peer.add_argument("--max-batch-size", type=int, default=8)
    peer.add_argument("--concurrency", type=int, nargs="+", default=[16])
    peer.add_argument("--seconds", type=float, default=20.0)
    peer.add_argument("--startup-timeout", type=float, default=600.0)
    peer.add_argument("--images", nargs="+", help="images to send (default: bench/data/astronaut.jpg)")
    peer.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    threads = commands.add_parser("threads", help=cmd_threads.__doc__)
    threads.set_defaults(handler=cmd_threads)
    threads.add_argument("--model-dir", default=str(TINY_DIR))
    threads.add_argument("--preset", help="random weights of a Sapiens preset instead of --model-dir, e.g. sapiens-cpu")
    threads.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    threads.add_argument("--repeats", type=int, default=5, help="timed forwards per measurement")
    threads.add_argument("--rounds", type=int, default=3, help="alternations of the thread counts")
    threads.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    revisions = commands.add_parser("revisions", help=cmd_revisions.__doc__)
    revisions.set_defaults(handler=cmd_revisions)
    revisions.add_argument("--base", help="git revision (default: the merge base of HEAD and main)")
    revisions.add_argument("--head", default=WORK_TREE, help="git revision, or 'worktree' (default)")
    revisions.add_argument("--model-dir", default=str(TINY_DIR))
    revisions.add_argument("--preset", help="random weights of a Sapiens preset instead of --model-dir")
    revisions.add_argument("--device", default="cpu")
    revisions.add_argument("--concurrency", type=int, default=16)
    revisions.add_argument("--detect", action="store_true", help="find faces first (default: whole image is one face)")
    revisions.add_argument("--rounds", type=int, default=3, help="server runs per revision, alternating")
    revisions.add_argument("--seconds", type=float, default=15.0)
    revisions.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE", help="settings for both servers")
    revisions.add_argument("--startup-timeout", type=float, default=600.0)
    revisions.add_argument("--images", nargs="+", help="images to send (default: bench/data/astronaut.jpg)")
    revisions.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    _add_video_commands(commands)
    add_analyze_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "preset", None):
        args.model_dir = None if args.command == "raw" else _random_model(args.preset)
    document = args.handler(args)
    _write_json(args.json, document)
    if "summary" in document:
        print(json.dumps(document["summary"]))
    return 0


sys.exit(main())
