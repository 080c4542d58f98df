"""Collectives costed on a Network: ring, double binary tree, hierarchical and in-switch algorithms.

Every algorithm is a sequence of phases of concurrent flows (Network.phase), so bandwidth is whatever the
busiest channel leaves each flow: oversubscribed spines, shared NICs, torus dimensions and concurrent
groups (all rows of `groups` run at once) all show up. Step counts and chunk sizes are the alpha-beta
algorithms of Thakur, Rabenseifner & Gropp 2005 (../shared/notes/models.md section 4); bus bandwidth
follows the NCCL-tests convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from simulator.models.topology.network import IntArray, Network, Phase

MAX_ALL_TO_ALL_SHIFTS = 64  # larger groups: sample this many pairwise shifts and scale the load


class Op(StrEnum):
    """Collective operations."""

    ALL_REDUCE = "all_reduce"
    REDUCE_SCATTER = "reduce_scatter"
    ALL_GATHER = "all_gather"
    ALL_TO_ALL = "all_to_all"
    BROADCAST = "broadcast"


class Algorithm(StrEnum):
    """How an all-reduce (or its halves) moves data; `auto` picks the fastest that applies, like NCCL."""

    AUTO = "auto"
    RING = "ring"
    TREE = "tree"
    HIERARCHICAL = "hierarchical"
    IN_SWITCH = "in_switch"
    PAIRWISE = "pairwise"  # all-to-all: every pair exchanges directly


def bus_factor(op: Op, ranks: int) -> float:
    """NCCL-tests factor from algorithm bandwidth to bus bandwidth."""
    if op is Op.ALL_REDUCE:
        return 2 * (ranks - 1) / ranks
    if op is Op.BROADCAST:
        return 1.0
    return (ranks - 1) / ranks


@dataclass(frozen=True)
class CollectiveTime:
    """Duration of one collective (every group at once) and what limited it."""

    op: Op
    algorithm: Algorithm
    ranks: int
    size_bytes: float
    time_s: float
    bottleneck: str

    @property
    def bus_bandwidth_bytes_per_s(self) -> float:
        """NCCL-tests bus bandwidth: size / time x the operation's factor."""
        if self.time_s <= 0:
            return math.inf
        return self.size_bytes / self.time_s * bus_factor(self.op, self.ranks)


def collective_time(net: Network, op: Op, groups: IntArray, size_bytes: float,
                    algorithm: Algorithm = Algorithm.AUTO) -> CollectiveTime:
    """Time for every row of `groups` (GPU ids, rank order) to run `op` on `size_bytes` concurrently.

    `size_bytes` is the per-rank buffer the NCCL-tests convention uses: the all-reduce buffer, the full
    output of an all-gather (input of a reduce-scatter), the send buffer of an all-to-all.
    """
    groups = np.atleast_2d(np.asarray(groups, dtype=np.int64))
    ranks = groups.shape[1]
    if ranks <= 1 or size_bytes <= 0:
        return CollectiveTime(op, Algorithm.RING, ranks, size_bytes, 0.0, "")
    key = ("collective", op, algorithm, size_bytes, groups.shape, groups.tobytes())
    timed = net.memoized(key, lambda: _collective(net, op, groups, size_bytes, algorithm))
    return replace(timed, time_s=timed.time_s + net.collective_overhead_s)


def _collective(net: Network, op: Op, groups: IntArray, size_bytes: float, algorithm: Algorithm) -> CollectiveTime:
    ranks = groups.shape[1]
    if op is Op.ALL_TO_ALL:
        return _result(op, Algorithm.PAIRWISE, groups, size_bytes, _all_to_all(net, groups, size_bytes))
    if op is Op.BROADCAST:
        phase = _ring_phase(net, groups, size_bytes)
        return _result(op, Algorithm.RING, groups, size_bytes,
                       (phase.transfer_s + (ranks - 1) * phase.latency_s, phase.bottleneck))
    candidates = _algorithms(net, op, groups) if algorithm is Algorithm.AUTO else [algorithm]
    best: CollectiveTime | None = None
    for candidate in candidates:
        timed = _result(op, candidate, groups, size_bytes, _run(net, op, candidate, groups, size_bytes))
        if best is None or timed.time_s < best.time_s:
            best = timed
    assert best is not None
    return best


