"""`python -m motivnet_serve ...`: predict, predict-video, analyze, evaluate, describe, preprocess, fetch-weights,
settings-docs, export, serve.

User mistakes (a missing file, an unreadable image, a bad model folder) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

import torch
from PIL import Image

from motivnet_serve.backends.emotion.checkpoint import CheckpointError
from motivnet_serve.backends.emotion.predictor import count_parameters
from motivnet_serve.backends.emotion.spec import ModelSpecError, load_model_spec
from motivnet_serve.backends.weights import cmd_fetch_weights as fetch_weights_command
from motivnet_serve.cli.analyze import register_analyze, register_evaluate
from motivnet_serve.cli.export import add_export_command
from motivnet_serve.cli.settings_docs import cmd_settings_docs
from motivnet_serve.cli.video import cmd_predict_video
from motivnet_serve.client import ClientError, MotivNetClient
from motivnet_serve.core.engine import Engine
from motivnet_serve.core.errors import ServiceError
from motivnet_serve.core.images import Upload, decode_image
from motivnet_serve.core.loading import build_finder, build_meta_model, build_preprocessor, resolve_model_dir
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.router.engine_options import engine_options
from motivnet_serve.settings import DETECTOR_NAMES, DTYPES, ENV_PREFIX, LOG_FORMATS, LOG_LEVELS, Settings, all_settings

USER_ERRORS = (
    ServiceError,
    CheckpointError,
    ModelSpecError,
    ClientError,
    FileNotFoundError,
    IsADirectoryError,
    ValueError,
    OSError,
)


def _read_image(path: str, settings: Settings) -> torch.Tensor:
    return decode_image(Path(path).read_bytes(), settings.limits.max_image_pixels)


IMAGES_IN_FLIGHT = 4
"""Images the CLI hands the engine at once: enough to fill batches, few enough to bound memory and the queue."""


def cmd_predict(args: argparse.Namespace, settings: Settings) -> None:
    if args.url:
        _predict_remote(args)
        return
    missing = [path for path in args.images if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(f"no such image file: {missing[0]}")
    _print_answer(asyncio.run(_predict_local(args.images, settings.offline(detect=not args.no_detect))), args.json)


async def _predict_local(paths: list[str], settings: Settings) -> dict[str, Any]:
    """The server's own engine without a server: the same batch limit, failure isolation and checks."""
    engine = await Engine.start(engine_options(settings), Metrics(settings.max_batch_size), warm=False)
    in_flight = asyncio.Semaphore(IMAGES_IN_FLIGHT)

    async def classify(path: str) -> list[dict[str, Any]]:
        async with in_flight:
            upload = Upload(path, await asyncio.to_thread(Path(path).read_bytes))
            deadline = time.monotonic() + settings.request_timeout_ms / 1000
            answer = await engine.classify([upload], detect=True, deadline=deadline)
        return [face.model_dump() for face in answer.images[0]]

    try:
        faces = await asyncio.gather(*(classify(path) for path in paths))
    finally:
        await engine.drain()
    results = [{"image": path, "faces": image_faces} for path, image_faces in zip(paths, faces)]
    return {"model": engine.describe().name, "results": results}


def _predict_remote(args: argparse.Namespace) -> None:
    with MotivNetClient(args.url) as client:
        answer = client.predict(args.images, detect=not args.no_detect)
    for path, result in zip(args.images, answer["results"]):
        result["image"] = path
        result.pop("filename", None)
    _print_answer(answer, args.json)


def _print_answer(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer, indent=2))
        return
    print(f"model: {answer['model']}")
    for result in answer["results"]:
        if not result["faces"]:
            print(f"{result['image']}: no face found")
        for face in result["faces"]:
            top = face["probabilities"][face["label"]]
            print(f"{result['image']}: {face['label']} ({top:.3f})  box={face['box']}")


def cmd_describe(args: argparse.Namespace, settings: Settings) -> None:
    spec = load_model_spec(resolve_model_dir(settings.model_dir, settings.model_store))
    model = build_meta_model(spec)
    state = {key: list(tensor.shape) for key, tensor in model.state_dict().items()}
    report = {"model": spec.name, "parameters": count_parameters(model), "state_dict": state}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{spec.name} ({spec.family}): {report['parameters']:,} parameters, {len(state)} tensors")
    print(f"architecture: {spec.architecture.model_dump(exclude_none=True)}")


def cmd_fetch_weights(_: argparse.Namespace, settings: Settings) -> int:
    return fetch_weights_command(settings.model_store)


