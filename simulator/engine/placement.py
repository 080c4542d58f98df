"""Where the cluster puts a request's GPUs among the free ones (`scheduler.placement`). Placement decides the
paths a job's collectives take and whom it shares links with, and so its price (docs/scheduling.md).

- topology_aware (default): a job smaller than a node goes to the fullest node it fits in; a larger one takes
  whole free nodes from one scalable unit (leaf group, pod) where one has enough, else in index order.
- packed: the lowest-numbered free GPUs, whole nodes first, blind to units.
- spread: whole free nodes dealt round the units in turn (one from each, then again), as a scheduler that
  balances load across leaves does: jobs interleave under every leaf.
- random: whole free nodes in a random order from the run's seeded stream.
Whatever a policy leaves unplaced goes to the nodes with the most free GPUs first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

import numpy as np
from numpy.typing import NDArray

from simulator.engine.registry import Registry
from simulator.scenario.policies import PlacementName

GpuIds = NDArray[np.int64]


@dataclass(frozen=True)
class Free:
    """The free GPUs and the shape they sit in."""

    ids: GpuIds  # free GPU ids, ascending
    gpus_per_node: int
    nodes: int
    unit_nodes: int  # nodes of one scalable unit (leaf group, pod): 1 where there is none
    rng: np.random.Generator

    @property
    def node_of(self) -> np.ndarray:
        """Node of each free GPU."""
        return self.ids // self.gpus_per_node

    @property
    def per_node(self) -> np.ndarray:
        """Free GPUs on each node."""
        return np.bincount(self.node_of, minlength=self.nodes)

    def whole_nodes(self) -> np.ndarray:
        """Nodes with every GPU free, ascending."""
        return np.flatnonzero(self.per_node == self.gpus_per_node)


Placement = Callable[[Free, int], GpuIds]  # (the free GPUs, how many) -> the GPUs to give
PLACEMENTS: Registry[PlacementName, Placement] = Registry("placement", get_args(PlacementName))


def place(free: Free, count: int, nodes_in_order: np.ndarray) -> GpuIds:
    """`count` GPUs: the whole nodes of `nodes_in_order` first, then the nodes with the most free GPUs."""
    gpn = free.gpus_per_node
    node_of = free.node_of
    in_whole = np.isin(node_of, nodes_in_order[:count // gpn]) if count >= gpn else np.zeros(free.ids.size, bool)
    chosen = free.ids[in_whole]
    rest = count - chosen.size
    if rest:
        others = free.ids[~in_whole]
        order = np.argsort(-free.per_node[others // gpn], kind="stable")
        chosen = np.concatenate((chosen, others[order[:rest]]))
    return np.sort(chosen)


@PLACEMENTS.register("topology_aware")
def topology_aware(free: Free, count: int) -> GpuIds:
    """Best fit inside a node for small jobs; one scalable unit (the fullest that has room) for large ones."""
    gpn = free.gpus_per_node
    per_node = free.per_node
    if count < gpn:
        fits = np.flatnonzero(per_node >= count)
        if fits.size:
            node = int(fits[np.argmin(per_node[fits])])  # the first of the fullest
            return np.asarray(free.ids[free.node_of == node][:count], dtype=np.int64)
    nodes = free.whole_nodes()
    needed = -(-count // gpn)
    if free.unit_nodes > 1 and nodes.size:
        per_unit = np.bincount(nodes // free.unit_nodes, minlength=-(-free.nodes // free.unit_nodes))
        able = np.flatnonzero(per_unit >= min(needed, free.unit_nodes))
        if able.size and needed <= free.unit_nodes:
            unit = int(able[np.argmin(per_unit[able])])
            inside = nodes // free.unit_nodes == unit
            nodes = np.concatenate((nodes[inside], nodes[~inside]))
    return place(free, count, nodes)


@PLACEMENTS.register("packed")
def packed(free: Free, count: int) -> GpuIds:
    """Whole free nodes in index order."""
    return place(free, count, free.whole_nodes())


@PLACEMENTS.register("spread")
def spread(free: Free, count: int) -> GpuIds:
    """Whole free nodes one per unit in turn: the first free node of every unit, then the second, ..."""
    nodes = free.whole_nodes()
    unit = nodes // max(1, free.unit_nodes)
    rank_in_unit = np.zeros(nodes.size, dtype=np.int64)
    for u in np.unique(unit):
        members = unit == u
        rank_in_unit[members] = np.arange(int(members.sum()))
    return place(free, count, nodes[np.lexsort((unit, rank_in_unit))])


@PLACEMENTS.register("random")
def random(free: Free, count: int) -> GpuIds:
    """Whole free nodes in a random order (the run's seeded stream)."""
    return place(free, count, free.rng.permutation(free.whole_nodes()))
