"""What every topology builder needs to know about the cluster, and the error a builder raises for
parameters that cannot be built (reported against a field of `cluster.topology`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.models.topology.network import Channels, IntArray, NetGraph, ScaleUp


class TopologyError(ValueError):
    """A topology that cannot be built from the given parameters; `field` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ClusterShape:
    """Cluster facts a builder needs: counts and per-GPU raw bandwidths (one direction, bytes/s)."""

    nodes: int
    gpus_per_node: int
    scale_up_bandwidth_bytes_per_s: float
    nic_bandwidth_bytes_per_s: float
    in_switch_reduction: bool  # the accelerator's scale-up switches can reduce (NVLS)
    # (GPUs, GPUs per scale-up domain; 0: the topology's) of consecutive parts of a cluster whose pools differ;
    # empty: one domain size throughout
    domains: tuple[tuple[int, int], ...] = ()

    @property
    def gpus(self) -> int:
        """Accelerators in the cluster."""
        return self.nodes * self.gpus_per_node

    def domain_sizes(self, default: int) -> tuple[tuple[int, int], ...]:
        """(GPUs, domain size) of consecutive parts, `default` where a part gives none."""
        return tuple((gpus, size or default) for gpus, size in self.domains) or ((self.gpus, default),)


def add_scale_up_domains(graph: NetGraph | None, channels: Channels, parts: tuple[tuple[int, int], ...],
                         bandwidth: float, efficiency: float, step_latency_s: float) -> ScaleUp:
    """Star every `size` consecutive GPUs of each (GPUs, size) part on one logical switch at `bandwidth` per GPU
    and direction (the channels only, without a graph)."""
    for gpus, size in parts:
        if gpus % size:
            raise TopologyError("scale_up_domain", f"{gpus} GPUs do not split into domains of {size}")
    gpus = sum(g for g, _ in parts)
    up = channels.add_block(gpus, "nvlink up gpu", "scale_up", bandwidth, efficiency, step_latency_s / 2)
    down = channels.add_block(gpus, "nvlink down gpu", "scale_up", bandwidth, efficiency, step_latency_s / 2)
    domain_of, lone, first = np.empty(gpus, dtype=np.int64), np.zeros(gpus, dtype=bool), 0
    for count, size in parts:  # domains numbered on across parts
        start = int(domain_of[first - 1]) + 1 if first else 0
        domain_of[first:first + count] = start + np.arange(count, dtype=np.int64) // size
        lone[first:first + count] = size == 1
        first += count
    if graph is None:
        return ScaleUp(domain_of, up, down)
    graph.add_nodes_from((("gpu", g) for g in range(gpus)), role="gpu")
    switched = [g for g in range(gpus) if not lone[g]]
    graph.add_nodes_from((("nvswitch", int(d)) for d in np.unique(domain_of[switched])), role="scale_up_switch")
    graph.add_edges_from(
        (("gpu", g), ("nvswitch", int(domain_of[g])),
         {"bandwidth": bandwidth, "kind": "scale_up", "channels": (up + g, down + g), "count": 1})
        for g in switched
    )
    return ScaleUp(domain_of, up, down)


def scale_up_or_nic(scale_up: ScaleUp, nic_up: int, nic_down: int, src: IntArray,
                    dst: IntArray) -> tuple[list[IntArray], list[IntArray], IntArray]:
    """Route parts every switched kind shares: a flow inside one scale-up domain crosses its switch; any
    other leaves by its source GPU's NIC and arrives by its destination's. Returns (flow parts, channel
    parts, indices of the flows that left their domain) for the caller to add the hops in between."""
    flows = np.arange(src.size, dtype=np.int64)
    same = scale_up.domain_of[src] == scale_up.domain_of[dst]
    near, remote = flows[same], flows[~same]
    return ([near, near, remote, remote],
            [scale_up.up + src[same], scale_up.down + dst[same], nic_up + src[~same], nic_down + dst[~same]],
            remote)
