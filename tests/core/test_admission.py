"""Admission: a request cap with a bounded line in front of it, a pixel budget that waits briefly, then refuses."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import pytest

from motivnet_serve.core.admission import Admission, Sessions
from motivnet_serve.core.errors import OverloadedError, RequestTooLargeError


class Seen:
    def __init__(self) -> None:
        self.refusals: list[str] = []
        self.counts: list[tuple[int, int]] = []

    def in_flight(self, requests: int, pixels: int) -> None:
        self.counts.append((requests, pixels))

    def refused(self, reason: str) -> None:
        self.refusals.append(reason)


def admission(seen: Seen, wait_s: float = 0.05) -> Admission:
    return Admission(
        max_requests=2, max_waiting=2, max_request_pixels=100, max_pixels=150, wait_s=wait_s, observer=seen
    )


async def _enter(gate: Admission, deadline: float) -> AsyncExitStack:
    """One request taken into flight; closing the returned stack ends it."""
    stack = AsyncExitStack()
    await stack.enter_async_context(gate.request(deadline))
    return stack


async def _leave(*stacks: AsyncExitStack) -> None:
    """Ends the requests, in order."""
    for stack in stacks:
        await stack.aclose()


def test_requests_beyond_the_cap_wait_in_line_and_are_served_in_order():
    async def scenario() -> None:
        seen = Seen()
        gate = admission(seen)
        deadline = time.monotonic() + 30
        first, second = await _enter(gate, deadline), await _enter(gate, deadline)
        third = asyncio.ensure_future(_enter(gate, deadline))
        fourth = asyncio.ensure_future(_enter(gate, deadline))
        await asyncio.sleep(0)
        assert not third.done()
        assert not fourth.done()
        await first.aclose()
        third_stack = await third
        assert not fourth.done(), "a freed slot passes to the first in line only"
        assert gate.requests == 2
        await third_stack.aclose()
        await (await fourth).aclose()
        await second.aclose()
        assert gate.requests == 0
        assert seen.refusals == []

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_a_full_line_refuses_at_once_with_retry_after():
    async def scenario() -> None:
        seen = Seen()
        gate = admission(seen)
        deadline = time.monotonic() + 30
        held = [await _enter(gate, deadline) for _ in range(2)]
        waiting = [asyncio.ensure_future(_enter(gate, deadline)) for _ in range(2)]
        await asyncio.sleep(0)
        start = time.monotonic()
        with pytest.raises(OverloadedError) as caught:
            await _enter(gate, deadline)
        assert time.monotonic() - start < 0.01
        assert caught.value.status == 503
        assert caught.value.headers["Retry-After"] == "1"
        assert seen.refusals == ["concurrency"]
        await _leave(*held)
        await _leave(*await asyncio.gather(*waiting))
        assert gate.requests == 0

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_a_request_still_in_line_at_its_deadline_is_refused_and_leaves_the_line():
    async def scenario() -> None:
        seen = Seen()
        gate = admission(seen)
        held = [await _enter(gate, time.monotonic() + 30) for _ in range(2)]
        with pytest.raises(OverloadedError, match="before the deadline"):
            await _enter(gate, time.monotonic() + 0.05)
        assert seen.refusals == ["concurrency"]
        await _leave(*held)
        assert gate.requests == 0

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_a_client_gone_while_in_line_hands_on_its_slot():
    async def scenario() -> None:
        gate = admission(Seen())
        deadline = time.monotonic() + 30
        first, second = await _enter(gate, deadline), await _enter(gate, deadline)
        leaving = asyncio.ensure_future(_enter(gate, deadline))
        staying = asyncio.ensure_future(_enter(gate, deadline))
        await asyncio.sleep(0)
        await first.aclose()  # hands its slot to `leaving`, which is cancelled before it runs
        leaving.cancel()
        await asyncio.gather(leaving, return_exceptions=True)
        await _leave(await staying, second)
        assert gate.requests == 0

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_a_request_larger_than_allowed_is_413_and_never_waits():
    async def scenario() -> None:
        seen = Seen()
        with pytest.raises(RequestTooLargeError):
            async with admission(seen).reserve(101, time.monotonic() + 5):
                pass
        assert seen.refusals == ["request_too_large"]

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_budget_waits_for_room_then_admits():
    async def scenario() -> None:
        seen = Seen()
        gate = admission(seen, wait_s=5)
        first = gate.reserve(100, time.monotonic() + 5)
        await first.__aenter__()
        second = asyncio.ensure_future(gate.reserve(100, time.monotonic() + 5).__aenter__())
        await asyncio.sleep(0)
        assert not second.done()
        assert gate.pixels == 100
        await first.__aexit__(None, None, None)
        reservation = await second
        assert gate.pixels == 100
        assert reservation.pixels == 100
        reservation.shrink_to(10)
        assert gate.pixels == 10
        assert seen.counts[-1] == (0, 10)

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_budget_refuses_after_its_short_wait():
    async def scenario() -> None:
        seen = Seen()
        gate = admission(seen, wait_s=0.05)
        async with gate.reserve(100, time.monotonic() + 5):
            start = time.monotonic()
            with pytest.raises(OverloadedError):
                async with gate.reserve(60, time.monotonic() + 5):
                    pass
            assert 0.04 < time.monotonic() - start < 1
        assert seen.refusals == ["budget"]
        assert gate.pixels == 0

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_sessions_beyond_the_cap_are_refused_at_once_and_places_come_back():
    seen, open_counts = Seen(), []
    videos = Sessions("videos", 2, seen, open_counts.append, retry_after_s=3)
    with videos.hold(), videos.hold():
        with pytest.raises(OverloadedError) as refused, videos.hold():
            pass
        assert refused.value.message == "at most 2 videos at once; retry later"
        assert refused.value.headers["Retry-After"] == "3"
    with videos.hold():
        assert videos.open == 1
    assert seen.refusals == ["videos"]
    assert open_counts == [1, 2, 1, 0, 1, 0]
