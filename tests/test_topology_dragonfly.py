"""Dragonfly builder: structure of the graph, minimal routes as walks in it, the global bundle as the
bottleneck of group-to-group traffic, failures, and the parameters it refuses."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import networkx as nx
import numpy as np
import pytest

from simulator.models.topology.dragonfly import build_dragonfly, pair_link_counts
from simulator.models.topology.network import IntArray, Network, Partitioned
from simulator.models.topology.shape import ClusterShape, TopologyError
from simulator.models.topology.specs import DragonflyTopology

NIC = 50e9
GLOBAL = 10e9


def dragonfly(groups: int, routers: int, links: int, nodes: int, gpus_per_node: int = 2,
              **extra: object) -> Network:
    """A dragonfly on a cluster of `nodes` nodes with 50 GB/s NICs and 10 GB/s global links."""
    spec = DragonflyTopology.model_validate({
        "kind": "dragonfly", "groups": groups, "routers_per_group": routers, "global_links_per_router": links,
        "global_bandwidth_bytes_per_s": GLOBAL, **extra,
    })
    shape = ClusterShape(nodes=nodes, gpus_per_node=gpus_per_node, scale_up_bandwidth_bytes_per_s=450e9,
                         nic_bandwidth_bytes_per_s=NIC, in_switch_reduction=False)
    return build_dragonfly(spec, shape)


def edges_of(net: Network, kind: str) -> list[tuple[Any, Any, dict[str, Any]]]:
    """Graph edges of one kind, with their attributes."""
    return [(u, v, d) for u, v, d in net.graph.edges(data=True) if d["kind"] == kind]


def group_pair_links(net: Network) -> Counter[tuple[int, int]]:
    """Global links between each unordered pair of groups, from the graph."""
    pairs: Counter[tuple[int, int]] = Counter()
    for u, v, d in edges_of(net, "global"):
        gu, gv = net.graph.nodes[u]["group"], net.graph.nodes[v]["group"]
        assert gu != gv
        pairs[min(gu, gv), max(gu, gv)] += int(d["count"])
    return pairs


@pytest.mark.parametrize(("groups", "routers", "links"), [(4, 2, 2), (5, 3, 2), (9, 4, 2), (3, 1, 2), (6, 4, 3)])
def test_counts_and_every_group_pair_linked(groups: int, routers: int, links: int) -> None:
    net = dragonfly(groups, routers, links, nodes=groups * routers)
    router_nodes = [n for n, d in net.graph.nodes(data=True) if d["role"] == "router"]
    assert len(router_nodes) == groups * routers
    assert len(edges_of(net, "local")) == groups * routers * (routers - 1) // 2
    pairs = group_pair_links(net)
    assert set(pairs) == set(itertools.combinations(range(groups), 2))
    ports = routers * links
    assert set(pairs.values()) <= {ports // (groups - 1), -(-ports // (groups - 1))}
    assert sum(pairs.values()) == net.notes["global_links"]
    if ports % (groups - 1) == 0:
        assert net.notes["global_links"] == groups * ports // 2
    per_router: Counter[object] = Counter()
    for u, v, d in edges_of(net, "global"):
        per_router[u] += int(d["count"])
        per_router[v] += int(d["count"])
    assert max(per_router.values()) <= links
    assert net.unit_gpus == routers * 2  # one node of 2 GPUs per router


@pytest.mark.parametrize("groups", range(2, 10))
def test_pair_link_counts_symmetric_balanced_within_ports(groups: int) -> None:
    for ports in range(groups - 1, 4 * groups):
        counts = pair_link_counts(groups, ports)
        off = counts[~np.eye(groups, dtype=bool)]
        assert (counts == counts.T).all()
        assert off.min() >= 1 and off.max() - off.min() <= 1
        assert counts.sum(axis=1).max() <= ports
        assert (groups * ports - counts.sum()) <= groups  # at most one idle port per group


def test_router_diameter_at_most_three() -> None:
    net = dragonfly(5, 3, 2, nodes=15)
    routers = net.graph.subgraph(n for n, d in net.graph.nodes(data=True) if d["role"] == "router")
    assert nx.diameter(routers) == 3  # local, global, local


def _walks(net: Network, src: int, dst: int, channels: list[int]) -> bool:
    """Whether some walk from GPU src to GPU dst crosses exactly `channels` (each once, in any order).

    A graph edge's channels are (min end -> max end, max end -> min end) in node order."""
    hops: dict[int, list[tuple[object, object]]] = {}
    for u, v, d in net.graph.edges(data=True):
        a, b = sorted((u, v))
        forward, backward = d["channels"]
        hops.setdefault(forward, []).append((a, b))
        hops.setdefault(backward, []).append((b, a))

    def walk(at: object, left: Counter[int]) -> bool:
        if not +left:
            return at == ("gpu", dst)
        for channel in list(+left):
            for a, b in hops.get(channel, []):
                if a == at and walk(b, left - Counter([channel])):
                    return True
        return False

    return walk(("gpu", src), Counter(channels))


def test_routes_of_all_pairs_are_walks_from_source_to_destination() -> None:
    net = dragonfly(4, 2, 2, nodes=16, gpus_per_node=2)  # two nodes per router
    pairs = np.array([(s, d) for s in range(net.gpus) for d in range(net.gpus) if s != d])
    routes = net.router.routes(pairs[:, 0], pairs[:, 1])
    assert np.all(routes.weight == 1.0)
    per_flow: dict[int, list[int]] = {}
    for flow, channel in zip(routes.flow.tolist(), routes.channel.tolist(), strict=True):
        per_flow.setdefault(flow, []).append(channel)
    assert sorted(per_flow) == list(range(len(pairs)))
    kinds = net.channel_kinds
    for flow, (s, d) in enumerate(pairs.tolist()):
        channels = per_flow[flow]
        assert _walks(net, s, d, channels), (s, d, [net.channel_names[c] for c in channels])
        assert Counter(kinds[channels].tolist())["global"] <= 1
        assert len(channels) <= 5


