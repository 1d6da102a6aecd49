"""The batcher with plain functions as the model: batching policy, failures, back-pressure, shutdown.

No test here hopes that a sleep was long enough: a gated model holds a batch until the test opens the gate,
a clock the test moves makes deadlines pass and waits last exactly as long as it says, and delays that must
not be waited out are an hour long, so waiting them out fails the test at its deadline instead of passing.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest

from motivnet_serve.core.batching import DynamicBatcher, Timing
from motivnet_serve.core.errors import DeadlineExceededError, ModelFailureError, NotReadyError, QueueFullError

T = TypeVar("T")
HOUR = 3600.0


class RecordingObserver:
    """Keeps every callback, so tests can check what metrics would have seen."""

    def __init__(self) -> None:
        self.depths: list[int] = []
        self.waits: list[float] = []
        self.batches: list[tuple[int, float]] = []
        self.rejections: list[tuple[str, int]] = []

    def queue_depth(self, depth: int) -> None:
        self.depths.append(depth)

    def dequeued(self, waited_seconds: float) -> None:
        self.waits.append(waited_seconds)

    def batch_done(self, size: int, seconds: float) -> None:
        self.batches.append((size, seconds))

    def rejected(self, reason: str, count: int) -> None:
        self.rejections.append((reason, count))


class Doubler:
    """A model that doubles its inputs, optionally sleeping, and records every batch it was given."""

    def __init__(self, sleep_s: float = 0.0) -> None:
        self.sleep_s = sleep_s
        self.batches: list[list[Any]] = []

    def __call__(self, payloads: list[Any]) -> list[Any]:
        self.batches.append(list(payloads))
        time.sleep(self.sleep_s)
        return [payload * 2 for payload in payloads]

    @property
    def seen(self) -> list[Any]:
        return [payload for batch in self.batches for payload in batch]


class GatedDoubler(Doubler):
    """Holds every batch until `gate` opens, so a test can keep the worker busy while it queues more."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, payloads: list[Any]) -> list[Any]:
        self.entered.set()
        self.gate.wait(60)
        return super().__call__(payloads)


class ManualClock:
    """The batcher's clock, moved only by the test. Use it with no batch delay: the delay is slept in real
    time while this clock stands still, so a delay would never be used up."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run(main: Awaitable[T]) -> T:
    """asyncio.run that also fails on anything the loop reports, such as a never-retrieved exception."""

    async def checked() -> T:
        reports: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reports.append(context))
        result = await main
        gc.collect()
        assert not reports, reports
        return result

    return asyncio.run(checked())


@asynccontextmanager
async def running(process: Callable[[list[Any]], list[Any]], **settings: Any) -> AsyncIterator[DynamicBatcher]:
    options: dict[str, Any] = {"max_batch_size": 4, "max_batch_delay_s": 0.01, "max_queue_size": 64}
    batcher = DynamicBatcher(process, **{**options, **settings})
    await batcher.start()
    try:
        yield batcher
    finally:
        await batcher.stop()


async def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Polls a condition that another thread or task makes true; the timeout guards a stall, it is no margin."""
    give_up = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < give_up, "condition never became true"
        await asyncio.sleep(0.002)


def later(seconds: float) -> float:
    return time.monotonic() + seconds


def test_burst_is_batched_up_to_max_and_each_submitter_gets_its_own_results() -> None:
    model, observer = Doubler(sleep_s=0.02), RecordingObserver()

    async def main() -> list[list[Any]]:
        async with running(model, max_batch_size=4, observer=observer) as batcher:
            return await asyncio.gather(*(batcher.submit([n], later(30)) for n in range(20)))

    results = run(main())
    assert results == [[n * 2] for n in range(20)]
    sizes = [len(batch) for batch in model.batches]
    assert max(sizes) <= 4
    assert max(sizes) > 1
    assert sum(sizes) == 20
    assert [size for size, _ in observer.batches] == sizes
    assert all(seconds >= 0.02 for _, seconds in observer.batches)
    assert len(observer.waits) == 20
    assert observer.depths[-1] == 0