def _result(op: Op, algorithm: Algorithm, groups: IntArray, size: float, timed: tuple[float, str]) -> CollectiveTime:
    return CollectiveTime(op, algorithm, groups.shape[1], size, timed[0], timed[1])


def _algorithms(net: Network, op: Op, groups: IntArray) -> list[Algorithm]:
    options = [Algorithm.RING]
    domains = net.domain_of[groups]
    one_domain = bool(np.all(domains == domains[:, :1]))
    if op is Op.ALL_REDUCE:
        options.append(Algorithm.TREE)
        if one_domain and net.in_switch_efficiency > 0:
            options.append(Algorithm.IN_SWITCH)
    if not one_domain and _per_domain(net, groups) > 1:
        options.append(Algorithm.HIERARCHICAL)
    return options


def _run(net: Network, op: Op, algorithm: Algorithm, groups: IntArray, size: float) -> tuple[float, str]:
    ranks = groups.shape[1]
    if algorithm is Algorithm.IN_SWITCH:
        return _in_switch(net, groups, size)
    if algorithm is Algorithm.TREE:
        return _tree(net, groups, size)
    if algorithm is Algorithm.HIERARCHICAL:
        return _hierarchical(net, op, groups, size)
    phase = _ring_phase(net, groups, size / ranks)
    steps = 2 * (ranks - 1) if op is Op.ALL_REDUCE else ranks - 1
    return steps * phase.time_s, phase.bottleneck


def _ring_phase(net: Network, groups: IntArray, chunk: float) -> Phase:
    """One step of NCCL-style rings moving `chunk` per rank: the data is split over one ring per member
    of a scale-up domain (ring j enters every domain at its member j, so rings leave through different
    NICs, on the same rail as they arrive) and over both directions (full-duplex links, torus rings)."""
    src, dst, rings = ring_flows(net, groups)
    return net.phase(src, dst, chunk / (2 * rings))


def ring_flows(net: Network, groups: IntArray) -> tuple[IntArray, IntArray, int]:
    """Flows of one ring step for every group, all rings and both directions at once; and the ring count."""
    local = _per_domain(net, groups)
    if local <= 1 or local == groups.shape[1]:
        nxt = np.roll(groups, -1, axis=1)
        return np.concatenate([groups.ravel(), nxt.ravel()]), np.concatenate([nxt.ravel(), groups.ravel()]), 1
    order = np.argsort(net.domain_of[groups], axis=1, kind="stable")
    by_domain = np.take_along_axis(groups, order, axis=1).reshape(groups.shape[0], -1, local)
    src_parts, dst_parts = [], []
    for j in range(local):
        rotated = np.roll(by_domain, -j, axis=2)  # each domain entered at member j
        inside_src, inside_dst = rotated, np.roll(rotated, -1, axis=2)  # a cycle through the domain
        across_src = rotated[:, :, 0]  # member j leaves for member j of the next domain (PXN, same rail)
        across_dst = np.roll(rotated[:, :, 0], -1, axis=1)
        src_parts += [inside_src.ravel(), across_src.ravel()]
        dst_parts += [inside_dst.ravel(), across_dst.ravel()]
    src, dst = np.concatenate(src_parts), np.concatenate(dst_parts)
    return np.concatenate([src, dst]), np.concatenate([dst, src]), local


def _tree(net: Network, groups: IntArray, size: float) -> tuple[float, str]:
    """Double binary tree (NCCL): two complementary trees each reduce then broadcast half the data,
    pipelined, so every tree edge carries size/2 up and size/2 down; latency grows with the depth."""
    ranks = groups.shape[1]
    child = np.arange(1, ranks)
    parent = (child - 1) // 2
    mirrored = ranks - 1 - child, ranks - 1 - parent
    src = np.concatenate([groups[:, child], groups[:, mirrored[0]]], axis=1).ravel()
    dst = np.concatenate([groups[:, parent], groups[:, mirrored[1]]], axis=1).ravel()
    up = net.phase(src, dst, size / 2)
    depth = math.ceil(math.log2(ranks + 1))
    return 2 * (up.transfer_s + depth * up.latency_s), up.bottleneck


