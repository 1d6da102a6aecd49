"""The batcher's queue: items grouped by the request (or video, or stream session) that sent them, and
taken round-robin, one item per group per turn.

A plain FIFO lets one request of 32 faces, or a video with frames in flight, push every later request
behind all of its items; taking in turns bounds a light request's wait by the number of groups waiting,
not by the number of items ahead of it. Within a group, items keep their order.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Round-robin across groups; `popleft` sends the group it served to the back of the line."""

    def __init__(self) -> None:
        self._groups: OrderedDict[Hashable, deque[T]] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[T]:
        for items in self._groups.values():
            yield from items

    def extend(self, group: Hashable, items: Iterable[T]) -> None:
        """A new group joins at the back of the line; a group already waiting keeps its place."""
        queue = self._groups.setdefault(group, deque())
        before = len(queue)
        queue.extend(items)
        self._size += len(queue) - before
        if not queue:
            del self._groups[group]

    def popleft(self) -> T:
        """The next item of the group whose turn it is; raises IndexError when empty, as deque does."""
        if not self._groups:
            raise IndexError("pop from an empty FairQueue")
        group, queue = next(iter(self._groups.items()))
        item = queue.popleft()
        self._size -= 1
        if queue:
            self._groups.move_to_end(group)
        else:
            del self._groups[group]
        return item

    def remove_if(self, gone: Callable[[T], bool]) -> int:
        """Drops every item for which `gone` is true (a client that left); returns how many went."""
        removed = 0
        for group in list(self._groups):
            queue = self._groups[group]
            kept = deque(item for item in queue if not gone(item))
            removed += len(queue) - len(kept)
            if kept:
                self._groups[group] = kept
            else:
                del self._groups[group]
        self._size -= removed
        return removed
