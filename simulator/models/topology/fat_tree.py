"""Switched networks: one non-blocking switch, or a 2/3-tier folded Clos (fat tree), optionally rail-optimized.

Every switch has `radix` ports of the NIC's speed. A leaf at oversubscription o gives o/(1+o) of its ports to
GPUs and the rest to spines; a 3-tier spine does the same between leaves and cores. ECMP spreads traffic
over all up-links evenly, so routing uses one bundle channel per leaf (and per pod) and direction.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from simulator.models.topology.network import Channels, IntArray, NetGraph, Network, Routes, ScaleUp, new_graph
from simulator.models.topology.shape import (
    ClusterShape,
    TopologyError,
    add_nics,
    add_scale_up_domains,
    scale_up_or_nic,
)
from simulator.models.topology.specs import FatTreeTopology, SingleSwitchTopology


@dataclass(frozen=True)
class SwitchedRouter:
    """Same domain: over the scale-up switch. Otherwise NIC up, leaf and pod bundles where crossed, NIC down."""

    scale_up: ScaleUp
    nic_up: int
    nic_down: int
    leaf_of: IntArray
    leaf_up: int  # first leaf bundle channel, -1 without a spine tier
    leaf_down: int
    pod_of: IntArray
    pod_up: int  # first pod bundle channel, -1 without a core tier
    pod_down: int

    def routes(self, src: IntArray, dst: IntArray) -> Routes:
        """Channels crossed by each flow."""
        parts_flow, parts_channel, remote = scale_up_or_nic(self.scale_up, self.nic_up, self.nic_down, src, dst)
        for first_up, first_down, group_of in ((self.leaf_up, self.leaf_down, self.leaf_of),
                                               (self.pod_up, self.pod_down, self.pod_of)):
            if first_up < 0:
                continue
            crossing = remote[group_of[src[remote]] != group_of[dst[remote]]]
            parts_flow += [crossing, crossing]
            parts_channel += [first_up + group_of[src[crossing]], first_down + group_of[dst[crossing]]]
        flow = np.concatenate(parts_flow)
        return Routes(flow, np.concatenate(parts_channel), np.ones(flow.size))


def switch_ports(radix: int, oversubscription: float) -> tuple[int, int]:
    """(down, up) ports of a switch splitting `radix` ports at down/up = oversubscription."""
    down = int(radix * oversubscription / (1 + oversubscription))
    return down, radix - down


def _connect(graph: NetGraph | None, lower: list[tuple[str, int]], upper: list[tuple[str, int]], links_each: int,
             bandwidth: float, kind: str, channel_of: list[tuple[int, int]]) -> None:
    """Spread `links_each` up-links of every lower switch round-robin over `upper`; parallel links merge into
    one edge whose bandwidth is their sum (nothing without a graph)."""
    if graph is None:
        return
    for i, low in enumerate(lower):
        counts: dict[int, int] = {}
        for link in range(links_each):
            target = (i * links_each + link) % len(upper)
            counts[target] = counts.get(target, 0) + 1
        graph.add_edges_from(
            (low, upper[t], {"bandwidth": n * bandwidth, "kind": kind, "channels": channel_of[i], "count": n})
            for t, n in counts.items()
        )


def build_switched(spec: SingleSwitchTopology | FatTreeTopology, shape: ClusterShape) -> Network:
    """The channels and router of a single switch or a fat tree, and its graph on first use (pricing needs
    none: a 16,384-GPU fat tree's graph takes ~0.3 s to build), shared by every copy of the network."""
    return _build_switched(spec, shape, None)


def _build_switched(spec: SingleSwitchTopology | FatTreeTopology, shape: ClusterShape,
                    graph: NetGraph | None) -> Network:
    """The network, with `graph` filled in, or (None) with a function that builds it."""
    gpus, gpn, port = shape.gpus, shape.gpus_per_node, shape.nic_bandwidth_bytes_per_s
    if isinstance(spec, FatTreeTopology):
        _check_size(spec, shape)  # before building anything: a refusal costs no graph
    graph_or_builder = graph if graph is not None else functools.cache(
        lambda: _build_switched(spec, shape, new_graph()).graph)
    channels = Channels()
    scale_up = add_scale_up_domains(graph, channels, shape, spec.scale_up_domain or gpn, spec.scale_up_efficiency,
                                    spec.scale_up_latency_s)
    eff, hop = spec.scale_out_efficiency, spec.switch_latency_s
    nic_up, nic_down, nic = add_nics(channels, shape, eff, spec.scale_out_latency_s)
    ids = np.arange(gpus, dtype=np.int64)
    no_pods = np.zeros(gpus, dtype=np.int64)
    notes: dict[str, object] = {}
    in_switch = spec.in_switch_reduction if spec.in_switch_reduction is not None else shape.in_switch_reduction
    if isinstance(spec, SingleSwitchTopology):
        leaf_of = no_pods
        if graph is not None:
            graph.add_node(("switch", 0), role="switch")
        _nic_edges(graph, ids, leaf_of, nic, nic_up, nic_down, "switch")
        router = SwitchedRouter(scale_up, nic_up, nic_down, leaf_of, -1, -1, no_pods, -1, -1)
        return Network("single_switch", graph_or_builder, gpus, channels, router, scale_up, unit_gpus=gpus,
                       notes=notes,
                       in_switch_efficiency=spec.in_switch_efficiency if in_switch else 0.0)

    radix = spec.radix
    leaf_down_ports, leaf_up_ports = switch_ports(radix, spec.tier_oversubscription(0))
    if spec.rail_optimized:
        node = ids // gpn
        leaf_of = (node // spec.nodes_per_su) * gpn + ids % gpn
        unit = min(gpus, spec.nodes_per_su * gpn)
    else:
        leaf_of = ids // leaf_down_ports
        unit = min(gpus, leaf_down_ports)  # GPUs under one leaf; a pod on 3 tiers (below)
    leaves = int(leaf_of.max()) + 1
    if graph is not None:
        graph.add_nodes_from((("leaf", i) for i in range(leaves)), role="leaf")
    _nic_edges(graph, ids, leaf_of, nic, nic_up, nic_down, "leaf")
    leaf_up = channels.add_block(leaves, "leaf uplinks", "leaf", leaf_up_ports * port, eff, hop)
    leaf_down = channels.add_block(leaves, "leaf downlinks", "leaf", leaf_up_ports * port, eff, hop)
    leaf_names = [("leaf", i) for i in range(leaves)]
    leaf_channels = [(leaf_up + i, leaf_down + i) for i in range(leaves)]
    pod_of, pod_up, pod_down = no_pods, -1, -1
    if spec.tiers == 2:
        spine_count = max(1, math.ceil(leaves * leaf_up_ports / radix))
        if graph is not None:
            graph.add_nodes_from((("spine", j) for j in range(spine_count)), role="spine")
        _connect(graph, leaf_names, [("spine", j) for j in range(spine_count)], leaf_up_ports, port, "leaf_spine",
                 leaf_channels)
        notes.update(leaves=leaves, spines=spine_count)
    else:
        spine_down_ports, spine_up_ports = switch_ports(radix, spec.tier_oversubscription(1))
        leaves_per_pod = spine_down_ports
        pods = math.ceil(leaves / leaves_per_pod)
        spines_per_pod = leaf_up_ports
        pod_of = leaf_of // leaves_per_pod
        pod_up = channels.add_block(pods, "pod uplinks", "spine", spines_per_pod * spine_up_ports * port, eff, hop)
        pod_down = channels.add_block(pods, "pod downlinks", "spine", spines_per_pod * spine_up_ports * port, eff,
                                      hop)
        cores_per_plane = max(1, math.ceil(pods * spine_up_ports / radix))
        if graph is not None:  # the channels above are all that pricing needs
            for pod in range(pods):
                members = leaf_names[pod * leaves_per_pod:(pod + 1) * leaves_per_pod]
                spines = [("spine", pod * spines_per_pod + j) for j in range(spines_per_pod)]
                graph.add_nodes_from(spines, role="spine")
                _connect(graph, members, spines, leaf_up_ports, port, "leaf_spine",
                         leaf_channels[pod * leaves_per_pod:(pod + 1) * leaves_per_pod])
                for j, spine in enumerate(spines):
                    cores = [("core", j * cores_per_plane + c) for c in range(cores_per_plane)]
                    graph.add_nodes_from(cores, role="core")
                    _connect(graph, [spine], cores, spine_up_ports, port, "spine_core",
                             [(pod_up + pod, pod_down + pod)])
        notes.update(leaves=leaves, pods=pods, spines=pods * spines_per_pod, cores=spines_per_pod * cores_per_plane)
        if not spec.rail_optimized:
            unit = min(gpus, leaves_per_pod * leaf_down_ports)
    router = SwitchedRouter(scale_up, nic_up, nic_down, leaf_of, leaf_up, leaf_down, pod_of, pod_up, pod_down)
    return Network("fat_tree", graph_or_builder, gpus, channels, router, scale_up, unit_gpus=unit, notes=notes,
                   in_switch_efficiency=spec.in_switch_efficiency if in_switch else 0.0,
                   in_network_reduction=spec.sharp)


def _check_size(spec: FatTreeTopology, shape: ClusterShape) -> None:
    """The switch counts a fat tree of `spec` needs for `shape`, checked by arithmetic alone (TopologyError)."""
    radix, gpus = spec.radix, shape.gpus
    leaf_down_ports, _ = switch_ports(radix, spec.tier_oversubscription(0))
    if spec.rail_optimized:
        if spec.nodes_per_su > leaf_down_ports:
            raise TopologyError("nodes_per_su", (
                f"a rail leaf needs one port per node of its scalable unit ({spec.nodes_per_su}), but radix "
                f"{radix} at oversubscription {spec.tier_oversubscription(0):g} leaves {leaf_down_ports}"
            ))
        leaves = math.ceil(shape.nodes / spec.nodes_per_su) * shape.gpus_per_node
    else:
        if leaf_down_ports < 1:
            raise TopologyError("radix", f"radix {radix} leaves no port for GPUs at this oversubscription")
        leaves = math.ceil(gpus / leaf_down_ports)
    if spec.tiers == 2 and leaves > radix:
        raise TopologyError("tiers", (
            f"{gpus:,} GPUs need {leaves} leaves, but a 2-tier fat tree of radix {radix} joins at most "
            f"{radix} (every spine reaches every leaf); use tiers: 3 or a larger radix"
        ))
    if spec.tiers == 3:
        leaves_per_pod = switch_ports(radix, spec.tier_oversubscription(1))[0]
        pods = math.ceil(leaves / leaves_per_pod)
        if pods > radix:
            raise TopologyError("radix", (
                f"{gpus:,} GPUs need {pods} pods of {leaves_per_pod} leaves, but cores of radix {radix} join at "
                f"most {radix} pods; use a larger radix or more oversubscription"
            ))


def _nic_edges(graph: NetGraph | None, ids: IntArray, leaf_of: IntArray, nic: list[float], up: int, down: int,
               role: str) -> None:
    if graph is None:
        return
    graph.add_edges_from(
        (("gpu", int(g)), (role, int(leaf_of[g])),
         {"bandwidth": nic[g], "kind": "nic", "channels": (up + int(g), down + int(g)), "count": 1})
        for g in ids
    )