def test_full_batch_does_not_wait_for_the_delay() -> None:
    model = Doubler()

    async def main() -> list[list[Any]]:
        async with running(model, max_batch_size=4, max_batch_delay_s=HOUR) as batcher:
            return await asyncio.gather(*(batcher.submit([n], later(30)) for n in range(4)))

    assert run(main()) == [[0], [2], [4], [6]]
    assert model.batches == [[0, 1, 2, 3]]


def test_a_lone_item_waits_for_partners_until_the_delay() -> None:
    model, observer = Doubler(), RecordingObserver()

    async def main() -> list[list[Any]]:
        async with running(model, max_batch_size=2, max_batch_delay_s=HOUR, observer=observer) as batcher:
            first = asyncio.create_task(batcher.submit([1], later(30)))
            await until(lambda: len(observer.waits) == 1)
            return await asyncio.gather(first, batcher.submit([2], later(30)))

    assert run(main()) == [[2], [4]]
    assert model.batches == [[1, 2]]


def test_a_lone_item_goes_when_the_delay_is_used_up() -> None:
    async def main() -> float:
        async with running(Doubler(), max_batch_delay_s=0.2) as batcher:
            start = time.monotonic()
            assert await batcher.submit([1], later(30)) == [2]
            return time.monotonic() - start

    assert run(main()) >= 0.2


def test_without_a_delay_a_lone_item_goes_at_once() -> None:
    model = GatedDoubler()

    async def main() -> None:
        async with running(model, max_batch_size=4, max_batch_delay_s=0.0, clock=ManualClock()) as batcher:
            first = asyncio.create_task(batcher.submit([1], HOUR * 2))
            await until(model.entered.is_set)
            second = asyncio.create_task(batcher.submit([2], HOUR * 2))
            await until(lambda: batcher.depth == 1)
            model.gate.set()
            assert await asyncio.gather(first, second) == [[2], [4]]

    try:
        run(main())
    finally:
        model.gate.set()
    assert model.batches == [[1], [2]]


def test_one_request_is_split_across_batches_and_answered_in_order() -> None:
    model = Doubler()

    async def main() -> list[Any]:
        async with running(model, max_batch_size=2) as batcher:
            return await batcher.submit([1, 2, 3, 4, 5], later(30))

    assert run(main()) == [2, 4, 6, 8, 10]
    assert model.batches == [[1, 2], [3, 4], [5]]


def test_an_exception_result_fails_only_its_item() -> None:
    def model(payloads: list[Any]) -> list[Any]:
        return [ValueError(f"no face in {p}") if p == "bad" else p.upper() for p in payloads]

    async def main() -> list[Any]:
        async with running(model, max_batch_delay_s=0.05) as batcher:
            return await asyncio.gather(
                batcher.submit(["a"], later(30)),
                batcher.submit(["bad"], later(30)),
                batcher.submit(["c"], later(30)),
                return_exceptions=True,
            )

    first, failed, last = run(main())
    assert (first, last) == (["A"], ["C"])
    assert isinstance(failed, ValueError)
    assert "no face in bad" in str(failed)


def test_a_raising_model_fails_its_batch_and_the_next_batch_works() -> None:
    calls: list[list[Any]] = []

    def model(payloads: list[Any]) -> list[Any]:
        calls.append(payloads)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory")
        return payloads

    async def main() -> None:
        async with running(model) as batcher:
            with pytest.raises(ModelFailureError, match="CUDA out of memory"):
                await batcher.submit([1, 2], later(30))
            assert batcher.alive
            assert await batcher.submit([3], later(30)) == [3]

    run(main())
    assert calls == [[1, 2], [3]]


def test_a_wrong_number_of_results_is_an_inference_error() -> None:
    async def main() -> None:
        async with running(lambda payloads: payloads[:1]) as batcher:
            with pytest.raises(ModelFailureError, match="1 results for 2 inputs"):
                await batcher.submit([1, 2], later(30))

    run(main())