def group_to_group(net: Network, a: int, b: int) -> tuple[IntArray, IntArray]:
    """Flows from GPU i of group a to GPU i of group b (groups of unit_gpus GPUs)."""
    gpus = net.unit_gpus
    src = np.arange(a * gpus, (a + 1) * gpus, dtype=np.int64)
    return src, src - a * gpus + b * gpus


def test_group_to_group_phase_limited_by_global_bundle() -> None:
    # 3 groups of 2 routers, 2 global links each: 4 ports per group, 2 links per group pair; one 2-GPU node per
    # router, so group 0 sends 4 flows of 1 GB to group 1 through 2 links of 10 GB/s at 95 %.
    net = dragonfly(3, 2, 2, nodes=6)
    src, dst = group_to_group(net, 0, 1)
    phase = net.phase(src, dst, 1e9)
    assert phase.bottleneck == "global g0->g1"
    assert phase.transfer_s == pytest.approx(4 * 1e9 / (2 * GLOBAL * 0.95))
    assert phase.latency_s <= 10e-6 + 3 * 0.5e-6 + 1e-15
    assert phase.time_s == pytest.approx(phase.transfer_s + phase.latency_s)


def test_max_latency_is_nic_plus_three_switch_hops() -> None:
    # One global link per router: group 0's link to group 1 is on router 0 and lands on router 3, so GPUs of
    # router 1 reach router 2 through local, global, local (GPUs in reverse order: router 1 -> router 2).
    net = dragonfly(3, 2, 1, nodes=6)
    src, dst = group_to_group(net, 0, 1)
    assert net.phase(src, dst, 1e9).latency_s == pytest.approx(10e-6 + 2 * 0.5e-6)  # r0 -> r2, r1 -> r3
    phase = net.phase(src, dst[::-1].copy(), 1e9)
    assert phase.latency_s == pytest.approx(10e-6 + 3 * 0.5e-6)
    assert phase.transfer_s == pytest.approx(4 * 1e9 / (GLOBAL * 0.95))


def test_more_global_links_never_slow_group_to_group_phase() -> None:
    times = []
    for links in range(1, 7):
        net = dragonfly(3, 2, links, nodes=6)
        src, dst = group_to_group(net, 0, 1)
        times.append(net.phase(src, dst, 1e9).time_s)
    assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(times))
    assert times[-1] < times[0] / 2


def test_failing_global_links_shrinks_then_partitions() -> None:
    net = dragonfly(3, 2, 2, nodes=6)
    src, dst = group_to_group(net, 0, 1)
    before = net.phase(src, dst, 1e9).transfer_s
    between = [(u, v) for u, v, d in edges_of(net, "global")
               if {net.graph.nodes[u]["group"], net.graph.nodes[v]["group"]} == {0, 1}]
    assert len(between) == 2
    net.fail_link(*between[0])
    assert net.phase(src, dst, 1e9).transfer_s == pytest.approx(2 * before)
    net.phase(*group_to_group(net, 0, 2), 1e9)  # other pairs unaffected
    net.fail_link(*between[1])
    with pytest.raises(Partitioned, match="global g0->g1"):
        net.phase(src, dst, 1e9)
    with pytest.raises(Partitioned, match="global g1->g0"):
        net.phase(dst, src, 1e9)
    net.repair_link(*between[0])
    assert net.phase(src, dst, 1e9).transfer_s == pytest.approx(2 * before)


def test_same_router_and_same_domain_routes() -> None:
    net = dragonfly(3, 2, 2, nodes=12, gpus_per_node=2)  # two nodes per router
    names = net.channel_names
    routes = net.router.routes(np.array([0, 0, 0]), np.array([1, 2, 4]))
    by_flow = [sorted(names[c] for c, f in zip(routes.channel, routes.flow, strict=True) if f == i)
               for i in range(3)]
    assert by_flow[0] == ["nvlink down gpu[1]", "nvlink up gpu[0]"]
    assert by_flow[1] == ["nic down gpu[2]", "nic up gpu[0]"]
    assert by_flow[2] == ["local g0 r0->r1", "nic down gpu[4]", "nic up gpu[0]"]


def test_in_switch_efficiency_follows_spec_then_shape() -> None:
    assert dragonfly(3, 1, 2, nodes=3).in_switch_efficiency == 0.0
    assert dragonfly(3, 1, 2, nodes=3, in_switch_reduction=True).in_switch_efficiency == pytest.approx(0.61)


def test_too_few_global_links() -> None:
    with pytest.raises(TopologyError, match="every pair of groups needs a global link") as err:
        dragonfly(6, 2, 2, nodes=12)
    assert err.value.field == "global_links_per_router"


def test_more_routers_than_nodes() -> None:
    with pytest.raises(TopologyError) as err:
        dragonfly(4, 4, 1, nodes=15)
    assert err.value.field == "routers_per_group"


def test_uneven_nodes_leave_no_router_empty() -> None:
    net = dragonfly(3, 2, 2, nodes=10)
    held = Counter(max(u, v) for u, v, _ in edges_of(net, "nic"))  # ("router", r) > ("gpu", g)
    assert len(held) == 6 and set(held.values()) <= {2 * 1, 2 * 2}
