"""The replicas of one pool ordered by load (requests queued and running, more than any count while down) and
number, so the least loaded is found in O(log replicas): a replica's load only moves when a request joins
or leaves it, and each move adds one heap entry; entries a later move made stale are skipped."""

from __future__ import annotations

from collections.abc import Iterator
from heapq import heapify, heappop, heappush
from typing import Generic, Protocol, TypeVar


class Loaded(Protocol):
    number: int
    load: int


R = TypeVar("R", bound=Loaded)


class Pool(Generic[R]):
    """A pool's replicas in number order, with their loads indexed (each replica reports its moves)."""

    def __init__(self, replicas: list[R]) -> None:
        self.members = replicas
        self._by_number = {r.number: r for r in replicas}
        self._heap = [(r.load, r.number) for r in replicas]
        heapify(self._heap)

    def __iter__(self) -> Iterator[R]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, at: int) -> R:
        return self.members[at]

    def moved(self, replica: R) -> None:
        """`replica`'s load changed."""
        heappush(self._heap, (replica.load, replica.number))
        if len(self._heap) > 4 * len(self._by_number) + 64:  # mostly stale: rebuild
            self._heap = [(r.load, r.number) for r in self._by_number.values()]
            heapify(self._heap)

    def least(self) -> R | None:
        """The least loaded replica, the lowest number among equals (None for an empty pool)."""
        heap, members = self._heap, self._by_number
        while heap:
            load, number = heap[0]
            replica = members[number]
            if replica.load == load:
                return replica
            heappop(heap)
        return None
