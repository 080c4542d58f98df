"""Torus and OCS-torus builders: graph structure, routes that are real shortest walks of the graph, phase
costs against hand arithmetic, failures and parameter errors."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import networkx as nx
import numpy as np
import pytest

from simulator.models.topology.network import Network, Partitioned
from simulator.models.topology.shape import ClusterShape, TopologyError
from simulator.models.topology.specs import OcsTorusTopology, TorusTopology
from simulator.models.topology.torus import build_ocs_torus, build_torus

SCALE_UP = 600e9  # bytes/s per chip, one direction: 100 GB/s per link on a 3D torus


def shape(chips: int, per_node: int = 4) -> ClusterShape:
    return ClusterShape(nodes=chips // per_node, gpus_per_node=per_node, scale_up_bandwidth_bytes_per_s=SCALE_UP,
                        nic_bandwidth_bytes_per_s=50e9, in_switch_reduction=False)


def torus(dims: tuple[int, ...], twisted: bool = False, **extra: object) -> Network:
    spec = TorusTopology.model_validate({"kind": "torus", "dims": dims, "twisted": twisted, **extra})
    return build_torus(spec, shape(math.prod(dims), per_node=dims[0]))


def ocs(chips: int, **fields: object) -> Network:
    return build_ocs_torus(OcsTorusTopology.model_validate({"kind": "ocs_torus", **fields}), shape(chips))


def all_pairs(chips: int) -> tuple[np.ndarray, np.ndarray]:
    src, dst = np.divmod(np.arange(chips * chips, dtype=np.int64), chips)
    keep = src != dst
    return src[keep], dst[keep]


def walks(net: Network, src: np.ndarray, dst: np.ndarray) -> list[list[int]]:
    """Follow every flow's channels through the graph: each channel must leave the current chip (its name
    says which) over an edge that carries it; returns the chips visited, checking the walk ends at dst."""
    edges_of: dict[int, list[tuple[object, object]]] = {}
    for u, v, data in net.graph.edges(data=True):
        for channel in data["channels"]:
            edges_of.setdefault(channel, []).append((u, v))
    routes = net.router.routes(src, dst)
    assert np.all(routes.weight == 1)
    order = np.argsort(routes.flow, kind="stable")
    per_flow = np.split(routes.channel[order], np.cumsum(np.bincount(routes.flow, minlength=src.size))[:-1])
    paths = []
    for s, d, channels in zip(src.tolist(), dst.tolist(), per_flow, strict=True):
        here: object = ("gpu", s)
        path = [s]
        for channel in channels.tolist():
            name = net.channel_names[channel]
            assert name.endswith(f"chip[{path[-1]}]"), (s, d, name)
            hops = {v if u == here else u for u, v in edges_of[channel] if here in (u, v)}
            assert len(hops) == 1, (s, d, name, hops)
            here = hops.pop()
            while here[0] == "ocs":  # through the switch: the other edge carrying this channel
                switch, came_from = here, ("gpu", path[-1])
                onward = {v if u == switch else u for u, v in edges_of[channel] if switch in (u, v)} - {came_from}
                assert len(onward) == 1
                here = onward.pop()
            assert isinstance(here, tuple) and here[0] == "gpu"
            path.append(int(here[1]))
        assert path[-1] == d, (s, d, path)
        path_edges = list(itertools.pairwise(path))
        assert len(set(path_edges)) == len(path_edges)
        paths.append(path)
    return paths


def in_slice(node: tuple[object, ...], chips: int = 256) -> bool:
    return node[0] == "ocs" or (node[0] == "gpu" and isinstance(node[1], int) and node[1] < chips)


def edges_with(graph: nx.Graph, *keys: str) -> list[tuple[object, ...]]:
    return [(u, v, *(data[k] for k in keys)) for u, v, data in graph.edges(data=True)]


def torus_links(net: Network) -> int:
    return sum(1 for *_, kind in net.graph.edges(data="kind") if kind == "ici")


@pytest.mark.parametrize(("dims", "links"), [
    ((3, 4, 5), 3 * 60),
    ((4, 4, 4), 3 * 64),
    ((8, 8), 2 * 64),
    ((2, 4, 4), 32 / 2 + 2 * 32),  # the two chips of a dimension of 2 share one link, not two
    ((2, 2, 2), 3 * 4),
    ((2, 2), 2 * 2),
])
def test_link_counts(dims: tuple[int, ...], links: int) -> None:
    net = torus(dims)
    assert net.graph.number_of_nodes() == math.prod(dims)
    assert torus_links(net) == links
    assert all(data["count"] == 1 and data["bandwidth"] == SCALE_UP / (2 * len(dims))
               for *_, data in net.graph.edges(data=True))
    # one channel per link and direction, no channel shared between links
    channels = [c for *_, cs in net.graph.edges(data="channels") for c in cs]
    assert len(channels) == len(set(channels)) == 2 * links == len(net.channel_names)
    assert net.notes["dims"] == dims and net.notes["twisted"] is False


def test_twisted_links_and_degree() -> None:
    net = torus((4, 4, 8), twisted=True)
    assert torus_links(net) == 3 * 128
    assert {deg for _, deg in net.graph.degree()} == {6}
    # the z wraparound of chip (x, y, 7) lands on ((x + 2) % 4, y, 0)
    for x in range(4):
        assert net.graph.has_edge(("gpu", x + 4 * (3 + 4 * 7)), ("gpu", (x + 2) % 4 + 4 * 3))
        assert not net.graph.has_edge(("gpu", x + 4 * 4 * 7), ("gpu", x))
    assert net.notes["twist"] == "z wraparound shifts x by 2"


@pytest.mark.parametrize("net", [
    torus((4, 4, 4)), torus((2, 3, 4)), torus((4, 4, 8), twisted=True), torus((2, 2, 2), twisted=True),
    ocs(64 * 4, slice=(4, 4, 8), spare_cubes=1, twisted=True), ocs(8 * 3, cube=(2, 2, 2)),
], ids=["4x4x4", "2x3x4", "twisted 4x4x8", "twisted 2x2x2", "ocs twisted 4x4x8", "ocs 2x2x2 cubes"])
def test_edge_channels_follow_sorted_endpoints(net: Network) -> None:
    # network.py's convention: channels = (u->v, v->u) for u < v; every edge has a chip as its smaller end,
    # and a channel's name says which chip it leaves
    for u, v, channels in edges_with(net.graph, "channels"):
        first, second = sorted((u, v))
        assert first[0] == "gpu"
        assert net.channel_names[channels[0]].endswith(f"chip[{first[1]}]")
        if second[0] == "gpu":
            assert net.channel_names[channels[1]].endswith(f"chip[{second[1]}]")


@pytest.mark.parametrize("dims", [(4, 4, 4), (3, 5, 4), (6, 4), (2, 4, 3)])
def test_diameter_untwisted(dims: tuple[int, ...]) -> None:
    assert nx.diameter(torus(dims).graph) == sum(k // 2 for k in dims)


def test_twist_shrinks_the_diameter() -> None:
    plain, twisted = torus((4, 4, 8)), torus((4, 4, 8), twisted=True)
    assert nx.diameter(plain.graph) == 8
    assert nx.diameter(twisted.graph) < 8


@pytest.mark.parametrize(("dims", "twisted"), [
    ((4, 4, 4), False), ((3, 4, 5), False), ((2, 3, 4), False), ((5, 6), False),
    ((4, 4, 8), True), ((4, 8, 8), True), ((3, 3, 6), True), ((4, 8), True), ((2, 2, 2), True), ((5, 3, 4), True),
])
def test_routes_are_shortest_walks(dims: tuple[int, ...], twisted: bool) -> None:
    net = torus(dims, twisted)
    src, dst = all_pairs(net.gpus)
    paths = walks(net, src, dst)
    distance = dict(nx.all_pairs_shortest_path_length(net.graph))
    lengths = np.array([len(p) - 1 for p in paths])
    shortest = np.array([distance[("gpu", int(s))][("gpu", int(d))] for s, d in zip(src, dst, strict=True)])
    # dimension-order routing with the twist rule is minimal: a second wraparound crossing never pays
    np.testing.assert_array_equal(lengths, shortest)
    # latency is one hop per channel crossed
    hop = 2e-6
    assert net.phase(src, dst, 1.0).latency_s == pytest.approx(hop * lengths.max())


def test_twisted_routes_are_shorter_on_average() -> None:
    src, dst = all_pairs(128)
    plain = np.bincount(torus((4, 4, 8)).router.routes(src, dst).flow)
    twisted = np.bincount(torus((4, 4, 8), twisted=True).router.routes(src, dst).flow)
    assert twisted.max() < plain.max()
    assert twisted.mean() < plain.mean()


@pytest.mark.parametrize(("dims", "twisted"), [((4, 4, 4), False), ((4, 3, 2), False), ((4, 4, 8), True)])
def test_ring_along_x_costs_one_hop(dims: tuple[int, ...], twisted: bool) -> None:
    net = torus(dims, twisted, scale_up_latency="3 us", scale_up_efficiency=0.5)
    src = np.arange(net.gpus, dtype=np.int64)
    dst = (src + 1) % dims[0] + src // dims[0] * dims[0]
    phase = net.phase(src, dst, 1e6)
    link = SCALE_UP / (2 * len(dims)) * 0.5
    assert phase.latency_s == pytest.approx(3e-6)
    assert phase.transfer_s == pytest.approx(1e6 / link)
    assert phase.time_s == pytest.approx(1e6 / link + 3e-6)
    assert phase.bottleneck.startswith("ici x+ chip[")


def test_link_bandwidth_override_and_shared_links() -> None:
    net = torus((4, 4), link_bandwidth="10 GB/s", scale_up_efficiency=1.0)
    # 0 -> 2 goes 0 -> 1 -> 2 (tie at half the ring: positive), 1 -> 2 shares the 1 -> 2 link
    phase = net.phase(np.array([0, 1]), np.array([2, 2]), 1e9)
    assert phase.transfer_s == pytest.approx(2 * 1e9 / 10e9)
    assert phase.bottleneck == "ici x+ chip[1]"
    assert phase.latency_s == pytest.approx(2 * 2e-6)


def test_failed_link_partitions() -> None:
    net = torus((4, 4, 4))
    net.fail_link(("gpu", 0), ("gpu", 1))
    # Dimension-order routing has one path per flow and does not route around a failure, so any flow over
    # the dead link partitions the job even though the torus still has other paths.
    with pytest.raises(Partitioned, match=r"ici x\+ chip\[0\]"):
        net.phase(np.array([0]), np.array([2]), 1.0)
    with pytest.raises(Partitioned, match=r"ici x- chip\[1\]"):
        net.phase(np.array([1]), np.array([0]), 1.0)
    assert nx.has_path(net.graph, ("gpu", 0), ("gpu", 1))
    assert net.phase(np.array([2]), np.array([3]), 1.0).time_s > 0
    net.repair_link(("gpu", 0), ("gpu", 1))
    assert net.phase(np.array([0]), np.array([2]), 1.0).time_s > 0


def test_wrong_dims_product() -> None:
    spec = TorusTopology.model_validate({"kind": "torus", "dims": [16, 16, 16]})
    with pytest.raises(TopologyError, match=r"16 x 16 x 16 = 4,096 chips but the cluster has 2,048") as err:
        build_torus(spec, shape(2048))
    assert err.value.field == "dims"


@pytest.mark.parametrize(("chips", "fields", "field", "match"), [
    (200, {}, "cube", "do not split into cubes"),
    (256, {"slice": (4, 6, 8)}, "slice", "not made of whole"),
    (256, {"slice": (4, 8, 12)}, "slice", "needs 6 cubes but only 4"),
    (256, {"slice": (8, 8, 4), "spare_cubes": 1}, "slice", "needs 4 cubes but only 3"),
    (128, {"spare_cubes": 2}, "spare_cubes", "leave none"),
])
def test_ocs_errors(chips: int, fields: dict[str, object], field: str, match: str) -> None:
    with pytest.raises(TopologyError, match=match) as err:
        ocs(chips, **fields)
    assert err.value.field == field


def test_ocs_graph() -> None:
    net = ocs(64 * 6, slice=(4, 8, 8), spare_cubes=1)
    graph = net.graph
    switches = [n for n, role in graph.nodes(data="role") if role == "ocs"]
    assert len(switches) == 48 == net.notes["ocs_switches"]
    assert net.gpus == 256 and net.unit_gpus == 64
    assert net.notes["cubes"] == 6 and net.notes["spare_cubes"] == 1 and net.notes["idle_cubes"] == 1
    assert net.notes["slice"] == (4, 8, 8) and net.notes["reconfiguration_delay_s"] == 10.0
    spare = [n for n, s in graph.nodes(data="spare") if s]
    assert spare == [("gpu", c) for c in range(320, 384)]
    # slice links: 3 x 256; inside a cube 3 x 4 x 4 x 3 per cube (direct), the rest through one OCS each
    inside = 4 * 3 * 48
    kinds = [k for u, v, k in graph.edges(data="kind") if in_slice(u) and in_slice(v)]
    assert kinds.count("ici") == inside
    assert kinds.count("ocs") == 2 * (3 * 256 - inside)
    for switch in switches:  # each OCS: one + and one - face port for each of the 4 slice cubes
        assert graph.degree(switch) == 8
    # an OCS edge joins a slice chip to a switch, and the two halves of a crossing carry the same channels
    ocs_edges = [(u, v, cs) for u, v, kind, cs in edges_with(graph, "kind", "channels") if kind == "ocs"]
    assert all({u[0], v[0]} == {"gpu", "ocs"} and in_slice(u) and in_slice(v) for u, v, _ in ocs_edges)
    assert set(Counter(tuple(sorted(cs)) for *_, cs in ocs_edges).values()) == {2}
    # a chip of a cube on the + z face of its cube reaches the next cube through OCS (z, its x-y position)
    chip = 1 + 4 * (2 + 8 * 3)  # (1, 2, 3): + z face of cube 0, position 1 + 4 * 2
    assert graph.has_edge(("gpu", chip), ("ocs", 2, 9))
    assert graph.has_edge(("ocs", 2, 9), ("gpu", chip + 4 * 8))
    assert not graph.has_edge(("gpu", chip), ("gpu", chip + 4 * 8))
    assert graph.edges[("gpu", chip), ("gpu", chip - 4 * 8)]["kind"] == "ici"
    # idle and spare cubes keep their in-cube mesh, nothing else
    assert all(graph.degree(("gpu", c)) in (3, 4, 5, 6) for c in range(256, 384))
    assert graph.degree(("gpu", 256)) == 3
    assert not any(graph.has_edge(("gpu", c), switch) for c in range(256, 384) for switch in switches)


@pytest.mark.parametrize("twisted", [False, True])
def test_ocs_slice_routes_like_a_torus(twisted: bool) -> None:
    net = ocs(64 * 5, slice=(4, 4, 16), spare_cubes=1, twisted=twisted)
    plain = torus((4, 4, 16), twisted)
    rng = np.random.default_rng(7)
    src, dst = rng.integers(0, 256, 3000), rng.integers(0, 256, 3000)
    for a, b in [(src, dst), (np.arange(256), (np.arange(256) + 16) % 256), all_pairs(256)]:
        ours, theirs = net.phase(a, b, 1e6), plain.phase(a, b, 1e6)
        assert ours.time_s == pytest.approx(theirs.time_s)
        assert ours.bottleneck == theirs.bottleneck
    assert net.notes["twisted"] is twisted
    # and the routes are real walks through the OCS graph
    pairs = all_pairs(256)
    walks(net, pairs[0][::37], pairs[1][::37])


def test_ocs_default_slice_stacks_cubes_along_z() -> None:
    net = ocs(64 * 3)
    assert net.notes["slice"] == (4, 4, 12) and net.gpus == 192
    assert net.phase(np.array([0]), np.array([16 * 6]), 1.0).latency_s == pytest.approx(6 * 2e-6)
    assert net.phase(np.array([0]), np.array([16 * 11]), 1.0).latency_s == pytest.approx(2e-6)  # wraparound


def test_an_optical_circuit_fails_once_whichever_half_goes_down() -> None:
    net = build_ocs_torus(OcsTorusTopology(kind="ocs_torus"), ClusterShape(32, 4, 600e9, 50e9, False))
    gpu, switch = next((u, v) for u, v, d in net.graph.edges(data=True) if d["kind"] == "ocs")
    channels = net.graph.edges[gpu, switch]["channels"]
    before = net.raw_bandwidth[list(channels)].copy()
    other = next(n for n in net.graph.neighbors(switch)
                 if n != gpu and net.graph.edges[switch, n].get("link") == net.graph.edges[gpu, switch]["link"])
    net.fail_link(gpu, switch)
    net.fail_link(switch, other)
    assert np.all(net.raw_bandwidth[list(channels)] == 0)
    net.repair_link(gpu, switch)
    assert np.all(net.raw_bandwidth[list(channels)] == 0)  # the other half is still down
    net.repair_link(switch, other)
    assert np.array_equal(net.raw_bandwidth[list(channels)], before)
