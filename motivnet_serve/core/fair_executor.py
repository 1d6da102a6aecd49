"""Worker threads that take waiting calls in turns across groups, as the batcher takes faces.

Face detection runs on a few threads. A plain thread pool's FIFO let a video with frames in flight push a
photo's detection behind all of them; taking calls round-robin by group (a request, or a video's or a live
session's frames) bounds a photo's wait by the number of groups waiting, not by the frames queued.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

from motivnet_serve.core.fair_queue import FairQueue

T = TypeVar("T")

Call = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class FairExecutor:
    """`workers` threads named `{name}_{i}`, each running `initializer` first; `submit` returns a
    `concurrent.futures.Future`.

    The threads are daemons, so a process that never calls `shutdown` can still exit; `shutdown` runs
    every call already submitted, then stops them.
    """

    def __init__(self, workers: int, name: str, initializer: Callable[[], None] | None = None) -> None:
        self._initializer = initializer
        self._queue: FairQueue[Call] = FairQueue()
        self._changed = threading.Condition()
        self._closing = False
        self._running = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{index}", daemon=True) for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, group: Hashable, work: Callable[..., T], *args: Any) -> Future[T]:
        """Queues `work(*args)` in `group`'s turn; raises RuntimeError once shut down."""
        future: Future[T] = Future()
        with self._changed:
            if self._closing:
                raise RuntimeError("the executor is shut down")
            self._queue.extend(group, [(future, work, args)])
            self._changed.notify()
        return future

    @property
    def running(self) -> int:
        """Calls running now (read without the lock: a thread-safe int, a moment's view is all it promises)."""
        return self._running

    @property
    def busy_workers(self) -> int:
        """Workers running a call or about to take a queued one: what a forward starting now will share the
        CPU with during its run (a detection queued now starts within milliseconds). A moment's view."""
        return min(len(self._threads), self._running + len(self._queue))

    def shutdown(self) -> None:
        """Refuses new calls, finishes the queued ones, and waits for the threads to end."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        if self._initializer is not None:
            self._initializer()
        while (call := self._next()) is not None:
            future, work, args = call
            if not future.set_running_or_notify_cancel():
                continue
            try:
                with self._counted():
                    result = work(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(exc)
            else:
                future.set_result(result)

    @contextmanager
    def _counted(self) -> Iterator[None]:
        """Counts a call as running until its work returns, before its waiter hears of it: the forward that
        its answer lets start must not count it as still running."""
        with self._changed:
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1

    def _next(self) -> Call | None:
        """The next call in turn; None once shut down with nothing left."""
        with self._changed:
            while not self._queue and not self._closing:
                self._changed.wait()
            return self._queue.popleft() if self._queue else None
