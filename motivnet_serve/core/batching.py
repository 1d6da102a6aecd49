"""Dynamic batching: many small requests become few model calls.

One consumer task owns the queue, so there are no locks: `submit` appends items (one per payload, e.g. one
per face) and waits on their futures; the consumer forms a batch and runs `process` in a dedicated worker
thread, keeping the event loop free to accept the next items meanwhile. The policy follows Triton's dynamic
batcher and LitServe's `collate_requests`: take up to `max_batch_size` items, waiting at most
`max_batch_delay_s` after the first one arrived. Items whose client gave up (deadline passed, request
cancelled) never reach the model and are counted, and a full queue fails fast instead of growing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from motivnet_serve.core import tracing
from motivnet_serve.core.errors import DeadlineExceededError, ModelFailureError, NotReadyError, QueueFullError
from motivnet_serve.core.fair_queue import FairQueue

log = logging.getLogger(__name__)

Process = Callable[[list[Any]], list[Any]]
Clock = Callable[[], float]


class BatchObserver(Protocol):
    """Where metrics attach, so that measuring the queue never means editing the loop."""

    def queue_depth(self, depth: int) -> None: ...

    def dequeued(self, waited_seconds: float) -> None: ...

    def batch_done(self, size: int, seconds: float) -> None: ...

    def rejected(self, reason: str, count: int) -> None: ...


class NullObserver:
    """The default observer, so the loop never has to ask whether anyone is listening."""

    def queue_depth(self, depth: int) -> None:
        pass

    def dequeued(self, waited_seconds: float) -> None:
        pass

    def batch_done(self, size: int, seconds: float) -> None:
        pass

    def rejected(self, reason: str, count: int) -> None:
        pass


@dataclass(slots=True)
class Timing:
    """Where a request's time went, filled in by the consumer: the longest any of its items waited in the
    queue, and the longest batch any of them ran in. It travels back to the client as response headers."""

    queue_s: float = 0.0
    inference_s: float = 0.0


@dataclass(slots=True)
class _Item:
    """One payload waiting for the model; it carries its own reply slot and timing, as a TEI entry does."""

    payload: Any
    future: asyncio.Future[Any]
    enqueued_at: float
    deadline: float
    timing: Timing
    parent: tracing.Parent | None = None
    waited_s: float = 0.0


def _timed_call(process: Process, payloads: list[Any], clock: Clock) -> tuple[list[Any] | Exception, float]:
    """Runs in the worker thread; a raised error is returned, so the loop decides how each item fails."""
    start = clock()
    try:
        outcome: list[Any] | Exception = process(payloads)
    except Exception as exc:  # noqa: BLE001 - the model's failure belongs to this batch, not to the server
        outcome = exc
    return outcome, clock() - start


def _settle(item: _Item, result: Any) -> None:
    """A client that already gave up has a done future; writing to it would raise, so it is left alone."""
    if item.future.done():
        return
    if isinstance(result, BaseException):
        item.future.set_exception(result)
    else:
        item.future.set_result(result)


def _outcome(futures: list[asyncio.Future[Any]]) -> list[Any]:
    """Reads every error first, so none is reported as 'never retrieved', then raises the first one."""
    errors = [future.exception() for future in futures]
    first = next((error for error in errors if error is not None), None)
    if first is not None:
        raise first
    return [future.result() for future in futures]


class Arrival:
    """A request announced by `DynamicBatcher.incoming()`: it leaves the incoming count in the same step
    its items enter the queue, so the consumer never sees it as neither coming nor queued."""

    def __init__(self, batcher: DynamicBatcher) -> None:
        self._batcher = batcher
        self._counted = True

    def arrived(self) -> None:
        if self._counted:
            self._counted = False
            self._batcher._arrived()

    async def submit(
        self, payloads: list[Any], deadline: float, timing: Timing | None = None, group: Hashable | None = None
    ) -> list[Any]:
        self.arrived()
        return await self._batcher.submit(payloads, deadline, timing, group)


class DynamicBatcher:
    """Queues payloads from many requests and feeds them to `process` in batches.

    Args:
        process: the model step; takes payloads, returns one result per payload in order. A result that is
            an exception fails that item alone. Runs in one worker thread, never on the event loop.
        max_batch_size: most items per `process` call.
        max_batch_delay_s: longest wait for more items after the first item of a batch arrived; 0 never waits.
        max_queue_size: most items waiting; beyond it `submit` fails fast with QueueFullError.
        observer: receives queue depth, waits, batch sizes and rejections (metrics).
        retry_after_s: the Retry-After a rejected client is told.
        wait_only_for_incoming: wait out the delay only while a request announced with `incoming()` is on
            its way (decoding, detecting); with nobody coming, a lone item goes at once instead of idling
            for partners that will not arrive. Off: Triton's plain rule, always wait up to the delay.
        clock: what "now" is for deadlines, queue waits and batch times; time.monotonic in the service. A
            test seam: a clock the test moves makes a deadline pass, or a wait last, exactly when the test
            says, instead of when a sleep hopes it has. The delay wait itself still sleeps in real time.
    """

    def __init__(
        self,
        process: Process,
        *,
        max_batch_size: int,
        max_batch_delay_s: float,
        max_queue_size: int,
        observer: BatchObserver | None = None,
        retry_after_s: int = 1,
        wait_only_for_incoming: bool = False,
        clock: Clock = time.monotonic,
    ) -> None:
        _validate(max_batch_size, max_batch_delay_s, max_queue_size, retry_after_s)
        self._process = process
        self._max_batch_size = max_batch_size
        self._max_batch_delay_s = max_batch_delay_s
        self._max_queue_size = max_queue_size
        self._observer: BatchObserver = observer or NullObserver()
        self._retry_after_s = retry_after_s
        self._queue: FairQueue[_Item] = FairQueue()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._accepting = False
        self._stopping = False
        self._wait_only_for_incoming = wait_only_for_incoming
        self._incoming = 0
        self._clock = clock

    @property
    def alive(self) -> bool:
        """Readiness checks ask this: a dead consumer would let requests queue until their deadline."""
        return self._task is not None and not self._task.done()

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def accepting(self) -> bool:
        return self._accepting and self.alive

    @contextmanager
    def incoming(self) -> Iterator[Arrival]:
        """Announces a request that will submit soon (it is decoding, detecting); it stops counting as
        coming when its `Arrival.submit` queues its items, or when it leaves the block without submitting."""
        self._incoming += 1
        arrival = Arrival(self)
        try:
            yield arrival
        finally:
            arrival.arrived()

    def _arrived(self) -> None:
        self._incoming -= 1
        self._wakeup.set()

    async def start(self) -> None:
        """Starts the consumer; called from the app's lifespan, once the model is loaded."""
        if self._task is not None:
            raise RuntimeError("DynamicBatcher.start() was called twice; create a new batcher instead")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batcher")
        self._task = asyncio.create_task(self._consume(), name="batcher-consumer")
        self._accepting = True

    async def stop(self) -> None:
        """Graceful shutdown: refuse new work, finish every queued item, then release the worker thread."""
        self._accepting = False
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.wait([self._task])
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(
        self, payloads: list[Any], deadline: float, timing: Timing | None = None, group: Hashable | None = None
    ) -> list[Any]:
        """Results in payload order; gives up at `deadline` (a value of the batcher's clock) whatever the queue.
        `timing`, when given, receives the items' longest queue wait and longest batch. Submits that share a
        `group` (a video's frames, a stream's) take one turn between them; by default each submit is its own."""
        self._admit(len(payloads), deadline)
        if not payloads:
            return []
        loop = asyncio.get_running_loop()
        now = self._clock()
        timing = timing or Timing()
        parent = tracing.parent()
        items = [_Item(payload, loop.create_future(), now, deadline, timing, parent) for payload in payloads]
        self._queue.extend(group if group is not None else object(), items)
        self._observer.queue_depth(len(self._queue))
        self._wakeup.set()
        futures = [item.future for item in items]
        try:
            await asyncio.wait_for(asyncio.wait(futures), timeout=deadline - now)
        except asyncio.TimeoutError:
            self._withdraw(items, "timeout")
            raise DeadlineExceededError(_deadline_message(deadline - now)) from None
        except asyncio.CancelledError:
            self._withdraw(items, "cancelled")
            raise
        return _outcome(futures)

    def check_accepting(self) -> None:
        """The 503 for work offered while the batcher takes none (stopping, or its worker gone)."""
        if not self.accepting:
            reason = "server is shutting down" if self._stopping else "the batcher is not running"
            raise NotReadyError(f"{reason}; retry in a moment or on another replica")

    def _admit(self, count: int, deadline: float) -> None:
        """Fails fast, before anything is queued, so a rejected request costs the server nothing."""
        self.check_accepting()
        if len(self._queue) + count > self._max_queue_size:
            self._observer.rejected("queue_full", count)
            raise QueueFullError(
                f"the queue cannot take {count} more items ({len(self._queue)}/{self._max_queue_size} "
                f"waiting); retry after {self._retry_after_s} s or send fewer faces per request",
                retry_after_s=self._retry_after_s,
            )
        if deadline <= self._clock():
            self._observer.rejected("timeout", count)
            raise DeadlineExceededError(_deadline_message(0.0))

    def _withdraw(self, items: list[_Item], reason: str) -> None:
        """The client left: its queued items are removed at once (freeing their payloads) and counted.

        Items already in a running batch cannot be recalled; cancelling their futures makes the consumer
        drop their results.
        """
        for item in items:
            item.future.cancel()
        removed = self._queue.remove_if(lambda item: item.future.cancelled())
        if removed:
            self._observer.rejected(reason, removed)
            self._observer.queue_depth(len(self._queue))

    async def _consume(self) -> None:
        """The one task that owns the queue; a failing batch is answered with errors, never fatal."""
        while not (self._stopping and not self._queue):
            batch: list[_Item] = []
            try:
                batch = await self._collect()
                await self._run(batch)
            except Exception as exc:  # a bug or a broken observer must not stop serving
                log.exception("batch step failed; failing its %d items and carrying on", len(batch))
                for item in batch:
                    _settle(item, ModelFailureError(f"internal error while batching: {exc!r}"))

    async def _collect(self) -> list[_Item]:
        """Waits for a first item, then for more until the batch is full or its delay is used up.

        The delay counts from when the first item arrived, so items that queued while the previous batch
        ran are sent at once: under load batches fill without any waiting.
        """
        batch: list[_Item] = []
        while not batch and not (self._stopping and not self._queue):
            if not self._queue:
                await self._wait_for_items(None)
            self._take(batch)
        if not batch:
            return batch
        close_at = batch[0].enqueued_at + self._max_batch_delay_s
        while len(batch) < self._max_batch_size and not self._stopping:
            if self._wait_only_for_incoming and not self._incoming:
                break
            remaining = close_at - self._clock()
            if remaining <= 0:
                break
            await self._wait_for_items(remaining)
            self._take(batch)
        return batch

    async def _wait_for_items(self, timeout: float | None) -> None:
        """Sleeps until `submit` or `stop` rings, or the timeout ends; callers re-check the queue after."""
        self._wakeup.clear()
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def _take(self, batch: list[_Item]) -> None:
        """Moves queued items into `batch`; ones whose deadline passed are answered and never run."""
        now = self._clock()
        expired = 0
        while self._queue and len(batch) < self._max_batch_size:
            item = self._queue.popleft()
            if item.deadline <= now:
                item.future.set_exception(DeadlineExceededError(_deadline_message(now - item.enqueued_at)))
                expired += 1
                continue
            item.waited_s = now - item.enqueued_at
            self._observer.dequeued(item.waited_s)
            item.timing.queue_s = max(item.timing.queue_s, item.waited_s)
            batch.append(item)
        if expired:
            self._observer.rejected("timeout", expired)
        self._observer.queue_depth(len(self._queue))

    async def _run(self, batch: list[_Item]) -> None:
        """Runs one batch in the worker thread and hands each result to its own item."""
        if not batch:
            return
        loop = asyncio.get_running_loop()
        payloads = [item.payload for item in batch]
        traced = [(item.parent, item.waited_s) for item in batch if item.parent is not None]
        start_ns = time.time_ns()
        outcome, seconds = await loop.run_in_executor(self._executor, _timed_call, self._process, payloads, self._clock)
        if traced:
            tracing.record_batch(traced, len(batch), start_ns, time.time_ns())
        self._observer.batch_done(len(batch), seconds)
        for item in batch:
            item.timing.inference_s = max(item.timing.inference_s, seconds)
        if isinstance(outcome, Exception):
            message = f"the model failed on a batch of {len(batch)}: {outcome!r}; retry, or report it if it recurs"
            for item in batch:
                _settle(item, ModelFailureError(message))
        elif len(outcome) != len(batch):
            message = f"the model returned {len(outcome)} results for {len(batch)} inputs; this is a server bug"
            for item in batch:
                _settle(item, ModelFailureError(message))
        else:
            for item, result in zip(batch, outcome):
                _settle(item, result)


def _validate(max_batch_size: int, max_batch_delay_s: float, max_queue_size: int, retry_after_s: int) -> None:
    """Bad settings fail at startup with the fix, not as a hung or thrashing server later."""
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
    if max_batch_delay_s < 0:
        raise ValueError(f"max_batch_delay_s must be 0 (never wait) or more, got {max_batch_delay_s}")
    if max_queue_size < 1:
        raise ValueError(f"max_queue_size must be at least 1 (the queue is always bounded), got {max_queue_size}")
    if retry_after_s < 0:
        raise ValueError(f"retry_after_s must be 0 or more, got {retry_after_s}")


def _deadline_message(waited_s: float) -> str:
    return (
        f"gave up after {waited_s:.2f} s waiting for the model; the server is busy: "
        "retry later or allow a longer timeout"
    )
