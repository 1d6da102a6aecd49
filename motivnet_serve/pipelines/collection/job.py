"""The collection job on this machine: the pending sources through one in-process engine, into parts.

Several sources are in the engine at once (photos fill its batches; videos as many as the engine lets play at
once), finished sources gather in memory and leave as a part every `part_sources` sources or
`part_seconds` seconds, whichever comes first. So an interruption loses at most one part's worth of work,
and never leaves half of a source behind (`parts` explains why).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from motivnet_serve.core.engine import Engine
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.pipelines.collection.parts import Output, SourceRows, pending
from motivnet_serve.pipelines.collection.rows import AnalyzeOptions, SourceAnalyzer, SourceLimits
from motivnet_serve.pipelines.collection.sources import Source, content_sha256

PHOTOS_IN_FLIGHT = 8
"""Photos in the engine at once: enough to fill its batches while others are decoded and detected, few
enough that their decoded pixels stay well inside the engine's budget."""


@dataclass(frozen=True)
class JobOptions:
    """How the job runs, besides what each source is asked (`analyze`)."""

    analyze: AnalyzeOptions = field(default_factory=AnalyzeOptions)
    strict: bool = False
    retry_failed: bool = False
    progress: bool = True
    verify_content: bool = False
    """Also read every file the ledger lists as done and redo those whose content hash changed (a file
    rewritten with its old size and time); costs one read of the collection."""
    part_sources: int = 64
    part_seconds: float = 10.0


@dataclass
class Summary:
    """What a run did: sources listed, skipped as already done, analysed (ok or failed), frames and faces."""

    listed: int
    skipped: int
    ok: int = 0
    failed: int = 0
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    stopped: bool = False
    failed_before: int = 0
    """Sources an earlier run left failed and this one skipped (`retry_failed` analyses them again)."""

    def count(self, row: dict[str, Any]) -> bool:
        """Counts one analysed source (its `sources` row); True when it went well."""
        ok: bool = row["status"] == "ok"
        self.ok += ok
        self.failed += not ok
        self.frames += row["frames"]
        self.faces += row["faces"]
        return ok

    @property
    def any_failed(self) -> bool:
        return bool(self.failed or self.failed_before)

    def line(self) -> str:
        rate = self.faces / self.seconds if self.seconds else 0.0
        before = f" ({self.failed_before} of them failed)" if self.failed_before else ""
        stopped = "; stopped at the first failure (--strict)" if self.stopped else ""
        return (
            f"{self.ok + self.failed} sources analysed ({self.ok} ok, {self.failed} failed), {self.skipped} already "
            f"done{before}; {self.frames} frames, {self.faces} faces in {self.seconds:.1f} s ({rate:.1f} faces/s)"
            f"{stopped}"
        )


def resume(sources: Sequence[Source], output: Output, options: JobOptions) -> tuple[list[Source], Summary]:
    """What is left to analyse in the folder (read the ledger, forget what changed since), and the run's summary
    so far; any runner (this machine's job, a cluster's driver) starts with it."""
    ledger = output.open()
    content = content_sha256 if options.verify_content else None
    todo, stale = pending(sources, ledger, retry_failed=options.retry_failed, content=content)
    if stale:
        output.forget(stale)
    summary = Summary(listed=len(sources), skipped=len(sources) - len(todo))
    waiting = {source.uri for source in todo}
    summary.failed_before = sum(
        not ledger[source.uri].ok for source in sources if source.uri in ledger and source.uri not in waiting
    )
    return todo, summary


class CollectionJob:
    """One run over a list of sources into one output folder, with one engine."""

    def __init__(self, engine: Engine, limits: SourceLimits, metrics: Metrics, output: Output, options: JobOptions):
        self._analyzer = SourceAnalyzer(engine, limits, metrics, options.analyze)
        self._output = output
        self._options = options
        self._slots = {
            "photo": asyncio.Semaphore(PHOTOS_IN_FLIGHT),
            "video": asyncio.Semaphore(limits.videos_in_flight),
        }
        self._finished: list[SourceRows] = []
        self._last_part = time.monotonic()
        self._stop = asyncio.Event()
        self._writes: set[asyncio.Task[str]] = set()
        self._started = time.monotonic()

    async def run(self, sources: Sequence[Source]) -> Summary:
        """Skips what the folder says is done, forgets what changed since, and analyses the rest."""
        started = self._started = time.monotonic()
        todo, summary = await asyncio.to_thread(resume, sources, self._output, self._options)
        bar = tqdm(total=len(todo), unit="source", disable=not self._options.progress, file=sys.stderr)
        try:
            await self._analyze_all(todo, summary, bar)
        finally:
            bar.close()
            await self._write_part()
            await asyncio.gather(*self._writes)
            self._output.close()
            summary.seconds = time.monotonic() - started
        return summary

    async def _analyze_all(self, todo: Sequence[Source], summary: Summary, bar: tqdm) -> None:
        """Starts each source once a slot of its kind is free; on a stop, withdraws the unfinished ones."""
        running: set[asyncio.Task[None]] = set()
        try:
            for source in todo:
                slot = self._slots["photo" if source.kind == "photo" else "video"]
                await slot.acquire()
                if self._stop.is_set():
                    slot.release()
                    break
                task = asyncio.create_task(self._one(source, slot, summary, bar))
                running.add(task)
                task.add_done_callback(running.discard)
            await asyncio.gather(*running)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _one(self, source: Source, slot: asyncio.Semaphore, summary: Summary, bar: tqdm) -> None:
        try:
            if self._stop.is_set():
                return
            rows = await self._analyzer.analyze(source)
        finally:
            slot.release()
        ok = summary.count(rows.source)
        self._finished.append(rows)
        bar.update()
        rate = f"{summary.faces / max(time.monotonic() - self._started, 1e-6):.1f}"
        counts = {"frames": summary.frames, "faces": summary.faces, "faces/s": rate, "failed": summary.failed}
        bar.set_postfix(counts, refresh=False)
        if not ok and self._options.strict:
            summary.stopped = True
            self._stop.set()
        if len(self._finished) >= self._options.part_sources or self._part_due():
            self._writes.add(asyncio.create_task(self._write_part()))

    def _part_due(self) -> bool:
        return time.monotonic() - self._last_part >= self._options.part_seconds

    async def _write_part(self) -> str:
        """Hands the finished sources to a writer thread as one part; a cancelled caller still lets it finish."""
        batch, self._finished = self._finished, []
        self._last_part = time.monotonic()
        if not batch:
            return ""
        return await asyncio.shield(asyncio.to_thread(self._output.write, batch))
