"""Background threads are niced on their own: the rest of the process keeps its priority."""

from __future__ import annotations

import os
import threading

from motivnet_serve.core.background import BACKGROUND_NICE, MAX_NICE, run_in_background


def test_only_the_calling_thread_is_niced():
    base = os.getpriority(os.PRIO_PROCESS, 0)
    seen: dict[str, int] = {}

    def background() -> None:
        run_in_background()
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    thread = threading.Thread(target=background)
    thread.start()
    thread.join(30)
    assert seen["nice"] == min(base + BACKGROUND_NICE, MAX_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