def test_full_queue_fails_fast_with_retry_after_and_accepted_work_completes() -> None:
    model, observer = GatedDoubler(), RecordingObserver()

    async def main() -> None:
        async with running(model, max_batch_size=1, max_queue_size=2, retry_after_s=3, observer=observer) as batcher:
            running_one = asyncio.create_task(batcher.submit([1], later(30)))
            await until(model.entered.is_set)
            queued = asyncio.create_task(batcher.submit([2, 3], later(30)))
            await until(lambda: batcher.depth == 2)
            for too_many in ([4], [5, 6, 7]):
                with pytest.raises(QueueFullError) as caught:
                    await batcher.submit(too_many, later(30))
                assert caught.value.headers == {"Retry-After": "3"}
            assert batcher.depth == 2
            model.gate.set()
            assert await running_one == [2]
            assert await queued == [4, 6]

    try:
        run(main())
    finally:
        model.gate.set()
    assert observer.rejections == [("queue_full", 1), ("queue_full", 3)]
    assert model.seen == [1, 2, 3]


def test_expired_items_never_reach_the_model() -> None:
    model, observer, clock = GatedDoubler(), RecordingObserver(), ManualClock()

    async def main() -> None:
        async with running(model, observer=observer, max_batch_delay_s=0.0, clock=clock) as batcher:
            busy = asyncio.create_task(batcher.submit([1], clock() + HOUR))
            await until(model.entered.is_set)
            doomed = asyncio.create_task(batcher.submit([2, 3], clock() + 10))
            await until(lambda: batcher.depth == 2)
            clock.advance(11)
            model.gate.set()
            with pytest.raises(DeadlineExceededError):
                await doomed
            assert await busy == [2]
            assert batcher.depth == 0
            with pytest.raises(DeadlineExceededError):
                await batcher.submit([4], clock() - 1)

    try:
        run(main())
    finally:
        model.gate.set()
    assert model.seen == [1]
    assert observer.rejections == [("timeout", 2), ("timeout", 1)]


def test_submit_gives_up_at_its_deadline_while_its_batch_runs() -> None:
    model = GatedDoubler()

    async def main() -> None:
        async with running(model) as batcher:
            with pytest.raises(DeadlineExceededError):
                await batcher.submit([1], later(0.1))
            model.gate.set()
            assert await batcher.submit([2], later(30)) == [4]

    try:
        run(main())
    finally:
        model.gate.set()
    assert model.seen == [1, 2]


def test_cancelled_submit_is_skipped_and_counted() -> None:
    model, observer = GatedDoubler(), RecordingObserver()

    async def main() -> None:
        async with running(model, observer=observer) as batcher:
            busy = asyncio.create_task(batcher.submit([1], later(30)))
            await until(model.entered.is_set)
            gone = asyncio.create_task(batcher.submit([2, 3], later(30)))
            await until(lambda: batcher.depth == 2)
            gone.cancel()
            with pytest.raises(asyncio.CancelledError):
                await gone
            assert batcher.depth == 0
            model.gate.set()
            assert await busy == [2]
            assert await batcher.submit([4], later(30)) == [8]

    try:
        run(main())
    finally:
        model.gate.set()
    assert model.seen == [1, 4]
    assert observer.rejections == [("cancelled", 2)]


def test_stop_drains_the_queue_then_refuses_new_work() -> None:
    model = GatedDoubler()

    async def main() -> None:
        batcher = DynamicBatcher(model, max_batch_size=2, max_batch_delay_s=0.01, max_queue_size=64)
        assert not batcher.alive
        assert not batcher.accepting
        await batcher.start()
        assert batcher.alive
        assert batcher.accepting
        pending = [asyncio.create_task(batcher.submit([n], later(30))) for n in range(6)]
        await until(model.entered.is_set)
        assert batcher.depth == 4
        stopping = asyncio.create_task(batcher.stop())
        await until(lambda: not batcher.accepting)
        with pytest.raises(NotReadyError, match="shutting down"):
            await batcher.submit([9], later(30))
        model.gate.set()
        await stopping
        assert sorted(model.seen) == list(range(6))
        assert await asyncio.gather(*pending) == [[n * 2] for n in range(6)]
        assert not batcher.alive
        assert not batcher.accepting

    try:
        run(main())
    finally:
        model.gate.set()


