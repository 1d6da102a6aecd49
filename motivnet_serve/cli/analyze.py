"""`python -m motivnet_serve analyze INPUT... --out DIR` and `evaluate`: whole collections into tables.

Both run the job of `motivnet_serve.pipelines.collection` in this process (the server's engine, no server),
and go on where an earlier run into the same folder stopped. The exit status is 0 when every source listed
was analysed, 1 when any failed, in this run or an earlier one (its `sources` row says why), 2 for a usage
mistake (as the other commands). pyarrow comes with the `analyze` extra; it is imported only when one of these
commands runs, so the server's image does without it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from motivnet_serve.cli.ray_options import add_ray_options, ray_options
from motivnet_serve.settings import DETECTOR_NAMES, Settings

FORMATS = ("parquet", "csv", "jsonl")
INTERRUPTED = 130
"""The shell's status for a command ended by Ctrl-C."""
Add = Callable[[Any, str, Callable[[argparse.Namespace, Settings], "int | None"], str], argparse.ArgumentParser]


def register_analyze(commands: Any, add: Add) -> None:
    parser = add(commands, "analyze", cmd_analyze, "analyse folders, globs, manifests or buckets into tables")
    _options(parser)
    parser.add_argument("--labels", action="store_true", help="true labels from folder names; writes report.json")


def register_evaluate(commands: Any, add: Add) -> None:
    parser = add(commands, "evaluate", cmd_evaluate, "accuracy on a labelled set (folder names or a label column)")
    _options(parser)


def cmd_analyze(args: argparse.Namespace, settings: Settings) -> int:
    return _run(args, settings, report=args.labels)


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    return _run(args, settings, report=True)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, globs, manifests or URIs")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (rerun to continue)")
    parser.add_argument("--format", choices=FORMATS, default="parquet", help="table format (default parquet)")
    parser.add_argument("--fps", type=float, default=5.0, help="frames sampled per second of video; 0: every frame")
    parser.add_argument("--no-detect", action="store_true", help="treat each whole image or frame as one face")
    parser.add_argument("--max-faces", type=int, help="most faces per image or frame, best first")
    parser.add_argument("--device", help="cpu, cuda, cuda:N, mps or auto")
    parser.add_argument("--detector", choices=DETECTOR_NAMES)
    parser.add_argument("--strict", action="store_true", help="stop at the first source that fails")
    parser.add_argument("--retry-failed", action="store_true", help="analyse again sources that failed before")
    parser.add_argument(
        "--verify-content", action="store_true", help="redo done sources whose content changed (reads every file)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--part-sources", type=int, default=64, help="most sources per output part (default 64)")
    add_ray_options(parser)


def _run(args: argparse.Namespace, settings: Settings, *, report: bool) -> int:
    try:
        from motivnet_serve.cli.collection import analyze
        from motivnet_serve.pipelines.collection.job import JobOptions
        from motivnet_serve.pipelines.collection.rows import AnalyzeOptions
    except ImportError as exc:
        raise ValueError(f"{exc}: install the 'analyze' extra (pip install 'motivnet-serve[analyze]')") from None
    options = AnalyzeOptions(fps=args.fps, detect=not args.no_detect, max_faces=args.max_faces)
    progress = not args.no_progress
    job = JobOptions(
        options, args.strict, args.retry_failed, progress, args.verify_content, part_sources=args.part_sources
    )
    cluster = ray_options(args)
    try:
        result = analyze(
            args.inputs,
            args.out,
            fmt=args.format,
            job=job,
            labels_from_folders=report,
            settings=settings,
            cluster=cluster,
        )
    except KeyboardInterrupt:
        print("interrupted: the parts written so far are whole; run the same command again to go on")
        return INTERRUPTED
    print(result.summary.line())
    if result.report is not None:
        _print_report(result.report)
    return 1 if result.summary.any_failed else 0


def _print_report(report: dict[str, Any]) -> None:
    counts = json.dumps(report["counts"])
    print(f"model: {report.get('model')} (checkpoint sha256 {str(report.get('checkpoint_sha256'))[:12]})")
    print(f"evaluated {report['evaluated']}: WAR {report['war']:.4f}, UAR {report['uar']:.4f}, ", end="")
    print(f"macro F1 {report['macro_f1']:.4f}; {counts}")
