"""Placement: which GPU holds which rank of a parallel layout, and the communicator groups that follow.

Ranks are numbered with the first dimension of `order` varying fastest, so with the default order
(tp, cp, pp, dp) a tensor-parallel group is consecutive GPUs, inside one scale-up domain whenever it fits,
then pipeline stages, then data-parallel replicas (Megatron's rule that TP stays inside the node).
"""

from __future__ import annotations

import numpy as np

from simulator.models.topology.network import IntArray

DEFAULT_ORDER = ("tp", "cp", "pp", "dp")


def communicators(degrees: dict[str, int], names: tuple[str, ...], order: tuple[str, ...] = DEFAULT_ORDER,
                  gpus: IntArray | None = None) -> IntArray:
    """The communicator groups spanning the dimensions `names` (one row per group, ranks in order): e.g.
    names=("dp",) gives every data-parallel group, ("cp", "dp") the groups that reduce gradients together.
    Rank r sits on GPU r unless `gpus` maps ranks to GPU ids; the first name of `order` varies fastest."""
    if sorted(order) != sorted(degrees):
        raise ValueError(f"order {order} must name each of {sorted(degrees)} once")
    sizes = [degrees[name] for name in order]
    world = int(np.prod(sizes))
    ids = np.arange(world, dtype=np.int64) if gpus is None else np.asarray(gpus, dtype=np.int64)
    if ids.size != world:
        raise ValueError(f"{ids.size} GPUs given for a layout of {world}")
    grid = ids.reshape(sizes[::-1])  # C order: the last axis is the first (fastest) dimension
    axes = [len(order) - 1 - order.index(name) for name in names]
    moved = np.moveaxis(grid, axes[::-1], list(range(grid.ndim - len(axes), grid.ndim)))
    return moved.reshape(-1, int(np.prod([degrees[n] for n in names])))


def parallel_groups(degrees: dict[str, int], order: tuple[str, ...] = DEFAULT_ORDER,
                    gpus: IntArray | None = None) -> dict[str, IntArray]:
    """For each dimension, its communicator groups (see `communicators`)."""
    return {name: communicators(degrees, (name,), order, gpus) for name in degrees}


def stage_boundaries(pp_groups: IntArray) -> tuple[IntArray, IntArray]:
    """(senders, receivers) of the activation sends between consecutive pipeline stages, all groups."""
    return pp_groups[:, :-1].ravel(), pp_groups[:, 1:].ravel()


def expert_groups(dp_groups: IntArray, ep: int) -> tuple[IntArray, IntArray]:
    """(expert-parallel groups, expert-data-parallel groups) inside the data-parallel groups: ep consecutive
    DP ranks share out the experts, and the ranks holding the same experts reduce their gradients."""
    rows, dp = dp_groups.shape
    blocks = dp_groups.reshape(rows, dp // ep, ep)
    return blocks.reshape(-1, ep), blocks.transpose(0, 2, 1).reshape(-1, dp // ep)
