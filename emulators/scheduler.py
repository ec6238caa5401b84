"""The one timer heap of a fleet (or of a premises on its own): (due time, target, event).

Devices never hold timers: they return `Timer` actions and their premises puts them
here. An idle device has no entry at all. Entries that became stale (a cancelled
activation, a replaced download) stay in the heap and are ignored when they fire,
which is cheaper than removing them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime
from typing import Generic, TypeVar

TargetT = TypeVar("TargetT")
EventT = TypeVar("EventT")


class Scheduler(Generic[TargetT, EventT]):
    """A min-heap of (due, sequence, target, event); equal due times fire in push order."""

    __slots__ = ("_heap", "_sequence")

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, TargetT, EventT]] = []
        self._sequence = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: datetime, target: TargetT, event: EventT) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, (due, self._sequence, target, event))

    def next_due(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime) -> Iterator[tuple[datetime, TargetT, EventT]]:
        """Entries due at or before `now`, in order; entries pushed meanwhile are seen too."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, target, event = heapq.heappop(heap)
            yield due, target, event