def _per_domain(net: Network, groups: IntArray) -> int:
    """Members of each group per scale-up domain if every domain holds the same number, else 0."""
    domains = np.sort(net.domain_of[groups], axis=1)
    ranks = domains.shape[1]
    changes = np.flatnonzero(domains[0, 1:] != domains[0, :-1])
    local = int(changes[0]) + 1 if changes.size else ranks  # the first run of the first row: the only candidate
    if ranks % local:
        return 0
    blocks = domains.reshape(domains.shape[0], -1, local)  # runs of equal length, each one domain, ascending
    one_domain_each = bool(np.all(blocks == blocks[:, :, :1]))
    return local if one_domain_each and bool(np.all(blocks[:, 1:, 0] != blocks[:, :-1, 0])) else 0


def _hierarchical(net: Network, op: Op, groups: IntArray, size: float) -> tuple[float, str]:
    """Reduce-scatter inside each scale-up domain, the operation across domains on each rail (members with
    the same local index), all-gather inside the domain (models.md section 4)."""
    local = _per_domain(net, groups)
    domains = net.domain_of[groups]
    order = np.argsort(domains, axis=1, kind="stable")
    by_domain = np.take_along_axis(groups, order, axis=1)  # domain-major: [d0 m0, d0 m1, ..., d1 m0, ...]
    across = by_domain.shape[1] // local
    intra = by_domain.reshape(-1, local)
    rails = by_domain.reshape(-1, across, local).transpose(0, 2, 1).reshape(-1, across)
    inner = _ring_phase(net, intra, size / local)
    inter_op = Op.ALL_REDUCE if op is Op.ALL_REDUCE else op
    if net.in_network_reduction and op is Op.ALL_REDUCE:
        outer_time, outer_name = _in_network(net, rails, size / local)
    else:
        outer = _collective(net, inter_op, rails, size / local, Algorithm.AUTO)  # one per domain: ring or tree
        outer_time, outer_name = outer.time_s, outer.bottleneck
    inner_steps = 2 * (local - 1) if op is Op.ALL_REDUCE else local - 1
    inner_time = inner_steps * inner.time_s
    return inner_time + outer_time, outer_name if outer_time >= inner_time else inner.bottleneck


def _in_switch(net: Network, groups: IntArray, size: float) -> tuple[float, str]:
    """NVLS: each GPU sends its buffer to the domain switch, which reduces and multicasts it back."""
    assert net.scale_up is not None
    up = net.scale_up.up + groups.ravel()
    rate = float(np.min(net.raw_bandwidth[up])) * net.in_switch_efficiency
    latency = float(np.max(net.latency[up])) * 2
    return size / rate + latency, "in-switch reduction"


def _in_network(net: Network, groups: IntArray, size: float) -> tuple[float, str]:
    """SHARP: each member sends its share up the switch tree once and receives the result once; the
    reduced stream never exceeds one NIC's worth, so the NIC is the bottleneck."""
    phase = _ring_phase(net, groups, size)
    return phase.transfer_s + 2 * phase.latency_s, "in-network reduction"


def all_to_all_flows(groups: IntArray) -> tuple[IntArray, IntArray, int]:
    """Flows of an all-to-all in every group: each rank to each of a sample of the p-1 pairwise shifts (all of
    them up to MAX_ALL_TO_ALL_SHIFTS; uniform traffic makes shifts alike), and how many shifts were taken."""
    ranks = groups.shape[1]
    shifts = np.arange(1, ranks)
    if shifts.size > MAX_ALL_TO_ALL_SHIFTS:
        shifts = np.unique(np.linspace(1, ranks - 1, MAX_ALL_TO_ALL_SHIFTS).round().astype(np.int64))
    src = np.concatenate([groups.ravel()] * shifts.size)
    dst = np.concatenate([np.roll(groups, -int(k), axis=1).ravel() for k in shifts])
    return src, dst, int(shifts.size)


def _all_to_all(net: Network, groups: IntArray, size: float) -> tuple[float, str]:
    """Every rank sends size/p to every other rank at once; for large groups the load of a sample of the
    p-1 pairwise shifts is scaled up (uniform traffic makes shifts alike)."""
    ranks = groups.shape[1]
    src, dst, shifts = all_to_all_flows(groups)
    phase = net.phase(src, dst, size / ranks * (ranks - 1) / shifts)
    one_message = phase.latency_s
    return phase.transfer_s + (ranks - 1) * one_message, phase.bottleneck
