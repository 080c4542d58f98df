"""Collectives on the network graph (simulator/models/topology/collectives.py): exact alpha-beta on uniform links,
invariants, sharing, failures, and the measured bus bandwidths of the shared reference's collectives.yaml
(tests/data/reference) and Vidur's DGX measurements (tests/data/vidur-profiles)."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.models.topology.collectives import Algorithm, Op, collective_time
from simulator.models.topology.fat_tree import build_switched
from simulator.models.topology.network import Network, Partitioned
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import FatTreeTopology, SingleSwitchTopology
from tests.conftest import data_file

GIB = 2.0**30
A100_NVLINK, H100_NVLINK = 300e9, 450e9
HDR, NDR = 25e9, 50e9


def switch(nodes: int, gpus_per_node: int = 1, nic: float = HDR, nvlink: float = A100_NVLINK,
           in_switch: bool = False, **spec: object) -> Network:
    return build_switched(SingleSwitchTopology(kind="single_switch", **spec),  # type: ignore[arg-type]
                          ClusterShape(nodes, gpus_per_node, nvlink, nic, in_switch))


def fat_tree(nodes: int, nic: float = NDR, **spec: object) -> Network:
    return build_switched(FatTreeTopology(kind="fat_tree", **spec),  # type: ignore[arg-type]
                          ClusterShape(nodes, 8, H100_NVLINK, nic, True))


def group(*gpus: int) -> np.ndarray:
    return np.array([gpus], dtype=np.int64)


# --- alpha-beta exactness (models.md section 4) -------------------------------------------------------------


@pytest.mark.parametrize("ranks", [2, 3, 8, 33])
@pytest.mark.parametrize("size", [1.0, 2.0**20, GIB])
def test_ring_all_reduce_is_alpha_beta_across_one_switch(ranks: int, size: float) -> None:
    net = switch(ranks)  # one GPU per node: every hop is NIC - switch - NIC
    alpha, beta = 10e-6, HDR * 0.95
    t = collective_time(net, Op.ALL_REDUCE, group(*range(ranks)), size, Algorithm.RING).time_s
    assert t == pytest.approx(2 * (ranks - 1) * alpha + 2 * (ranks - 1) / ranks * size / beta, rel=1e-12)
    for op in (Op.REDUCE_SCATTER, Op.ALL_GATHER):
        half = collective_time(net, op, group(*range(ranks)), size, Algorithm.RING).time_s
        assert half == pytest.approx((ranks - 1) * alpha + (ranks - 1) / ranks * size / beta, rel=1e-12)


def test_ring_inside_a_node_uses_nvlink_figures() -> None:
    net = switch(1, gpus_per_node=8)
    t = collective_time(net, Op.ALL_REDUCE, group(*range(8)), GIB, Algorithm.RING).time_s
    assert t == pytest.approx(14 * 2e-6 + 14 / 8 * GIB / (A100_NVLINK * 0.8), rel=1e-12)


def test_large_ring_bus_bandwidth_is_the_link_bandwidth() -> None:
    timed = collective_time(switch(16), Op.ALL_REDUCE, group(*range(16)), 64 * GIB, Algorithm.RING)
    assert timed.bus_bandwidth_bytes_per_s == pytest.approx(HDR * 0.95, rel=1e-4)


def test_one_rank_or_no_bytes_cost_nothing() -> None:
    net = switch(4)
    assert collective_time(net, Op.ALL_REDUCE, group(0), GIB).time_s == 0
    assert collective_time(net, Op.ALL_REDUCE, group(0, 1), 0).time_s == 0


# --- invariants -----------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(nic=st.floats(1e9, 1e11), faster=st.floats(1.0, 8.0), ranks=st.integers(2, 32),
       op=st.sampled_from(list(Op)))
def test_more_bandwidth_never_slows_a_collective(nic: float, faster: float, ranks: int, op: Op) -> None:
    members = group(*range(ranks))
    slow = collective_time(switch(ranks, nic=nic), op, members, 2.0**24).time_s
    quick = collective_time(switch(ranks, nic=nic * faster), op, members, 2.0**24).time_s
    assert quick <= slow * (1 + 1e-12)


@pytest.mark.parametrize("algorithm", [Algorithm.RING, Algorithm.TREE])
def test_a_bigger_group_never_speeds_an_all_reduce(algorithm: Algorithm) -> None:
    net = fat_tree(16)
    times = [collective_time(net, Op.ALL_REDUCE, group(*range(0, 8 * p, 8)), 2.0**26, algorithm).time_s
             for p in range(2, 17)]
    assert all(b >= a * (1 - 1e-12) for a, b in itertools.pairwise(times))


def test_auto_picks_the_fastest_algorithm() -> None:
    net = fat_tree(8)
    members = group(*range(64))
    auto = collective_time(net, Op.ALL_REDUCE, members, 2.0**26)
    for algorithm in (Algorithm.RING, Algorithm.TREE, Algorithm.HIERARCHICAL):
        assert auto.time_s <= collective_time(net, Op.ALL_REDUCE, members, 2.0**26, algorithm).time_s


def test_tree_beats_ring_on_latency_and_loses_on_bandwidth() -> None:
    net = switch(16)
    members = group(*range(16))
    algorithms = (Algorithm.RING, Algorithm.TREE)
    small = [collective_time(net, Op.ALL_REDUCE, members, 2.0**10, a).time_s for a in algorithms]
    large = [collective_time(net, Op.ALL_REDUCE, members, GIB, a).time_s for a in algorithms]
    assert small[1] < small[0] and large[0] < large[1]


# --- sharing, oversubscription, rails, failures ------------------------------------------------------------------


def test_oversubscribed_spines_slow_traffic_between_leaves_only() -> None:
    full, thin = fat_tree(16, radix=64), fat_tree(16, radix=64, oversubscription=4)
    across = np.arange(128, dtype=np.int64)[None, :]  # 128 GPUs span 4 leaves of 32 (radix 64, 1:1) / 2+ at 4:1
    t_full = collective_time(full, Op.ALL_TO_ALL, across, GIB).time_s
    t_thin = collective_time(thin, Op.ALL_TO_ALL, across, GIB).time_s
    assert t_thin > 2 * t_full
    one_leaf = group(*range(0, 32, 8))  # 4 GPUs, one per node, under the first leaf in both
    assert collective_time(thin, Op.ALL_REDUCE, one_leaf, GIB).time_s == pytest.approx(
        collective_time(full, Op.ALL_REDUCE, one_leaf, GIB).time_s, rel=1e-12)


def test_concurrent_groups_share_the_links_they_cross() -> None:
    net = fat_tree(16, radix=64, oversubscription=4)  # leaves of 51 GPU ports and 13 up-links
    pairs = np.stack([np.arange(51), np.arange(51, 102)], axis=1)  # 51 groups, each across leaves 0 and 1
    alone = collective_time(net, Op.ALL_REDUCE, pairs[:1], GIB, Algorithm.RING)
    together = collective_time(net, Op.ALL_REDUCE, pairs, GIB, Algorithm.RING)
    assert alone.bottleneck.startswith("nic")
    assert together.bottleneck.startswith("leaf")
    assert together.time_s == pytest.approx(alone.time_s * 51 / 13, rel=0.01)


def test_rail_optimized_keeps_same_rail_traffic_on_one_leaf() -> None:
    rail = fat_tree(64, radix=64, rail_optimized=True, oversubscription=4)
    plain = fat_tree(64, radix=64, oversubscription=4)
    rails = np.arange(512, dtype=np.int64).reshape(64, 8).T[:, :32]  # 8 rails of one 32-node scalable unit
    t_rail = collective_time(rail, Op.ALL_TO_ALL, rails, GIB)
    t_plain = collective_time(plain, Op.ALL_TO_ALL, rails, GIB)
    assert t_rail.bottleneck.startswith("nic") and t_plain.bottleneck.startswith("leaf")
    assert t_rail.time_s < t_plain.time_s / 2


def test_a_failed_uplink_is_routed_around_and_a_cut_leaf_partitions() -> None:
    net = fat_tree(16, radix=16)  # leaves of 8 GPU ports and 8 up-links
    pairs = np.stack([np.arange(8), np.arange(64, 72)], axis=1)  # every GPU of leaf 0 with one of leaf 8

    def cost() -> float:
        return collective_time(net, Op.ALL_REDUCE, pairs, GIB, Algorithm.RING).time_s

    healthy = cost()
    uplinks = [(u, v) for u, v, d in net.graph.edges(("leaf", 0), data=True) if d["kind"] == "leaf_spine"]
    assert len(uplinks) == 8
    net.fail_link(*uplinks[0])
    assert cost() == pytest.approx(healthy * 8 / 7, rel=0.01)  # 7 up-links carry what 8 did
    for edge in uplinks[1:]:
        net.fail_link(*edge)
    with pytest.raises(Partitioned):
        cost()
    for edge in uplinks:
        net.repair_link(*edge)
    assert cost() == pytest.approx(healthy, rel=1e-12)


# --- measured bus bandwidth (tests/data: reference/collectives.yaml, Vidur DGX measurements) ------------------


def _published(case_id: str) -> float:
    cases = yaml.safe_load(data_file("reference", "collectives.yaml").read_text())["cases"]
    return float(next(c["busbw_gbps"] for c in cases if c["id"] == case_id)) * 1e9


@pytest.mark.parametrize(("case", "nvlink", "in_switch", "algorithm"), [
    ("h100-8gpu-allreduce-nvls", H100_NVLINK, True, Algorithm.AUTO),
    ("h100-8gpu-ring", H100_NVLINK, True, Algorithm.RING),
    ("a100-8gpu-allreduce", A100_NVLINK, False, Algorithm.AUTO),
])
def test_single_node_bus_bandwidth_within_10_percent(case: str, nvlink: float, in_switch: bool,
                                                     algorithm: Algorithm) -> None:
    net = switch(1, gpus_per_node=8, nvlink=nvlink, in_switch=in_switch)
    got = collective_time(net, Op.ALL_REDUCE, group(*range(8)), 8 * GIB, algorithm).bus_bandwidth_bytes_per_s
    assert got == pytest.approx(_published(case), rel=0.10)


def test_multi_node_a100_ring_bus_bandwidth_within_10_percent() -> None:
    net = build_switched(FatTreeTopology(kind="fat_tree", radix=64),
                         ClusterShape(32, 8, A100_NVLINK, HDR, False))
    got = collective_time(net, Op.ALL_REDUCE, group(*range(256)), 8 * GIB).bus_bandwidth_bytes_per_s
    assert got == pytest.approx(_published("dgx-a100-multinode"), rel=0.10)


def test_vidur_h100_eight_gpu_large_messages_within_10_percent() -> None:
    path = data_file("vidur-profiles", "network", "h100_dgx", "all_reduce.csv")
    rows = [r for r in csv.DictReader(path.open()) if r["num_workers"] == "8" and int(r["size"]) >= 2**25]
    assert rows
    net = switch(1, gpus_per_node=8, nvlink=H100_NVLINK, in_switch=True)
    for row in rows:
        size = float(row["size"])
        measured = size / (float(row["time_stats.all_reduce.median"]) * 1e-3) * 2 * 7 / 8
        got = collective_time(net, Op.ALL_REDUCE, group(*range(8)), size, Algorithm.RING).bus_bandwidth_bytes_per_s
        assert got == pytest.approx(measured, rel=0.10), row["size"]


def _vidur_errors(box: str, nvlink: float, in_switch: bool) -> list[float]:
    """|predicted / measured - 1| of every single-node all-reduce Vidur measured on `box`, 2 KiB-64 MiB."""
    from simulator.models.topology.build import build_network

    path = data_file("vidur-profiles", "network", box, "all_reduce.csv")
    errors = []
    nets: dict[int, Network] = {}
    for row in csv.DictReader(path.open()):
        ranks = int(row["num_workers"])
        if row["devices_per_node"] != row["num_workers"]:
            continue
        net = nets.setdefault(ranks, build_network(SingleSwitchTopology(kind="single_switch"),
                                                   ClusterShape(1, ranks, nvlink, NDR, in_switch)))
        predicted = collective_time(net, Op.ALL_REDUCE, group(*range(ranks)), float(row["size"])).time_s
        errors.append(abs(predicted / (float(row["time_stats.all_reduce.median"]) * 1e-3) - 1))
    assert len(errors) > 2000
    return errors


def test_vidur_h100_all_reduce_times_at_every_size_within_15_percent_median() -> None:
    """With the per-call overhead: every 2-8 GPU all-reduce Vidur measured on one H100 node, 2 KiB-64 MiB."""
    assert float(np.median(_vidur_errors("h100_dgx", H100_NVLINK, True))) <= 0.15


def test_vidur_a100_box_is_slower_than_nccl_tests_but_the_model_fits_it_once_its_bandwidth_is_known() -> None:
    """With the published NVLink3 figure the median error is ~26 %: that box reaches 174 GB/s bus bandwidth at
    64 MiB where nccl-tests' DGX A100 plateaus at 230. Its own bandwidth, read off that one row (8 GPUs,
    64 MiB: 675 us), brings the other ~3,000 rows within 15 % median (benchmarks/collectives_validation.py)."""
    assert float(np.median(_vidur_errors("a100_dgx", A100_NVLINK, False))) > 0.2
    path = data_file("vidur-profiles", "network", "a100_dgx", "all_reduce.csv")
    size = 2**26
    (measured_s,) = [float(r["time_stats.all_reduce.median"]) * 1e-3 for r in csv.DictReader(path.open())
                     if r["num_workers"] == r["devices_per_node"] == "8" and int(r["size"]) == size]
    low, high = 50e9, 600e9
    for _ in range(50):  # the NVLink bandwidth at which the model gives that row's time
        middle = (low + high) / 2
        net = switch(1, gpus_per_node=8, nvlink=middle, in_switch=False)
        slow = collective_time(net, Op.ALL_REDUCE, group(*range(8)), size).time_s > measured_s
        low, high = (middle, high) if slow else (low, middle)
    assert low < 0.85 * A100_NVLINK
    assert float(np.median(_vidur_errors("a100_dgx", low, False))) <= 0.15


# --- memoized networks (the planners' reference clusters) ---------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False), st.sampled_from(list(Op)), st.sampled_from([1, 2, 4, 8, 16, 32]),
       st.sampled_from([1.0, 3e5, 2.0**20, GIB]))
def test_a_memoized_network_prices_every_collective_and_phase_as_a_plain_one(
        rng: object, op: Op, ranks: int, size: float) -> None:
    plain, memo = fat_tree(8, radix=64, rail_optimized=True), fat_tree(8, radix=64, rail_optimized=True).memoize()
    gpus = list(range(64))
    rng.shuffle(gpus)  # type: ignore[attr-defined]
    groups = np.array(gpus[: (64 // ranks) * ranks], dtype=np.int64).reshape(-1, ranks)
    for _ in range(2):  # the second round is answered from the memo
        for bytes_ in (size, size / 3):
            assert collective_time(memo, op, groups, bytes_) == collective_time(plain, op, groups, bytes_)
            src, dst = groups.ravel(), np.roll(groups, -1, axis=1).ravel()
            assert memo.phase(src, dst, bytes_) == plain.phase(src, dst, bytes_)


def test_memoized_collectives_are_forgotten_after_a_failure() -> None:
    net = fat_tree(16, radix=64).memoize()
    groups = np.arange(0, 128, 8, dtype=np.int64).reshape(1, -1)
    assert collective_time(net, Op.ALL_REDUCE, groups, GIB).time_s > 0
    nic = next((u, v) for u, v in net.graph.edges if ("gpu", 0) in (u, v) and "leaf" in str(u) + str(v))
    net.fail_link(*nic)
    with pytest.raises(Partitioned):  # not the remembered time
        collective_time(net, Op.ALL_REDUCE, groups, GIB)
