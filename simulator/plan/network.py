"""The cluster's network as the models take it: counts and per-GPU bandwidths defaulted from the accelerator,
the built graph (cached per cluster spec), which nodes share a failing leaf, and the network's power draw."""

from __future__ import annotations

import functools
import math

from simulator.models.cost import network_power_w
from simulator.models.hardware import Accelerator
from simulator.models.topology.build import build_network
from simulator.models.topology.fat_tree import switch_ports
from simulator.models.topology.network import Network
from simulator.models.topology.shape import ClusterShape, ShapePart
from simulator.models.topology.specs import FatTreeTopology, OcsTorusTopology, TorusTopology
from simulator.scenario.schema import ClusterSpec, PricingSpec


class MissingFigure(ValueError):
    """A figure the simulation needs that neither the catalog nor the scenario gives."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _bandwidth(given: float | None, default: float | None, needed: bool, key: str, what: str, acc: str,
               pool: tuple[int, str] | None) -> float:
    """A link bandwidth from the topology, else the accelerator; infinite where no such link is used. A missing
    one is located at the topology's key, or at the accelerator of `pool` (index, name) where a later pool's
    chip lacks it."""
    value = given or default
    if value is not None:
        return value
    if not needed:
        return math.inf
    if pool is None:
        raise MissingFigure(("cluster", "topology", key), f"{acc} has no {what} in the catalog; give one per GPU here")
    raise MissingFigure(("cluster", "pools", pool[0], "accelerator"), (
        f"pool {pool[1]}: {acc} has no {what} in the catalog; give cluster.topology.{key}, or write the pool's "
        f"accelerator as {{base: {acc}, {key}: ...}}"))


def _links(cluster: ClusterSpec, acc: Accelerator, pool: tuple[int, str] | None = None) -> tuple[float, float]:
    """(scale-up, NIC) bandwidth of each of `acc`'s GPUs in `cluster`, one direction: the topology's, else the
    chip's."""
    topo = cluster.topology
    torus = isinstance(topo, TorusTopology | OcsTorusTopology)
    link_given = isinstance(topo, TorusTopology | OcsTorusTopology) and topo.link_bandwidth_bytes_per_s is not None
    scale_up = _bandwidth(
        topo.scale_up_bandwidth_bytes_per_s, acc.scale_up_bandwidth_bytes_per_s,
        (cluster.gpus_per_node > 1 or torus) and not link_given,
        "scale_up_bandwidth", "scale-up bandwidth (e.g. 400 GB/s)", acc.name, pool,
    )
    nic = _bandwidth(
        topo.nic_bandwidth_bytes_per_s, acc.nic_bandwidth_bytes_per_s, cluster.nodes > 1 and not torus,
        "nic_bandwidth", "NIC bandwidth (e.g. 400 Gbps)", acc.name, pool,
    )
    return scale_up, nic


def cluster_shape(cluster: ClusterSpec) -> ClusterShape:
    """Counts and per-GPU bandwidths of a cluster, defaulted from the accelerator. With pools, each pool's GPUs
    have their own chip's NICs and their own scale-up domains; the cluster's accelerator (the first pool's, or
    the one a view of a pool gives) sets every GPU's scale-up links and the switches' port speed. A view prices
    its pool's work: a replica's tensor, context and expert groups stay in its own pool, so only that pool's
    scale-up links matter to it, while a collective across pools crosses every pool's own NICs."""
    acc = cluster.accelerator
    scale_up, nic = _links(cluster, acc)
    parts = tuple(
        ShapePart(p.gpus, p.scale_up_domain or 0, nic if p.accelerator == acc else _links(cluster, p.accelerator,
                                                                                       (i, p.name))[1])
        for i, p in enumerate(cluster.pools or ())
    )
    return ClusterShape(cluster.nodes, cluster.gpus_per_node, scale_up, nic, acc.in_switch_reduction, parts)


def pool_links(cluster: ClusterSpec) -> list[tuple[int, float | None]]:
    """Per pool: (GPUs per scale-up domain, 1 on a torus; each GPU's NIC bandwidth, bytes/s, None where no NIC is
    used)."""
    topology, shape = cluster.topology, cluster_shape(cluster)
    switched = not isinstance(topology, TorusTopology | OcsTorusTopology)
    default = (topology.scale_up_domain or cluster.gpus_per_node) if switched else 1  # type: ignore[union-attr]
    nics = [p.nic_bandwidth_bytes_per_s for p in shape.parts] or [shape.nic_bandwidth_bytes_per_s]
    return [(size, nic if math.isfinite(nic) else None)
            for (_, size), nic in zip(shape.domain_sizes(default), nics, strict=True)]


def network(cluster: ClusterSpec) -> Network:
    """The cluster's network, built from its topology; MissingFigure or TopologyError when it cannot be."""
    return build_network(cluster.topology, cluster_shape(cluster))


@functools.lru_cache(maxsize=16)
def cached_network(cluster: ClusterSpec) -> Network:
    """`network(cluster)`, built once per cluster spec: replicates, sweeps and job pricing share it (callers
    must not change it)."""
    return network(cluster)


SWITCH_ROLES = frozenset({"leaf", "spine", "core", "router", "ocs"})
OPTICAL_LINKS = frozenset({"nic", "leaf_spine", "spine_core", "global", "ocs"})


def network_power(cluster: ClusterSpec, pricing: PricingSpec) -> float:
    """Watts of the scale-out network: every switch (scale-up switches are in the server overhead) and two
    transceivers per 400 Gb/s of every NIC, switch-to-switch and optically switched link."""
    net = network(cluster)
    switches = sum(1 for _, data in net.graph.nodes(data=True) if data.get("role") in SWITCH_ROLES)
    links: list[float] = []
    for _, _, data in net.graph.edges(data=True):
        if data["kind"] in OPTICAL_LINKS:
            count = int(data.get("count", 1))
            links += [data["bandwidth"] * 8 / 1e9 / count] * count
    return network_power_w(switches, links, pricing.power.switch_w, pricing.power.transceiver_w)


def topology_leaves(cluster: ClusterSpec) -> tuple[int, int]:
    """(nodes that lose their network when one leaf switch fails, leaves serving those same nodes): a rail-
    optimized fat tree's scalable unit with one leaf per rail (each node loses a rail, which stops a
    synchronous job), a plain fat tree's nodes per leaf, or one node and its own port elsewhere."""
    topology = cluster.topology
    if isinstance(topology, FatTreeTopology):
        if topology.rail_optimized:
            return min(cluster.nodes, topology.nodes_per_su), cluster.gpus_per_node
        down, _ = switch_ports(topology.radix, topology.tier_oversubscription(0))
        return max(1, down // cluster.gpus_per_node), 1
    return 1, 1
