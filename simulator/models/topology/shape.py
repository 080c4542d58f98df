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
class ShapePart:
    """Consecutive GPUs of one pool of a cluster whose pools differ: how many, GPUs per scale-up domain (0: the
    topology's) and each GPU's raw NIC bandwidth (one direction, bytes/s)."""

    gpus: int
    scale_up_domain: int
    nic_bandwidth_bytes_per_s: float


@dataclass(frozen=True)
class ClusterShape:
    """Cluster facts a builder needs: counts and per-GPU raw bandwidths (one direction, bytes/s); with `parts`,
    each pool's GPUs have their own NICs and domains (the cluster-wide NIC figure then sizes the switches' ports;
    every GPU's scale-up links are the cluster-wide figure)."""

    nodes: int
    gpus_per_node: int
    scale_up_bandwidth_bytes_per_s: float
    nic_bandwidth_bytes_per_s: float
    in_switch_reduction: bool  # the accelerator's scale-up switches can reduce (NVLS)
    parts: tuple[ShapePart, ...] = ()  # in GPU order; empty: every GPU alike

    @property
    def gpus(self) -> int:
        """Accelerators in the cluster."""
        return self.nodes * self.gpus_per_node

    def domain_sizes(self, default: int) -> tuple[tuple[int, int], ...]:
        """(GPUs, domain size) of consecutive parts, `default` where a part gives none."""
        return tuple((p.gpus, p.scale_up_domain or default) for p in self.parts) or ((self.gpus, default),)

    def nic_bandwidths(self) -> list[float]:
        """Each GPU's NIC bandwidth."""
        if not self.parts:
            return [self.nic_bandwidth_bytes_per_s] * self.gpus
        return [p.nic_bandwidth_bytes_per_s for p in self.parts for _ in range(p.gpus)]


def add_scale_up_domains(graph: NetGraph | None, channels: Channels, shape: ClusterShape, default_domain: int,
                         efficiency: float, step_latency_s: float) -> ScaleUp:
    """Star every `size` consecutive GPUs of each part of `shape` (`default_domain` where it gives none) on one
    logical switch at the scale-up bandwidth per GPU and direction (the channels only, without a graph)."""
    parts = shape.domain_sizes(default_domain)
    for gpus, size in parts:
        if gpus % size:
            raise TopologyError("scale_up_domain", f"{gpus} GPUs do not split into domains of {size}")
    gpus, bandwidth = shape.gpus, shape.scale_up_bandwidth_bytes_per_s
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


def add_nics(channels: Channels, shape: ClusterShape, efficiency: float,
             latency_s: float) -> tuple[int, int, list[float]]:
    """Each GPU's NIC, up and down, at its own bandwidth: (first up channel, first down channel, bandwidths)."""
    bandwidth = shape.nic_bandwidths()
    up = channels.add_block(shape.gpus, "nic up gpu", "nic", bandwidth, efficiency, latency_s / 2)
    down = channels.add_block(shape.gpus, "nic down gpu", "nic", bandwidth, efficiency, latency_s / 2)
    return up, down, bandwidth


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
