"""The detectors' executor: calls taken in turns across groups, failures handed to the caller, a clean stop."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import pytest

from motivnet_serve.core.fair_executor import FairExecutor

WAIT_S = 30


def _held(executor: FairExecutor) -> threading.Event:
    """Occupies one of the executor's workers until the returned gate opens."""
    started, gate = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        gate.wait(WAIT_S)

    executor.submit("holder", hold)
    assert started.wait(WAIT_S)
    return gate


def test_a_photo_overtakes_a_videos_queued_frames():
    executor = FairExecutor(1, "test")
    ran: list[str] = []
    gate = _held(executor)
    futures = [executor.submit("video", ran.append, f"frame {index}") for index in range(4)]
    futures.append(executor.submit("photo", ran.append, "photo"))
    gate.set()
    for future in futures:
        future.result(WAIT_S)
    assert ran == ["frame 0", "photo", "frame 1", "frame 2", "frame 3"]
    executor.shutdown()


def test_a_failure_reaches_the_caller_and_the_worker_goes_on():
    executor = FairExecutor(1, "test")

    def fail() -> None:
        raise ValueError("bad frame")

    with pytest.raises(ValueError, match="bad frame"):
        executor.submit("a", fail).result(WAIT_S)
    assert executor.submit("a", sum, [1, 2]).result(WAIT_S) == 3
    executor.shutdown()


def test_a_cancelled_call_never_runs():
    executor = FairExecutor(1, "test")
    ran: list[str] = []
    gate = _held(executor)
    cancelled = executor.submit("a", ran.append, "cancelled")
    assert cancelled.cancel()
    kept = executor.submit("a", ran.append, "kept")
    gate.set()
    kept.result(WAIT_S)
    with pytest.raises(CancelledError):
        cancelled.result(0)
    assert ran == ["kept"]
    executor.shutdown()


def test_shutdown_finishes_what_is_queued_then_refuses_more():
    executor = FairExecutor(2, "test")
    ran: list[int] = []
    lock = threading.Lock()

    def record(value: int) -> None:
        with lock:
            ran.append(value)

    gate = _held(executor)
    futures = [executor.submit(index % 3, record, index) for index in range(20)]
    stopper = threading.Thread(target=executor.shutdown)
    stopper.start()
    gate.set()
    stopper.join(WAIT_S)
    assert not stopper.is_alive()
    assert all(future.done() for future in futures)
    assert sorted(ran) == list(range(20))
    with pytest.raises(RuntimeError, match="shut down"):
        executor.submit("late", record, 99)


def test_workers_carry_the_executors_name():
    executor = FairExecutor(2, "detect")
    names = {executor.submit(index, lambda: threading.current_thread().name).result(WAIT_S) for index in range(8)}
    assert names <= {"detect_0", "detect_1"}
    executor.shutdown()


def test_running_counts_calls_until_their_work_returns_before_the_caller_hears():
    executor = FairExecutor(2, "test")
    assert executor.running == 0
    gate = _held(executor)
    assert executor.running == 1
    seen_by_caller: list[int] = []
    done = executor.submit("a", int)
    done.add_done_callback(lambda _: seen_by_caller.append(executor.running))
    done.result(WAIT_S)
    assert seen_by_caller == [1]  # the held call only: the finished one no longer counts
    gate.set()
    executor.shutdown()
    assert executor.running == 0


def test_busy_workers_count_queued_calls_up_to_the_number_of_workers():
    """A queued detection is about to take a core, so a forward starting now must not count that core free."""
    executor = FairExecutor(2, "test")
    assert executor.busy_workers == 0
    first = _held(executor)
    assert executor.busy_workers == 1
    second = _held(executor)
    queued = [executor.submit("queued", int) for _ in range(3)]
    assert executor.busy_workers == 2, "two running and three queued still occupy only the two workers"
    first.set()
    second.set()
    for future in queued:
        future.result(WAIT_S)
    executor.shutdown()
    assert executor.busy_workers == 0
