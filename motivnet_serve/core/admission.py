"""Admission before work: requests in flight and decoded pixels in flight are both bounded.

A request takes a slot before its body is read and reserves its images' pixels (counted from their headers)
before any of them is decoded, so memory is spent only on work the server has room for. A request over the
concurrency cap waits in line for a slot, its body unread, until its deadline: a burst of small requests
is queued, as TEI queues one, instead of a third of it refused. The line holds as many requests as the
face queue holds faces (each brings at least one); beyond it a request is refused at once, so a flood
costs the server nothing but its refusals. One that does not fit the pixel budget waits briefly for room
and is otherwise refused; one larger than a whole request may be is refused for good (413). The reservation
shrinks as images give way to their crops, and ends when the request's faces leave the queue.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Protocol

from motivnet_serve.core import tracing
from motivnet_serve.core.errors import OverloadedError, RequestTooLargeError

ADMISSION_REASONS = ("concurrency", "budget", "request_too_large", "videos", "streams")


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
        max_waiting: requests waiting in line for one of those slots; beyond it a request is refused at once.
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
        max_waiting: int,
        max_request_pixels: int,
        max_pixels: int,
        wait_s: float,
        observer: AdmissionObserver,
        retry_after_s: int = 1,
    ) -> None:
        self.max_requests = max_requests
        self.max_waiting = max_waiting
        self.max_request_pixels = max_request_pixels
        self.max_pixels = max_pixels
        self.wait_s = wait_s
        self._observer = observer
        self._retry_after_s = retry_after_s
        self.requests = 0
        self.pixels = 0
        self._freed = asyncio.Event()
        self._line: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def request(self, deadline: float) -> AsyncIterator[None]:
        """One request in flight for the block. At the cap it waits in line (first come, first served) until
        `deadline`; refused within microseconds when the line is full, and at the deadline if still waiting."""
        with tracing.span("admission", motivnet_in_flight=self.requests, motivnet_waiting=len(self._line)):
            await self._take_slot(deadline)
        self._report()
        try:
            yield
        finally:
            self._pass_slot()
            self._report()

    async def _take_slot(self, deadline: float) -> None:
        if self.requests < self.max_requests and not self._line:
            self.requests += 1
            return
        if len(self._line) >= self.max_waiting:
            raise self._refusal(
                f"{self.requests} requests in flight and {len(self._line)} waiting, the most this server holds"
            )
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._line.append(slot)
        try:
            await asyncio.wait([slot], timeout=max(0.0, deadline - time.monotonic()))
        except BaseException:  # a client gone while in line hands on a slot it was just given
            if self._leave_line(slot):
                self._pass_slot()
            raise
        if not self._leave_line(slot):
            raise self._refusal(f"no request slot freed before the deadline ({self.requests} in flight)")

    def _leave_line(self, slot: asyncio.Future[None]) -> bool:
        """True if `slot` was handed a request slot; otherwise it leaves the line empty-handed."""
        if slot.done():
            return True
        slot.cancel()
        self._line.remove(slot)
        return False

    def _pass_slot(self) -> None:
        """A finished request's slot goes straight to the first in line, so no newcomer overtakes it."""
        while self._line:
            slot = self._line.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self.requests -= 1

    def _refusal(self, why: str) -> OverloadedError:
        self._observer.refused("concurrency")
        return OverloadedError(f"{why}; retry shortly", retry_after_s=self._retry_after_s)

    @asynccontextmanager
    async def reserve(self, pixels: int, deadline: float) -> AsyncIterator[Reservation]:
        """Holds `pixels` of the budget for the block, waiting at most `wait_s` (and never past `deadline`)."""
        if pixels > self.max_request_pixels:
            self._observer.refused("request_too_large")
            raise RequestTooLargeError(
                f"the images hold {pixels} pixels together; at most {self.max_request_pixels} per request: "
                "send fewer or smaller images per request"
            )
        with tracing.span("admission.pixels", motivnet_pixels=pixels):
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
                    retry_after_s=self._retry_after_s,
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


class Sessions:
    """A cap on long work held open at once (videos analysed, live sessions), one place each for its whole
    length. One over the cap is refused at once rather than queued: a place frees when a video ends or a
    camera hangs up, minutes later, far past any deadline a client would wait on.

    Args:
        kind: what is counted, plural, as the refusal names it (`"videos"`, `"streams"`).
        limit: places at most.
        observer: counts each refusal under `kind`.
        on_change: receives the number open after each change (a gauge).
        retry_after_s: the Retry-After a refused client is told.
    """

    def __init__(
        self,
        kind: str,
        limit: int,
        observer: AdmissionObserver,
        on_change: Callable[[int], None],
        retry_after_s: int = 1,
    ) -> None:
        self.kind = kind
        self.limit = limit
        self.open = 0
        self._observer = observer
        self._on_change = on_change
        self._retry_after_s = retry_after_s

    @contextmanager
    def hold(self) -> Iterator[None]:
        """One place for the block, or `OverloadedError` when all `limit` are taken."""
        if self.open >= self.limit:
            self._observer.refused(self.kind)
            why = f"at most {self.limit} {self.kind} at once; retry later"
            raise OverloadedError(why, retry_after_s=self._retry_after_s)
        self.open += 1
        self._on_change(self.open)
        try:
            yield
        finally:
            self.open -= 1
            self._on_change(self.open)
