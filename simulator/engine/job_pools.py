"""Where a training job may take its GPUs in a cluster of pools, and what it draws once there: the engine's side
of plan/pools.py, kept apart so the job itself stays about time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.engine.cluster import Cluster, GpuIds
from simulator.plan.pools import Need, Shares


@dataclass(frozen=True)
class JobPools:
    """The pools an allocation of n GPUs may come from (none: anywhere), and the job's wall power per GPU on
    given GPUs (None: as priced at the start, a cluster without pools)."""

    options: Callable[[int], tuple[Need, ...]] = lambda _: ()
    power_of: Callable[[GpuIds], NDArray[np.float64]] | None = None  # per GPU in each pool, on these GPUs

    def placed(self, cluster: Cluster, gpus: GpuIds, power_w: float) -> tuple[Shares, float]:
        """(how `gpus` spread over the pools, the job's mean power per GPU on them)."""
        fractions = cluster.shares(gpus)
        if self.power_of is None:
            return Shares.of(fractions), power_w
        pool_w = self.power_of(gpus)
        return Shares.of(fractions, pool_w), float(np.dot(fractions, pool_w))
