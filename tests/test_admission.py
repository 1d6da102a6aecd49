"""Admission: a request cap refused at once, a pixel budget that waits briefly, then refuses."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.admission import Admission
from service.errors import OverloadedError, RequestTooLargeError


class Seen:
    def __init__(self) -> None:
        self.refusals: list[str] = []
        self.counts: list[tuple[int, int]] = []

    def in_flight(self, requests: int, pixels: int) -> None:
        self.counts.append((requests, pixels))

    def refused(self, reason: str) -> None:
        self.refusals.append(reason)


def admission(seen: Seen, wait_s: float = 0.05) -> Admission:
    return Admission(max_requests=2, max_request_pixels=100, max_pixels=150, wait_s=wait_s, observer=seen)


def test_request_cap_refuses_at_once_with_retry_after():
    seen = Seen()
    gate = admission(seen)
    with gate.request(), gate.request():
        start = time.monotonic()
        with pytest.raises(OverloadedError) as caught:
            with gate.request():
                pass
        assert time.monotonic() - start < 0.01
    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "1"
    assert seen.refusals == ["concurrency"]
    assert gate.requests == 0


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
