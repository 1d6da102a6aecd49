"""Connection limits uvicorn lacks, on its h11 protocol: a deadline for each request head and a cap on open
connections.

uvicorn bounds an idle keep-alive connection (`timeout_keep_alive`), but a connection that sends nothing,
or sends its head a byte at a time, stays open forever, and nothing caps how many are open: about a thousand
silent sockets use up the file descriptors and even `/health/live` fails. Nor is a head's size bounded:
httptools has no limit, and h11's `max_incomplete_event_size` only applies while the head is incomplete, so
a 64 MiB head that arrives in one read passes; here every byte before the blank line counts, and a head over
the limit gets 431. Body pauses are bounded in the app (`motivnet_serve/router/uploads.py`), where the answer can be a
proper 408.

The cap evicts the longest-idle connection (no request in progress: silent, slow head, or idle keep-alive)
to make room, as nginx reuses keep-alive connections, so a new health probe still gets through; only when
every connection is busy with a request is the newcomer closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int
    header_timeout_s: float
    max_header_bytes: int


HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: 34\r\n\r\nrequest line and headers too large"
)


def guarded_protocol(limits: ConnectionLimits, refused: Callable[[str], None]) -> type[H11Protocol]:
    """uvicorn's h11 protocol class with `limits`; `refused("connections")` counts each connection dropped
    to stay under the cap."""

    class GuardedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None
        _idle_since: float = 0.0
        _head_bytes: int = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._expect_head()
            if len(self.connections) > limits.max_connections:
                refused("connections")
                victim = min(
                    (c for c in self.connections if isinstance(c, GuardedH11Protocol) and c.idle),
                    key=lambda c: c._idle_since,
                    default=self,
                )
                victim.transport.close()

        @property
        def idle(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE:
                end = data.find(b"\r\n\r\n")
                self._head_bytes += len(data) if end < 0 else end + 4
                if self._head_bytes > limits.max_header_bytes:
                    self.transport.write(HEAD_TOO_LARGE)
                    self.transport.close()
                    return
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._cancel_head_timer()
                self._head_bytes = 0

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._expect_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def _expect_head(self) -> None:
            """The next request's head must be complete within the limit, however slowly it trickles in."""
            self._cancel_head_timer()
            self._idle_since = time.monotonic()
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self._head_timer = self.loop.call_later(limits.header_timeout_s, self.transport.close)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

    return GuardedH11Protocol
