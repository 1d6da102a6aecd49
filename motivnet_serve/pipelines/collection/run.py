"""`analyze` from Python: list the inputs, start the engine in this process, run the job, and for a labelled
set write the accuracy report. The CLI's `analyze` and `evaluate` are this function with options."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motivnet_serve.core.engine import Engine
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.pipelines.collection.evaluation import evaluate
from motivnet_serve.pipelines.collection.heatmap import write_confusion
from motivnet_serve.pipelines.collection.job import CollectionJob, JobOptions, Summary
from motivnet_serve.pipelines.collection.parts import Output
from motivnet_serve.pipelines.collection.sources import Source, list_sources
from motivnet_serve.pipelines.collection.stages import RayOptions
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
    settings = local_settings(settings or Settings(), job.analyze.detect)
    if cluster is not None:
        from motivnet_serve.pipelines.collection.cluster import run_on_ray  # ray is imported only when asked for

        summary = run_on_ray(sources, output, job, settings, cluster)
    else:
        summary = asyncio.run(_run(sources, output, job, settings))
    wanted = report or labels_from_folders
    return Result(summary, write_report(output) if wanted else None)


def local_settings(settings: Settings, detect: bool) -> Settings:
    """As `predict` runs offline: without detection no detector is loaded, and `compile=auto` stays off (a
    run would spend minutes compiling before its first source)."""
    updates: dict[str, Any] = {} if detect else {"detector": "none"}
    if settings.compile == "auto":
        updates["compile"] = False
    return settings.model_copy(update=updates) if updates else settings


async def _run(sources: Sequence[Source], output: Output, job: JobOptions, settings: Settings) -> Summary:
    """Warms up as the server does (`warmup`): a collection is long, and its first sources should not pay for
    the first detection and each batch size's first forward."""
    metrics = Metrics(settings.max_batch_size)
    engine = await Engine.start(settings, metrics, warm=settings.warmup)
    try:
        return await CollectionJob(engine, settings, metrics, output, job).run(sources)
    finally:
        await engine.drain()


def write_report(output: Output) -> dict[str, Any]:
    """The accuracy report of the whole folder (this run's sources and earlier ones): JSON and a PNG heat map."""
    report = evaluate(output.read("sources"), output.read("faces"))
    (output.folder / REPORT).write_text(json.dumps(report, indent=2) + "\n")
    title = f"{report.get('model', '?')}: WAR {report['war']:.3f}, UAR {report['uar']:.3f} (n={report['evaluated']})"
    confusion = report["confusion"]
    write_confusion(output.folder / CONFUSION, confusion["matrix"], confusion["labels"], title)
    return report
