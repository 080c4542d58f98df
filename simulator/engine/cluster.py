"""The GPU pool: gang allocation in submission order, and per-GPU time accounting in numpy arrays.

Processes ask for n GPUs and get them all at once (or wait); they report back how each span of time was
spent. Nothing here knows what a GPU computes.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import simpy
from numpy.typing import NDArray

GpuIds = NDArray[np.int64]


class Cluster:
    """`nodes x gpus_per_node` GPUs; strict first-come-first-served gang allocation (no backfill)."""

    def __init__(self, env: simpy.Environment, nodes: int, gpus_per_node: int) -> None:
        self.env = env
        self.gpus_per_node = gpus_per_node
        self.gpus = nodes * gpus_per_node
        self.free = np.ones(self.gpus, dtype=bool)
        self.productive_s = np.zeros(self.gpus)  # useful training time
        self.productive_energy_j = np.zeros(self.gpus)  # chip + server share, before PUE
        self.allocated_s = np.zeros(self.gpus)
        self._allocated_at = np.full(self.gpus, np.nan)
        self._waiting: deque[tuple[int, simpy.Event]] = deque()

    def request(self, count: int) -> simpy.Event:
        """An event that succeeds with the ids of `count` GPUs once they are all free."""
        if not 0 < count <= self.gpus:
            raise ValueError(f"cannot allocate {count} of {self.gpus} GPUs")
        event = self.env.event()
        self._waiting.append((count, event))
        self._grant()
        return event

    def release(self, ids: GpuIds) -> None:
        """Return GPUs to the pool and account their allocated time."""
        self.allocated_s[ids] += self.env.now - self._allocated_at[ids]
        self._allocated_at[ids] = np.nan
        self.free[ids] = True
        self._grant()

    def record_productive(self, ids: GpuIds, seconds: float, power_w: float) -> None:
        """Add a span of useful work at `power_w` per GPU (wall power before PUE)."""
        self.productive_s[ids] += seconds
        self.productive_energy_j[ids] += seconds * power_w

    def allocated_seconds(self) -> NDArray[np.float64]:
        """Allocated time per GPU so far, counting allocations still held."""
        held = np.where(np.isnan(self._allocated_at), 0.0, self.env.now - self._allocated_at)
        return self.allocated_s + held

    def _grant(self) -> None:
        while self._waiting:
            count, event = self._waiting[0]
            free_ids = np.flatnonzero(self.free)
            if free_ids.size < count:
                return  # head of the queue waits; later requests wait behind it
            ids = self._place(free_ids, count)
            self.free[ids] = False
            self._allocated_at[ids] = self.env.now
            self._waiting.popleft()
            event.succeed(ids)

    def _place(self, free_ids: GpuIds, count: int) -> GpuIds:
        """Fill the emptiest-possible set of nodes: whole free nodes first, in index order."""
        node_of = free_ids // self.gpus_per_node
        free_per_node = np.bincount(node_of, minlength=self.gpus // self.gpus_per_node)
        order = np.argsort(-free_per_node[node_of], kind="stable")
        return np.sort(free_ids[order[:count]])
