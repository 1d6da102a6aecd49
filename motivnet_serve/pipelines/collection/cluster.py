"""The collection job on a Ray cluster (`analyze --ray`): the same tables as the local job, by Ray Data.

The driver lists the sources and reads the ledger exactly as the local job does; what is left flows through
`stages`: decoding in CPU tasks, detection and classification in a pool of actors that each hold one engine
(`actors`, `gpus_per_actor`), then a grouped pass in the driver as the classified rows come back: each source
through the tracker, in frame order, once all its rows are in. So the frames of one long video spread over the
whole cluster and its tracks are still continuous. The driver writes finished sources as they come, with the
local job's part writer: the only writer, and the ledger is
the commit, so a source is written once even when Ray runs a task twice after a node is lost (a source
already written in this run is not written again). Only this module imports ray, and only `--ray` imports it.
"""

from __future__ import annotations

import math
import pickle
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import ray
from tqdm import tqdm

from motivnet_serve.pipelines.collection.job import JobOptions, Summary, resume
from motivnet_serve.pipelines.collection.parts import Output, SourceRows
from motivnet_serve.pipelines.collection.rows import EngineRecipe
from motivnet_serve.pipelines.collection.sources import Source
from motivnet_serve.pipelines.collection.stages import Classifier, Gathered, RayOptions, decoded, row

ROUND_SOURCES = 16384
"""Sources per pipeline run: bounds the listing that one run holds (about 10 MB of rows in the driver and the
object store), at the price of starting the actors once per round: 4-5 s on 2 cores (process, imports, model).
Rounds of 1,024 started them three times for 3,000 photos, a quarter of the job; one start is 2% of 16,384
photos at 74/s."""
FRAMES_PER_CALL = 64
"""Rows an actor takes at once (and photos to a block): enough frames to fill the engine's batches several
times over, since the engine drains between two calls (16 gave 20.4 s for 1000 photos on 2 cores, 64 gave 19.3 s);
few enough to keep every actor fed (a collection spreads over at most one actor per 64 photos)."""


def run_on_ray(
    sources: Sequence[Source], output: Output, job: JobOptions, engine: EngineRecipe, cluster: RayOptions
) -> Summary:
    """Skips what the folder says is done, forgets what changed since, and analyses the rest on the cluster."""
    started = time.monotonic()
    todo, summary = resume(sources, output, job)
    waiting = {source.uri for source in todo}
    if todo:
        ray.init(address=cluster.address, ignore_reinit_error=True, log_to_driver=False)
    try:
        with tqdm(total=len(todo), unit="source", disable=not job.progress, file=sys.stderr) as bar:
            for start in range(0, len(todo), ROUND_SOURCES):
                finished = _finished(todo[start : start + ROUND_SOURCES], job, engine, cluster)
                _write_all(finished, output, job, summary, Round(waiting, bar))
                if summary.stopped:
                    break
    finally:
        output.close()  # the folder's lock, taken when `resume` opened it
    summary.seconds = time.monotonic() - started
    return summary


def _finished(
    todo: Sequence[Source], job: JobOptions, engine: EngineRecipe, cluster: RayOptions
) -> Iterator[SourceRows]:
    """Each source's rows, as the cluster finishes them (in no particular order)."""
    classified = _listed(todo, engine, job.analyze.fps).map_batches(
        Classifier,
        fn_constructor_kwargs={"start": engine.start, "limits": engine.limits, "options": job.analyze},
        batch_size=FRAMES_PER_CALL,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=cluster.actors),
        udf_modifying_row_count=False,
        num_gpus=cluster.gpus_per_actor,
        num_cpus=cluster.cpus_per_actor,
    )
    gathered = Gathered(job.analyze.fps)
    for item in classified.iter_rows():
        if (made := gathered.take(dict(item))) is not None:
            yield made


def _listed(todo: Sequence[Source], engine: EngineRecipe, fps: float) -> ray.data.Dataset:
    """The rows the actors take: each video decoded by a task of its own (a block per video), into its frames;
    photos (and the rest) as their one `whole` row, made here (they need no decoding task), a call's worth to a
    block, so that they reach an actor together and share its batches."""
    videos: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for source in todo:
        item: dict[str, Any] = {"uri": source.uri, "source": pickle.dumps(source)}
        if source.kind == "video":
            videos.append(item)
        else:
            others.append(row(item["source"], source.uri, "whole", -1, {}))
    parts: list[ray.data.Dataset] = []
    if videos:
        frames = ray.data.from_items(videos, override_num_blocks=len(videos))
        parts.append(frames.flat_map(partial(decoded, limits=engine.limits, fps=fps), num_cpus=1))
    if others:
        parts.append(ray.data.from_items(others, override_num_blocks=math.ceil(len(others) / FRAMES_PER_CALL)))
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]


@dataclass(frozen=True)
class Round:
    """What a round's writes check and report to: the sources not yet written, and the progress bar."""

    waiting: set[str]
    bar: tqdm


def _write_all(finished: Iterator[SourceRows], output: Output, job: JobOptions, summary: Summary, on: Round) -> None:
    """Parts of `part_sources` sources (or `part_seconds`), each source once: one that comes back twice (a task
    Ray ran again) is dropped, as is any not asked for."""
    batch: list[SourceRows] = []
    last_part = time.monotonic()
    try:
        for rows in finished:
            if rows.source["source"] not in on.waiting:
                continue
            on.waiting.discard(rows.source["source"])
            batch.append(rows)
            on.bar.update()
            if not summary.count(rows.source) and job.strict:
                summary.stopped = True
                break
            if len(batch) >= job.part_sources or time.monotonic() - last_part >= job.part_seconds:
                output.write(batch)
                batch, last_part = [], time.monotonic()
    finally:
        if batch:
            output.write(batch)
