"""Fair scheduling: the queue takes groups in turns, and through the batcher a light request overtakes a
heavy one that queued before it."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from motivnet_serve.core.batching import DynamicBatcher
from motivnet_serve.core.fair_queue import FairQueue


def test_groups_are_served_in_turns_and_keep_their_order():
    queue: FairQueue[str] = FairQueue()
    queue.extend("heavy", ["h1", "h2", "h3", "h4"])
    queue.extend("light", ["l1"])
    queue.extend("other", ["o1", "o2"])
    assert len(queue) == 7
    assert [queue.popleft() for _ in range(7)] == ["h1", "l1", "o1", "h2", "o2", "h3", "h4"]
    assert len(queue) == 0
    with pytest.raises(IndexError):
        queue.popleft()


def test_a_group_that_adds_more_keeps_its_place():
    queue: FairQueue[int] = FairQueue()
    queue.extend("a", [1])
    queue.extend("b", [2])
    queue.extend("a", [3])
    assert [queue.popleft() for _ in range(3)] == [1, 2, 3]


def test_remove_if_drops_items_and_empty_groups():
    queue: FairQueue[int] = FairQueue()
    queue.extend("a", [1, 2])
    queue.extend("b", [3])
    assert queue.remove_if(lambda item: item in (1, 3)) == 2
    assert len(queue) == 1
    assert list(queue) == [2]
    queue.extend("c", [])
    assert [queue.popleft()] == [2]
    assert not queue


class HeldModel:
    """Holds the first batch until the test opens the gate, recording every batch it is given."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[Any]] = []

    def __call__(self, payloads: list[Any]) -> list[Any]:
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        self.batches.append(list(payloads))
        return payloads


def test_a_light_request_is_not_queued_behind_a_heavy_one():
    async def main() -> list[list[Any]]:
        model = HeldModel()
        batcher = DynamicBatcher(model, max_batch_size=4, max_batch_delay_s=0, max_queue_size=64)
        await batcher.start()
        deadline = time.monotonic() + 60
        first = asyncio.create_task(batcher.submit(["first"], deadline))
        await asyncio.to_thread(model.entered.wait, 30)
        heavy = asyncio.create_task(batcher.submit([f"h{i}" for i in range(12)], deadline))
        await asyncio.sleep(0)
        light = asyncio.create_task(batcher.submit(["light"], deadline))
        while batcher.depth < 13:
            await asyncio.sleep(0)
        model.gate.set()
        await asyncio.gather(first, heavy, light)
        await batcher.stop()
        return model.batches

    batches = asyncio.run(main())
    assert batches[0] == ["first"]
    assert "light" in batches[1], batches
