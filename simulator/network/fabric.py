"""First network model: a two-level fabric (scale-up domain per node, scale-out NICs per GPU) that tells a
collective group which bottleneck link it gets. Issue 3 replaces it with routing on a networkx graph;
callers only use `Fabric.group_link`, so the swap stays behind this interface."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.network.collectives import Link


@dataclass(frozen=True)
class Fabric:
    """GPUs grouped in scale-up domains of `gpus_per_node`, joined by one NIC per GPU through a fabric
    whose upper tiers are oversubscribed by `oversubscription` (1 = full bisection)."""

    nodes: int
    gpus_per_node: int
    scale_up: Link  # per GPU, already scaled by the achievable fraction
    scale_out: Link  # per GPU NIC, already scaled by the achievable fraction
    oversubscription: float = 1.0

    def group_link(self, size: int, stride: int) -> Link:
        """Bottleneck link of a ring over `size` ranks placed `stride` GPUs apart (consecutive ranks).

        Inside one scale-up domain the ring runs on NVLink-class links. Across domains it is hierarchical:
        the k members in each node share the node's k NICs, so a ring step gets min(scale-up, k x NIC
        bandwidth / oversubscription) per rank with the scale-out latency (models.md section 4).
        """
        per_node = max(1, min(size, self.gpus_per_node // stride)) if stride < self.gpus_per_node else 1
        if size <= per_node:
            return self.scale_up
        across = per_node * self.scale_out.bandwidth_bytes_per_s / self.oversubscription
        bandwidth = min(self.scale_up.bandwidth_bytes_per_s, across) if per_node > 1 else across
        return Link(bandwidth_bytes_per_s=bandwidth, latency_s=self.scale_out.latency_s)