def cmd_preprocess(args: argparse.Namespace, settings: Settings) -> None:
    """Writes the model's input for the whole image, and with --detect one file per face found."""
    spec = load_model_spec(resolve_model_dir(settings.model_dir, settings.model_store))
    preprocessor = build_preprocessor(spec, torch.device("cpu"))
    image = _read_image(args.image, settings)
    detector = settings.detector if args.detect else settings.detector.model_copy(update={"name": "none"})
    finder = build_finder(detector, settings.model_store, torch.device("cpu"), spec.architecture.input_hw)
    found = finder.find([image])[0]
    out = Path(args.out)
    for index, (face, crop) in enumerate(found):
        path = out if not args.detect else out.with_name(f"{out.stem}_face{index}{out.suffix}")
        pixels = preprocessor.pixels([crop])[0].permute(1, 2, 0).squeeze(-1).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(path)
        where = f" box={face.as_dict()['box']}" if args.detect else ""
        print(f"wrote {path} ({pixels.shape[1]}x{pixels.shape[0]}, {spec.preprocess.mode}){where}")
    if not found:
        print("no face found")


def cmd_serve(_: argparse.Namespace, settings: Settings) -> None:
    from motivnet_serve.router.server import run_server

    run_server(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m motivnet_serve", description="MotivNet facial emotion recognition")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = _add(commands, "predict", cmd_predict, "classify the emotion in images")
    predict.add_argument("--device", help="cpu, cuda, cuda:N, mps or auto")
    predict.add_argument("--no-detect", action="store_true", help="treat each whole image as one face")
    predict.add_argument("--detector", choices=DETECTOR_NAMES)
    predict.add_argument("--json", action="store_true", help="print one JSON document")
    predict.add_argument("--url", help="ask a running server (e.g. http://127.0.0.1:8000) instead of loading the model")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    video = _add(commands, "predict-video", cmd_predict_video, "classify the faces of a video, tracked, line by line")
    video.add_argument("--device", help="cpu, cuda, cuda:N, mps or auto")
    video.add_argument("--fps", type=float, default=5.0, help="frames sampled per second of video; 0: every frame")
    video.add_argument("--no-detect", action="store_true", help="treat each whole frame as one face")
    video.add_argument("--json", action="store_true", help="print the NDJSON answer lines")
    video.add_argument("--url", help="ask a running server instead of loading the model")
    video.add_argument("video", metavar="VIDEO")
    register_analyze(commands, _add)
    register_evaluate(commands, _add)
    describe = _add(commands, "describe", cmd_describe, "print the model's parameters and state-dict shapes")
    describe.add_argument("--json", action="store_true", help="print one JSON document")
    preprocess = _add(commands, "preprocess", cmd_preprocess, "write the image the model sees")
    preprocess.add_argument("image", metavar="IMAGE")
    preprocess.add_argument("--out", required=True, metavar="PNG")
    preprocess.add_argument("--detect", action="store_true", help="one file per face: OUT_face0.png, ...")
    fetch = commands.add_parser("fetch-weights", help="put every fetchable weight file in the model store")
    fetch.add_argument("--model-store", help="model store folder (default: the repo's model_store/)")
    fetch.set_defaults(handler=cmd_fetch_weights)
    generated = "docs/configuration.md and motivnet.env.example"
    docs = commands.add_parser("settings-docs", help=f"check (or --write) {generated}")
    docs.add_argument("--write", action="store_true", help="regenerate them from the settings instead of checking")
    docs.set_defaults(handler=cmd_settings_docs)
    add_export_command(commands)
    serve = _add(commands, "serve", cmd_serve, "run the HTTP service")
    _add_serve_options(serve)
    return parser


Handler = Callable[[argparse.Namespace, Settings], "int | None"]
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add(commands: Subcommands, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    sub: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=help_text)
    sub.add_argument("--model-dir", help="model folder, or 'auto' (default)")
    sub.set_defaults(handler=handler)
    return sub


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", help="cpu, cuda, cuda:N, mps or auto")
    parser.add_argument("--dtype", choices=DTYPES)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--max-batch-size", type=int)
    parser.add_argument("--max-batch-delay-ms", type=float)
    parser.add_argument("--max-queue-size", type=int)
    parser.add_argument("--request-timeout-ms", type=float)
    parser.add_argument("--drain-timeout-s", type=float, help="longest graceful drain on SIGTERM, then exit")
    parser.add_argument("--log-level", choices=LOG_LEVELS)
    parser.add_argument("--log-format", choices=LOG_FORMATS, help="json: one object per line, with request ids")
    parser.add_argument("--compile", action="store_true", default=None, help="torch.compile the model (slower start)")


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment first, then any option given on the command line wins (an option is named like its
    environment variable: `--drain-timeout-s` is `MOTIVNET_DRAIN_TIMEOUT_S`)."""
    names = {setting.env for setting in all_settings()}
    given = {key: value for key, value in vars(args).items() if f"{ENV_PREFIX}{key.upper()}" in names}
    given = {key: value for key, value in given.items() if value is not None}
    return Settings.from_flat(**given)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args, settings_from(args)) or 0
    except USER_ERRORS as exc:
        print(f"error: {exc.message if isinstance(exc, ServiceError) else exc}", file=sys.stderr)
        return 2


def serve_main() -> None:
    """`motivnet-serve [OPTIONS]` serves; `motivnet-serve COMMAND ...` runs that command, as `python -m` does."""
    argv = sys.argv[1:]
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    sys.exit(main(argv if argv[:1] and argv[0] in commands else ["serve", *argv]))
