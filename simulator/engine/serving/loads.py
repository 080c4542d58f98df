"""The replicas of one pool ordered by load (requests queued and running, more than any count while down) and
number, so the least loaded is found in O(log replicas): a replica's load only moves when a request joins
or leaves it, and each move adds one heap entry (load and number packed in one int, cheap to compare); entries
a later move made stale are skipped."""

from __future__ import annotations

from collections.abc import Iterator
from heapq import heapify, heappop, heappush
from typing import Generic, Protocol, TypeVar


class Loaded(Protocol):
    number: int
    load: int


R = TypeVar("R", bound=Loaded)
NUMBERS = 1 << 24  # more replicas than a cluster of the largest size allowed holds
DOWN = 1 << 40  # added to a replica's load while it is down: more than any count of requests


class Pool(Generic[R]):
    """A pool's replicas in number order, with their loads indexed (each replica reports its moves) and those up
    listed (`up`, rebuilt only when one goes down or comes up)."""

    def __init__(self, replicas: list[R]) -> None:
        self.members = replicas
        self._by_number = {r.number: r for r in replicas}
        self._loads = {r.number: r.load for r in replicas}  # as last reported
        self.up = [r for r in replicas if r.load < DOWN]
        self._heap = [r.load * NUMBERS + r.number for r in replicas]
        heapify(self._heap)

    def __iter__(self) -> Iterator[R]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, at: int) -> R:
        return self.members[at]

    def moved(self, number: int, load: int) -> None:
        """Replica `number`'s load is now `load`."""
        if (self._loads[number] < DOWN) != (load < DOWN):
            self._loads[number] = load
            self.up = [r for r in self.members if self._loads[r.number] < DOWN]
        self._loads[number] = load
        heappush(self._heap, load * NUMBERS + number)
        if len(self._heap) > 2 * len(self._loads) + 16:  # mostly stale: rebuild
            self._heap = [load * NUMBERS + number for number, load in self._loads.items()]
            heapify(self._heap)

    def least(self) -> R | None:
        """The least loaded replica, the lowest number among equals (None for an empty pool)."""
        heap, loads = self._heap, self._loads
        while heap:
            load, number = divmod(heap[0], NUMBERS)
            if loads[number] == load:
                return self._by_number[number]
            heappop(heap)
        return None
