"""The nodes of one training job's allocation: the active ones in rank order and its hot spares, swapped in for
a failed node's group (a node, or an OCS cube) so that the job keeps its layout."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from simulator.engine.cluster import GpuIds


@dataclass
class JobNodes:
    """Active nodes by rank position, and spares; groups of `swap_nodes` aligned nodes are swapped together."""

    active: list[int] = field(default_factory=list)
    spares: list[int] = field(default_factory=list)
    swap_nodes: int = 1
    gpus_per_node: int = 1
    _position: dict[int, int] = field(default_factory=dict)  # active node -> its index in `active`

    @classmethod
    def of(cls, ids: GpuIds, gpus_per_node: int, spare_nodes: int, swap_nodes: int) -> JobNodes:
        """The nodes under `ids`: the last `spare_nodes` are spares, the rest active in index order."""
        nodes = sorted({int(n) for n in ids // gpus_per_node})
        spares = nodes[len(nodes) - spare_nodes:] if spare_nodes else []
        active = [n for n in nodes if n not in spares]
        return cls(active, spares, swap_nodes, gpus_per_node, {n: i for i, n in enumerate(active)})

    def __contains__(self, node: int) -> bool:
        """Whether `node` is active (spares are not)."""
        return node in self._position

    def healthy_spare_group(self, up: NDArray[np.bool_]) -> list[int]:
        """A whole spare group whose nodes are all up, or [] if none."""
        size = self.swap_nodes
        for start in range(0, len(self.spares), size):
            group = self.spares[start:start + size]
            if len(group) == size and all(up[n] for n in group):
                return group
        return []

    def swap(self, node: int, spare: list[int]) -> None:
        """Put the spare group `spare` in the place of `node`'s group; that group becomes a spare (usable again
        once repaired)."""
        first = node - node % self.swap_nodes
        group = [n for n in range(first, first + self.swap_nodes) if n in self._position]
        for old, new in zip(group, spare, strict=True):
            at = self._position.pop(old)
            self.active[at] = new
            self._position[new] = at
            self.spares[self.spares.index(new)] = old

    def ranks(self, gpu_ids: GpuIds, gpus: int) -> GpuIds:
        """The GPU of each of `gpus` ranks: the active nodes' GPUs in node position order."""
        held = np.sort(gpu_ids)
        nodes = held // self.gpus_per_node
        starts = np.searchsorted(nodes, self.active, side="left")
        ends = np.searchsorted(nodes, self.active, side="right")
        return np.concatenate([held[a:b] for a, b in zip(starts, ends, strict=True)])[:gpus]