def test_submit_before_start_is_refused() -> None:
    async def main() -> None:
        batcher = DynamicBatcher(Doubler(), max_batch_size=2, max_batch_delay_s=0.0, max_queue_size=4)
        with pytest.raises(NotReadyError, match="not running"):
            await batcher.submit([1], later(30))

    run(main())


@pytest.mark.parametrize(
    "settings",
    [
        {"max_batch_size": 0, "max_batch_delay_s": 0.0, "max_queue_size": 4},
        {"max_batch_size": 2, "max_batch_delay_s": -1.0, "max_queue_size": 4},
        {"max_batch_size": 2, "max_batch_delay_s": 0.0, "max_queue_size": 0},
    ],
)
def test_bad_settings_fail_at_construction(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        DynamicBatcher(Doubler(), **settings)


def test_with_nobody_incoming_a_lone_item_does_not_wait_for_partners() -> None:
    async def main() -> None:
        async with running(Doubler(), max_batch_delay_s=HOUR, wait_only_for_incoming=True) as batcher:
            with batcher.incoming() as arrival:
                assert await arrival.submit([1], later(30)) == [2]

    run(main())


def test_an_announced_request_is_waited_for_and_joins_the_batch() -> None:
    model, observer = Doubler(), RecordingObserver()

    async def main() -> list[list[Any]]:
        decoded = asyncio.Event()
        async with running(model, max_batch_delay_s=HOUR, wait_only_for_incoming=True, observer=observer) as batcher:

            async def request(value: int, ready: asyncio.Event | None) -> list[Any]:
                with batcher.incoming() as arrival:
                    if ready is not None:
                        await ready.wait()
                    return await arrival.submit([value], later(30))

            both = asyncio.gather(request(1, None), request(2, decoded))
            await until(lambda: len(observer.waits) == 1)
            decoded.set()
            return await both

    assert run(main()) == [[2], [4]]
    assert model.batches == [[1, 2]]


def test_a_request_leaving_without_submitting_stops_the_wait() -> None:
    model, observer = Doubler(), RecordingObserver()

    async def main() -> None:
        decode_fails = asyncio.Event()
        async with running(model, max_batch_delay_s=HOUR, wait_only_for_incoming=True, observer=observer) as batcher:

            async def failing_request() -> None:
                with batcher.incoming():
                    await decode_fails.wait()
                    raise ValueError("its image did not decode")

            waiting = asyncio.ensure_future(failing_request())
            with batcher.incoming() as arrival:
                answer = asyncio.ensure_future(arrival.submit([1], later(30)))
                await until(lambda: len(observer.waits) == 1)
                decode_fails.set()
                assert await answer == [2]
            with pytest.raises(ValueError, match="did not decode"):
                await waiting

    run(main())
    assert model.batches == [[1]]


def test_timing_reports_the_longest_queue_wait_and_batch() -> None:
    model, clock = GatedDoubler(), ManualClock()

    async def main() -> tuple[Timing, Timing]:
        async with running(model, max_batch_size=1, max_batch_delay_s=0.0, clock=clock) as batcher:
            first, second = Timing(), Timing()
            running_first = asyncio.ensure_future(batcher.submit([1], clock() + HOUR, first))
            await until(model.entered.is_set)
            queued_second = asyncio.ensure_future(batcher.submit([2], clock() + HOUR, second))
            await until(lambda: batcher.depth == 1)
            clock.advance(7.0)
            model.gate.set()
            await asyncio.gather(running_first, queued_second)
            return first, second

    try:
        first, second = run(main())
    finally:
        model.gate.set()
    assert (first.queue_s, first.inference_s) == (0.0, 7.0)
    assert (second.queue_s, second.inference_s) == (7.0, 0.0)
