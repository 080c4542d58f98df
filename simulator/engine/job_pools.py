"""Where a training job may take its GPUs in a cluster of pools, and what it draws once there: the engine's side
of plan/pools.py, kept apart so the job itself stays about time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.engine.cluster import Cluster, GpuIds
from simulator.plan.pools import Need


@dataclass(frozen=True)
class JobPools:
    """The pools an allocation of n GPUs may come from (none: anywhere), and the job's wall power per GPU on
    given GPUs (None: as priced at the start, a cluster without pools)."""

    options: Callable[[int], tuple[Need, ...]] = lambda _: ()
    power_of: Callable[[GpuIds], float] | None = None

    def placed(self, cluster: Cluster, gpus: GpuIds, power_w: float) -> tuple[NDArray[np.float64], float]:
        """(fraction of `gpus` in each pool, the job's power on them)."""
        return cluster.shares(gpus), power_w if self.power_of is None else self.power_of(gpus)
