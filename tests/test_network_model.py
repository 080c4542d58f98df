"""The network model below the collectives (simulator/models/topology/network.py, fat_tree.py, shape.py,
stats.py): the bottleneck fluid model of one phase on a hand-made network, link failures and repairs on
bundles and optical circuits, the fat-tree builder's counts derived by hand, and the topology statistics."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.models.topology.fat_tree import _build_switched, build_switched, switch_ports
from simulator.models.topology.network import Channels, IntArray, NetGraph, Network, Partitioned, Routes
from simulator.models.topology.shape import ClusterShape, TopologyError
from simulator.models.topology.specs import FatTreeTopology, SingleSwitchTopology
from simulator.models.topology.stats import bisection_bandwidth, diameter_hops, link_counts, part_counts, scopes

NIC, NVLINK = 50e9, 450e9


@dataclass(frozen=True)
class TableRouter:
    """Routes looked up in a table: (source, destination) -> [(channel, weight), ...]."""

    table: dict[tuple[int, int], list[tuple[int, float]]]

    def routes(self, src: IntArray, dst: IntArray) -> Routes:
        flow, channel, weight = [], [], []
        for i, (s, d) in enumerate(zip(src.tolist(), dst.tolist(), strict=True)):
            for c, w in self.table[(s, d)]:
                flow.append(i)
                channel.append(c)
                weight.append(w)
        return Routes(np.array(flow, dtype=np.int64), np.array(channel, dtype=np.int64), np.array(weight))


def toy() -> Network:
    """Three GPUs and three channels: a (raw 10 B/s, efficiency 1, latency 1 s), b (raw 10 B/s at efficiency
    0.5: capacity 5 B/s, latency 2 s) and c (100 B/s, latency 0.5 s). Channel a bundles two member edges of
    5 B/s; c is an optical circuit (two graph edges through an OCS sharing one `link` key)."""
    channels = Channels()
    a = channels.add("a", "nic", 10.0, 1.0, 1.0)
    b = channels.add("b", "leaf", 10.0, 0.5, 2.0)
    c = channels.add("c", "ocs", 100.0, 1.0, 0.5)
    graph: NetGraph = nx.Graph()
    graph.add_nodes_from((("gpu", g) for g in range(3)), role="gpu")
    graph.add_node(("leaf", 0), role="leaf")
    graph.add_node(("ocs", 0, 0), role="ocs")
    for g in (0, 1):
        graph.add_edge(("gpu", g), ("leaf", 0), bandwidth=5.0, kind="nic", channels=(a,), count=1)
    graph.add_edge(("gpu", 2), ("leaf", 0), bandwidth=10.0, kind="leaf", channels=(b,), count=1)
    circuit = ("circuit", 0, 2)
    graph.add_edge(("gpu", 0), ("ocs", 0, 0), bandwidth=100.0, kind="ocs", channels=(c,), link=circuit)
    graph.add_edge(("ocs", 0, 0), ("gpu", 2), bandwidth=100.0, kind="ocs", channels=(c,), link=circuit)
    router = TableRouter({(0, 1): [(a, 1.0), (c, 1.0)], (1, 2): [(b, 1.0)], (0, 2): [(a, 0.5), (b, 0.5), (c, 1.0)]})
    return Network("toy", graph, 3, channels, router, None, unit_gpus=3, notes={})


def flows(*pairs: tuple[int, int]) -> tuple[IntArray, IntArray]:
    return np.array([s for s, _ in pairs], dtype=np.int64), np.array([d for _, d in pairs], dtype=np.int64)


# --- one phase -------------------------------------------------------------------------------------------------


def test_a_phase_is_its_busiest_channel_plus_its_longest_path() -> None:
    net = toy()
    phase = net.phase(*flows((0, 1), (1, 2)), 100.0)
    # loads: a 100 B / 10 B/s = 10 s, b 100 / 5 = 20 s, c 100 / 100 = 1 s; paths: 1 + 0.5 and 2
    assert (phase.transfer_s, phase.latency_s, phase.time_s, phase.bottleneck) == (20.0, 2.0, 22.0, "b")


def test_ecmp_weights_split_bytes_and_latency() -> None:
    phase = toy().phase(*flows((0, 2)), 100.0)
    # a carries 50 B (5 s), b 50 B (10 s), c 100 B (1 s); latency 0.5 x 1 + 0.5 x 2 + 0.5
    assert (phase.transfer_s, phase.latency_s, phase.bottleneck) == (10.0, 2.0, "b")


def test_flows_to_themselves_and_empty_phases_cost_nothing() -> None:
    net = toy()
    for src, dst, size in [(*flows((1, 1)), 100.0), (*flows((0, 1)), 0.0), (*flows(), 100.0)]:
        phase = net.phase(src, dst, size)
        assert (phase.time_s, phase.bottleneck) == (0.0, "")
    assert net.phase(*flows((1, 1), (1, 2)), 100.0).transfer_s == 20.0  # the self-flow is dropped, not the other


@settings(max_examples=50, deadline=None)
@given(size=st.floats(1.0, 1e12), factor=st.floats(1.0, 1e3))
def test_transfer_time_is_linear_in_bytes_and_latency_does_not_depend_on_them(size: float, factor: float) -> None:
    net = toy()
    one, more = net.phase(*flows((0, 1), (0, 2)), size), net.phase(*flows((0, 1), (0, 2)), size * factor)
    assert more.transfer_s == pytest.approx(one.transfer_s * factor, rel=1e-12)
    assert more.latency_s == one.latency_s and more.bottleneck == one.bottleneck


def test_the_domain_of_each_gpu_without_scale_up_is_itself() -> None:
    assert toy().domain_of.tolist() == [0, 1, 2]


# --- failures and repairs --------------------------------------------------------------------------------------


def test_a_bundle_loses_one_member_at_a_time_and_partitions_when_all_are_down() -> None:
    net = toy()
    net.fail_link(("gpu", 0), ("leaf", 0))
    assert net.raw_bandwidth[0] == 5.0 and net.capacity[0] == 5.0
    net.fail_link(("gpu", 0), ("leaf", 0))  # failing a failed link changes nothing
    assert net.raw_bandwidth[0] == 5.0
    net.fail_link(("leaf", 0), ("gpu", 1))  # either endpoint order names the edge
    assert net.raw_bandwidth[0] == 0.0
    with pytest.raises(Partitioned, match="no healthy path through a") as info:
        net.phase(*flows((0, 1)), 1.0)
    assert info.value.channel == "a"
    assert net.phase(*flows((1, 2)), 100.0).transfer_s == 20.0  # flows that avoid a still run
    net.repair_link(("gpu", 1), ("leaf", 0))
    net.repair_link(("gpu", 0), ("leaf", 0))
    assert net.raw_bandwidth[0] == 10.0 and not net.is_down(("gpu", 0), ("leaf", 0))


def test_an_optical_circuit_is_one_logical_link() -> None:
    net = toy()
    net.fail_link(("gpu", 0), ("ocs", 0, 0))
    net.fail_link(("ocs", 0, 0), ("gpu", 2))  # the other half of the same circuit: no second subtraction
    assert net.raw_bandwidth[2] == 0.0
    net.repair_link(("gpu", 0), ("ocs", 0, 0))
    assert net.raw_bandwidth[2] == 0.0  # still down while its other half is
    assert net.is_down(("ocs", 0, 0), ("gpu", 2)) and not net.is_down(("gpu", 0), ("ocs", 0, 0))
    net.repair_link(("gpu", 2), ("ocs", 0, 0))
    assert net.raw_bandwidth[2] == 100.0


def test_a_degraded_copy_has_its_own_link_state() -> None:
    net = toy()
    net.fail_link(("gpu", 2), ("leaf", 0))
    twin = net.degraded([(("gpu", 0), ("leaf", 0))])
    assert twin.raw_bandwidth.tolist() == [5.0, 0.0, 100.0]
    assert net.raw_bandwidth.tolist() == [10.0, 0.0, 100.0]
    twin.repair_link(("gpu", 2), ("leaf", 0))
    assert twin.raw_bandwidth[1] == 10.0 and net.is_down(("gpu", 2), ("leaf", 0))
    assert twin.graph is net.graph and twin.router is net.router


# --- switch ports and fat trees --------------------------------------------------------------------------------


@pytest.mark.parametrize(("radix", "oversubscription", "ports"), [(64, 1.0, (32, 32)), (64, 3.0, (48, 16)),
                                                                  (48, 2.0, (32, 16)), (12, 2.0, (8, 4)),
                                                                  (5, 1.0, (2, 3))])
def test_switch_ports_by_hand(radix: int, oversubscription: float, ports: tuple[int, int]) -> None:
    assert switch_ports(radix, oversubscription) == ports


@settings(max_examples=200, deadline=None)
@given(radix=st.integers(4, 1024), oversubscription=st.floats(1.0, 64.0))
def test_switch_ports_use_every_port_and_never_exceed_the_ratio(radix: int, oversubscription: float) -> None:
    down, up = switch_ports(radix, oversubscription)
    assert down + up == radix and up >= 1
    assert down <= up * oversubscription + 1e-9  # rounding down never oversubscribes more than asked
    assert down + 1 > radix * oversubscription / (1 + oversubscription)  # and gives away less than one port


def fat_tree(nodes: int, gpus_per_node: int = 8, **spec: object) -> Network:
    return build_switched(FatTreeTopology.model_validate({"kind": "fat_tree", **spec}),
                          ClusterShape(nodes, gpus_per_node, NVLINK, NIC, True))


def test_two_tier_counts_by_hand() -> None:
    net = fat_tree(16, radix=64)  # 128 GPUs, 32 per leaf: 4 leaves with 32 up-links each over 64-port spines
    assert net.notes == {"leaves": 4, "spines": 2}
    assert part_counts(net) == {"gpu": 128, "leaf": 4, "scale_up_switch": 16, "spine": 2}
    assert link_counts(net) == {"leaf_spine": 128, "nic": 128, "scale_up": 128}
    assert net.unit_gpus == 32 and net.kind == "fat_tree"
    assert diameter_hops(net) == 4  # gpu - leaf - spine - leaf - gpu


def test_three_tier_counts_by_hand() -> None:
    # radix 8: leaves give 4 ports down and 4 up; 32 GPUs fill 8 leaves; a spine joins 4 leaves, so 2 pods of
    # 4 spines each; each spine's 4 up-links land on one core per plane (ceil(2 pods x 4 / 8) = 1): 4 cores
    net = fat_tree(8, gpus_per_node=4, radix=8, tiers=3)
    assert net.notes == {"leaves": 8, "pods": 2, "spines": 8, "cores": 4}
    assert link_counts(net) == {"leaf_spine": 32, "nic": 32, "scale_up": 32, "spine_core": 32}
    assert net.unit_gpus == 16  # one pod
    assert diameter_hops(net) == 6


def test_rail_optimized_leaves_hold_one_rail_of_a_scalable_unit() -> None:
    net = fat_tree(8, gpus_per_node=4, radix=16, rail_optimized=True, nodes_per_su=4)
    for gpu in range(32):
        node, rail = divmod(gpu, 4)
        leaf = (node // 4) * 4 + rail
        assert net.graph.has_edge(("gpu", gpu), ("leaf", leaf))
    assert net.notes["leaves"] == 8 and net.unit_gpus == 16


def test_oversubscription_halves_the_bisection_bandwidth() -> None:
    flat = fat_tree(16, gpus_per_node=1, radix=16)  # 8 GPUs per leaf, 8 up-links
    thin = fat_tree(16, gpus_per_node=1, radix=12, oversubscription=2)  # 8 GPUs per leaf, 4 up-links
    assert bisection_bandwidth(flat) == pytest.approx(8 * NIC * 0.95, rel=1e-12)
    assert bisection_bandwidth(thin) == pytest.approx(4 * NIC * 0.95, rel=1e-12)


def test_single_switch_statistics() -> None:
    net = build_switched(SingleSwitchTopology(kind="single_switch"), ClusterShape(4, 2, NVLINK, NIC, False))
    assert part_counts(net) == {"gpu": 8, "scale_up_switch": 4, "switch": 1}
    assert bisection_bandwidth(net) == pytest.approx(4 * NIC * 0.95, rel=1e-12)  # every NIC, one switch
    assert diameter_hops(net) == 2
    assert scopes(net) == {"8 GPUs": 8}  # one unit and the whole cluster are the same 8 GPUs
    alone = build_switched(SingleSwitchTopology(kind="single_switch"), ClusterShape(1, 1, NVLINK, NIC, False))
    assert bisection_bandwidth(alone) == 0.0 and scopes(alone) == {}


@pytest.mark.parametrize(("nodes", "gpus_per_node", "spec", "field"), [
    (128, 8, {"radix": 16}, "tiers"),  # 1,024 GPUs need 128 leaves of 8, more than a spine's 16 ports
    (64, 8, {"radix": 8, "tiers": 3}, "radix"),  # 128 leaves in pods of 4 are 32 pods, more than 8 cores' ports
    (8, 8, {"radix": 8, "rail_optimized": True, "nodes_per_su": 8}, "nodes_per_su"),
    (2, 8, {"radix": 64, "scale_up_domain": 3}, "scale_up_domain"),
])
def test_unbuildable_fat_trees_name_their_field(nodes: int, gpus_per_node: int, spec: dict[str, object],
                                                field: str) -> None:
    with pytest.raises(TopologyError) as info:
        fat_tree(nodes, gpus_per_node, **spec)
    assert info.value.field == field


@settings(max_examples=25, deadline=None)
@given(nodes=st.integers(1, 64), gpus_per_node=st.sampled_from([1, 2, 4, 8]), radix=st.sampled_from([16, 32, 64]),
       oversubscription=st.sampled_from([1.0, 2.0, 3.0]))
def test_every_gpu_has_one_nic_and_every_leaf_respects_its_ports(nodes: int, gpus_per_node: int, radix: int,
                                                                 oversubscription: float) -> None:
    try:
        net = fat_tree(nodes, gpus_per_node, radix=radix, oversubscription=oversubscription)
    except TopologyError as err:
        assert err.field == "tiers"
        return
    down, up = switch_ports(radix, oversubscription)
    graph = net.graph
    for gpu in range(net.gpus):
        assert sum(graph.edges[e]["kind"] == "nic" for e in graph.edges(("gpu", gpu))) == 1
    leaves = net.notes["leaves"]
    assert isinstance(leaves, int)
    for leaf in range(leaves):
        edges = [graph.edges[e] for e in graph.edges(("leaf", leaf))]
        assert sum(e["count"] for e in edges if e["kind"] == "nic") <= down
        assert sum(e["count"] for e in edges if e["kind"] == "leaf_spine") == up


@pytest.mark.parametrize("spec", [{"kind": "fat_tree", "tiers": 2, "radix": 16},
                                  {"kind": "fat_tree", "tiers": 3, "radix": 8, "rail_optimized": False},
                                  {"kind": "fat_tree", "tiers": 3, "radix": 16, "rail_optimized": True,
                                   "nodes_per_su": 4},
                                  {"kind": "single_switch"}])
def test_the_graph_built_on_first_use_is_the_one_built_with_the_channels(spec: dict[str, object]) -> None:
    topology = (SingleSwitchTopology if spec["kind"] == "single_switch" else FatTreeTopology).model_validate(spec)
    shape = ClusterShape(16, 4, NVLINK, NIC, True)
    lazy = build_switched(topology, shape)  # type: ignore[arg-type]
    eager = _build_switched(topology, shape, nx.Graph())  # type: ignore[arg-type]
    assert callable(lazy._graph) and lazy.channel_names == eager.channel_names
    twin = lazy.degraded([])
    assert nx.utils.graphs_equal(lazy.graph, eager.graph) and twin.graph is lazy.graph  # built once, shared
    assert sorted(lazy.graph.nodes(data=True)) == sorted(eager.graph.nodes(data=True))
