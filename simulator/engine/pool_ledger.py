"""The cluster's time and energy by pool: busy, productive and down GPU time and busy energy, so that the report
can price and power each pool on its own; the cluster keeps the totals."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from simulator.plan.pools import Shares


class PoolLedger:
    """Running sums per pool (pools of consecutive nodes, `pool_nodes` each)."""

    def __init__(self, pool_nodes: tuple[int, ...], gpus_per_node: int) -> None:
        self.pool_nodes = pool_nodes
        self.gpus_per_node = gpus_per_node
        self.pool_of_node = np.repeat(np.arange(len(pool_nodes)), pool_nodes)
        self.busy_gpu_s = np.zeros(len(pool_nodes))
        self.busy_energy_j = np.zeros(len(pool_nodes))
        self.productive_gpu_s = np.zeros(len(pool_nodes))
        self.down_node_s = np.zeros(len(pool_nodes))  # repairs finished

    def busy(self, gpu_s: float, energy_j: float, shares: Shares | None) -> None:
        """`gpu_s` of computing that drew `energy_j`, spread by `shares` (None: the first pool)."""
        shares = shares or Shares.one(0, len(self.pool_nodes))
        self.busy_gpu_s += gpu_s * shares.gpus
        self.busy_energy_j += energy_j * shares.energy

    def productive(self, gpu_s: float, shares: Shares | None) -> None:
        """`gpu_s` of work that counts, spread by `shares` (None: the first pool)."""
        self.productive_gpu_s += gpu_s * (shares or Shares.one(0, len(self.pool_nodes))).gpus

    def repaired(self, node: int, down_s: float) -> None:
        """Node `node` is back after `down_s`."""
        self.down_node_s[self.pool_of_node[node]] += down_s

    def down_gpu_s(self, down_since: Mapping[int, float], now: float) -> NDArray[np.float64]:
        """GPU-seconds on failed nodes in each pool, counting the repairs under way (`down_since`: node -> when)."""
        ongoing = [0.0] * len(self.pool_nodes)
        for node, since in down_since.items():
            ongoing[self.pool_of_node[node]] += now - since
        down: NDArray[np.float64] = (self.down_node_s + np.asarray(ongoing)) * self.gpus_per_node
        return down
