"""Background threads: work whose latency nobody is waiting on (a recorded video's frames) runs niced.

A photo and a live frame wait for their answer; a recorded video is judged by its throughput. While a
video keeps every core busy, a photo's detection shared the CPU with it evenly and took twice as long.
Linux nices threads one by one, so a background thread at nice 10 yields the CPU to normal threads when
they want it, and still has every core when they do not. Raising a thread's nice needs no privilege (the
container drops every capability); it is never lowered again, so these threads only ever run background
work.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

BACKGROUND_NICE = 10
"""Added to the thread's nice: CFS weighs a thread 10 nice levels up at about a tenth."""
MAX_NICE = 19


def run_in_background() -> None:
    """Nices the calling thread (Linux only: elsewhere `setpriority` would nice the whole process)."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(
            os.PRIO_PROCESS, thread, min(os.getpriority(os.PRIO_PROCESS, thread) + BACKGROUND_NICE, MAX_NICE)
        )
    except OSError as exc:
        log.warning("could not nice a background thread (%s); videos will share the CPU evenly", exc)
