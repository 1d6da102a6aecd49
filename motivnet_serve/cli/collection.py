"""`analyze` from Python: list the inputs, start the engine in this process, run the job, and for a labelled
set write the accuracy report. The CLI's `analyze` and `evaluate` are this function with options.

It lives with the commands because, like them, it is where the settings become an engine and the limits the
collection job is handed (`pipelines/` never reads the settings)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motivnet_serve.core.engine import Engine
from motivnet_serve.core.engine_options import EngineOptions
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.pipelines.collection.evaluation import evaluate
from motivnet_serve.pipelines.collection.heatmap import write_confusion
from motivnet_serve.pipelines.collection.job import CollectionJob, JobOptions, Summary
from motivnet_serve.pipelines.collection.parts import Output
from motivnet_serve.pipelines.collection.rows import EngineRecipe, SourceLimits
from motivnet_serve.pipelines.collection.sources import Source, list_sources
from motivnet_serve.pipelines.collection.stages import RayOptions
from motivnet_serve.router.engine_options import engine_options
from motivnet_serve.router.limits import video_rules
from motivnet_serve.settings import Settings

REPORT = "report.json"
CONFUSION = "confusion.png"


@dataclass(frozen=True)
class Result:
    """A run's summary, and its accuracy report when the set was labelled (also in `out/report.json`)."""

    summary: Summary
    report: dict[str, Any] | None


def analyze(
    inputs: Sequence[str],
    out: str | Path,
    *,
    fmt: str = "parquet",
    job: JobOptions | None = None,
    labels_from_folders: bool = False,
    report: bool = False,
    settings: Settings | None = None,
    cluster: RayOptions | None = None,
) -> Result:
    """Analyses every photo and video the inputs name into `out` (faces, tracks, sources tables), going on
    where an earlier run into the same folder stopped. `report` (or `labels_from_folders`) also writes the
    accuracy report of the labelled sources. Bad inputs never raise: they are failed rows in `sources`.

    `job` says what each source is asked (`JobOptions(analyze=AnalyzeOptions(fps=2))`) and how the run goes
    (`strict`, `retry_failed`, `progress`); `settings` picks the model and limits (default: the environment's);
    `cluster` runs it on a Ray cluster instead of in this process (needs the `ray` extra; docs/analyze-ray.md).
    """
    job = job or JobOptions(progress=False)
    sources = list_sources(inputs, labels_from_folders=labels_from_folders)
    output = Output(Path(out), fmt)
    settings = (settings or Settings()).offline(detect=job.analyze.detect)
    if cluster is not None:
        from motivnet_serve.pipelines.collection.cluster import run_on_ray  # ray is imported only when asked for

        summary = run_on_ray(sources, output, job, recipe(settings), cluster)
    else:
        summary = asyncio.run(_run(sources, output, job, recipe(settings)))
    wanted = report or labels_from_folders
    return Result(summary, write_report(output) if wanted else None)


async def _run(sources: Sequence[Source], output: Output, job: JobOptions, recipe: EngineRecipe) -> Summary:
    engine, metrics = await recipe.start()
    try:
        return await CollectionJob(engine, recipe.limits, metrics, output, job).run(sources)
    finally:
        await engine.drain()


@dataclass(frozen=True)
class EngineStarter:
    """Starts the server's engine with these options; a picklable callable, so each Ray actor starts its own.
    Warms up as the server does (`warmup`): a collection is long, and its first sources should not pay for the
    first detection and each batch size's first forward."""

    options: EngineOptions
    warm: bool

    async def __call__(self) -> tuple[Engine, Metrics]:
        metrics = Metrics(self.options.batching.max_batch_size)
        return await Engine.start(self.options, metrics, warm=self.warm), metrics


def recipe(settings: Settings) -> EngineRecipe:
    return EngineRecipe(EngineStarter(engine_options(settings), settings.warmup), source_limits(settings))


def source_limits(settings: Settings) -> SourceLimits:
    """The HTTP API's limits for one photo (`/predict`) and one video (`/v1/video`), for the job's sources."""
    rules = video_rules(settings)
    return SourceLimits(
        photo_bytes=settings.limits.max_upload_bytes,
        photo_timeout_s=settings.request_timeout_ms / 1000,
        video_bytes=settings.limits.max_video_bytes,
        video=rules.video,
        pacing=rules.pacing,
        videos_in_flight=settings.limits.max_videos_in_flight,
    )


def write_report(output: Output) -> dict[str, Any]:
    """The accuracy report of the whole folder (this run's sources and earlier ones): JSON and a PNG heat map."""
    report = evaluate(output.read("sources"), output.read("faces"))
    (output.folder / REPORT).write_text(json.dumps(report, indent=2) + "\n")
    title = f"{report.get('model', '?')}: WAR {report['war']:.3f}, UAR {report['uar']:.3f} (n={report['evaluated']})"
    confusion = report["confusion"]
    write_confusion(output.folder / CONFUSION, confusion["matrix"], confusion["labels"], title)
    return report
