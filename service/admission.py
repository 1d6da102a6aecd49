"""Admission before work: requests in flight and decoded pixels in flight are both bounded.

A request takes a slot before its body is read and reserves its images' pixels (counted from their headers)
before any of them is decoded, so memory is spent only on work the server has room for. A request over the
concurrency cap is refused at once; one that does not fit the pixel budget waits briefly for room and is
otherwise refused; one larger than a whole request may be is refused for good (413). The reservation
shrinks as images give way to their crops, and ends when the request's faces leave the queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Protocol

from service.errors import OverloadedError, RequestTooLargeError

ADMISSION_REASONS = ("concurrency", "budget", "request_too_large")


class AdmissionObserver(Protocol):
    """Where the in-flight gauges and the refusal counter attach."""

    def in_flight(self, requests: int, pixels: int) -> None: ...

    def refused(self, reason: str) -> None: ...


class Reservation:
    """A request's share of the pixel budget; `shrink_to` hands back what it no longer holds."""

    def __init__(self, admission: Admission, pixels: int) -> None:
        self._admission = admission
        self.pixels = pixels

    def shrink_to(self, pixels: int) -> None:
        freed = self.pixels - max(0, min(pixels, self.pixels))
        self.pixels -= freed
        self._admission._release(freed)


class Admission:
    """Counts requests and pixels in flight on the event loop (no locks: one thread touches the counts).

    Args:
        max_requests: requests at once, from their first byte of body to their answer.
        max_request_pixels: most decoded pixels (width x height, all images together) in one request.
        max_pixels: most pixels in flight across the server (images decoding or detecting, queued crops);
            at least `max_request_pixels` (the settings check it).
        wait_s: how long a request may wait for room in the pixel budget before it is refused.
        retry_after_s: the Retry-After a refused client is told.
        observer: receives the in-flight counts and each refusal's reason.
    """

    def __init__(
        self,
        *,
        max_requests: int,
        max_request_pixels: int,
        max_pixels: int,
        wait_s: float,
        observer: AdmissionObserver,
        retry_after_s: int = 1,
    ) -> None:
        self.max_requests = max_requests
        self.max_request_pixels = max_request_pixels
        self.max_pixels = max_pixels
        self.wait_s = wait_s
        self._observer = observer
        self._retry_after = {"Retry-After": str(retry_after_s)}
        self.requests = 0
        self.pixels = 0
        self._freed = asyncio.Event()

    @contextmanager
    def request(self) -> Iterator[None]:
        """One request in flight for the block; refused within microseconds when the cap is reached."""
        if self.requests >= self.max_requests:
            self._observer.refused("concurrency")
            raise OverloadedError(
                f"{self.requests} requests in flight, the most this server takes; retry shortly",
                dict(self._retry_after),
            )
        self.requests += 1
        self._report()
        try:
            yield
        finally:
            self.requests -= 1
            self._report()

    @asynccontextmanager
    async def reserve(self, pixels: int, deadline: float) -> AsyncIterator[Reservation]:
        """Holds `pixels` of the budget for the block, waiting at most `wait_s` (and never past `deadline`)."""
        if pixels > self.max_request_pixels:
            self._observer.refused("request_too_large")
            raise RequestTooLargeError(
                f"the images hold {pixels} pixels together; at most {self.max_request_pixels} per request: "
                "send fewer or smaller images per request"
            )
        await self._wait_for_room(pixels, min(time.monotonic() + self.wait_s, deadline))
        self.pixels += pixels
        self._report()
        reservation = Reservation(self, pixels)
        try:
            yield reservation
        finally:
            reservation.shrink_to(0)

    async def _wait_for_room(self, pixels: int, give_up: float) -> None:
        while self.pixels + pixels > self.max_pixels:
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                self._observer.refused("budget")
                raise OverloadedError(
                    f"no room for {pixels} more pixels ({self.pixels} of {self.max_pixels} in flight); retry shortly",
                    dict(self._retry_after),
                )
            self._freed.clear()
            try:
                await asyncio.wait_for(self._freed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def _release(self, pixels: int) -> None:
        if pixels:
            self.pixels -= pixels
            self._freed.set()
            self._report()

    def _report(self) -> None:
        self._observer.in_flight(self.requests, self.pixels)
