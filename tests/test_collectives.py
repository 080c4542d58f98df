"""simulator/network/collectives.py (alpha-beta costs, NCCL-tests bus bandwidth) and fabric.py (which link a
group gets); formulas from shared/notes/models.md section 4 (Thakur, Rabenseifner & Gropp 2005)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.network.collectives import (
    Link,
    all_reduce_bus_bandwidth,
    point_to_point_s,
    ring_all_reduce_s,
    ring_reduce_scatter_s,
)
from simulator.network.fabric import Fabric

LINK = Link(bandwidth_bytes_per_s=100e9, latency_s=5e-6)


# --- alpha-beta costs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "ranks", "expected"),
    [
        # 2*7*5us + 2*7/8 * 1 GB / 100 GB/s = 70 us + 17.5 ms
        (1e9, 8, 70e-6 + 17.5e-3),
        # 2*1*5us + 2*1/2 * 1 GB / 100 GB/s = 10 us + 10 ms
        (1e9, 2, 10e-6 + 10e-3),
        # 2*63*5us + 2*63/64 * 256 MB / 100 GB/s = 630 us + 5.04 ms
        (256e6, 64, 630e-6 + 5.04e-3),
        # latency-bound: 4 ranks, 8 bytes
        (8.0, 4, 6 * 5e-6 + 1.5 * 8 / 100e9),
    ],
)
def test_ring_all_reduce_hand_computed(size: float, ranks: int, expected: float) -> None:
    assert ring_all_reduce_s(size, ranks, LINK) == pytest.approx(expected, rel=1e-12)


def test_reduce_scatter_hand_computed() -> None:
    # 7*5us + 7/8 * 1 GB / 100 GB/s = 35 us + 8.75 ms
    assert ring_reduce_scatter_s(1e9, 8, LINK) == pytest.approx(35e-6 + 8.75e-3, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    size=st.floats(1.0, 1e12),
    ranks=st.integers(2, 4096),
    bandwidth=st.floats(1e6, 1e13),
    latency=st.floats(0.0, 1e-3),
)
def test_reduce_scatter_is_half_an_all_reduce(size: float, ranks: int, bandwidth: float, latency: float) -> None:
    link = Link(bandwidth, latency)
    full = ring_all_reduce_s(size, ranks, link)
    assert ring_reduce_scatter_s(size, ranks, link) == pytest.approx(full / 2, rel=1e-12)
    expected = 2 * (ranks - 1) * latency + 2 * (ranks - 1) / ranks * size / bandwidth
    assert full == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("fn", [ring_all_reduce_s, ring_reduce_scatter_s])
def test_one_rank_or_empty_message_costs_nothing(fn: object) -> None:
    assert fn(1e9, 1, LINK) == 0.0  # type: ignore[operator]
    assert fn(0.0, 8, LINK) == 0.0  # type: ignore[operator]


def test_point_to_point() -> None:
    assert point_to_point_s(1e9, LINK) == pytest.approx(5e-6 + 10e-3, rel=1e-12)
    assert point_to_point_s(0.0, LINK) == 0.0


@settings(max_examples=100, deadline=None)
@given(size=st.floats(1.0, 1e12), ranks=st.integers(2, 4096), bandwidth=st.floats(1e6, 1e13))
def test_bus_bandwidth_of_bandwidth_only_all_reduce_is_the_link_bandwidth(
    size: float, ranks: int, bandwidth: float
) -> None:
    # NCCL-tests convention: busbw = (S/t) * 2(p-1)/p recovers the per-rank link bandwidth.
    t = ring_all_reduce_s(size, ranks, Link(bandwidth, 0.0))
    assert all_reduce_bus_bandwidth(size, ranks, t) == pytest.approx(bandwidth, rel=1e-12)


def test_latency_lowers_bus_bandwidth() -> None:
    t = ring_all_reduce_s(1e6, 8, LINK)
    assert all_reduce_bus_bandwidth(1e6, 8, t) < LINK.bandwidth_bytes_per_s


# --- fabric ---------------------------------------------------------------------------------------------

NVLINK = Link(bandwidth_bytes_per_s=300e9, latency_s=1e-6)
NIC = Link(bandwidth_bytes_per_s=25e9, latency_s=5e-6)


def fabric(oversubscription: float = 1.0, nic: Link = NIC, gpus_per_node: int = 8) -> Fabric:
    return Fabric(nodes=64, gpus_per_node=gpus_per_node, scale_up=NVLINK, scale_out=nic,
                  oversubscription=oversubscription)


@pytest.mark.parametrize(("size", "stride"), [(8, 1), (4, 1), (2, 4), (4, 2), (2, 1)])
def test_group_inside_a_node_gets_scale_up(size: int, stride: int) -> None:
    assert fabric(oversubscription=4.0).group_link(size, stride) == NVLINK


@pytest.mark.parametrize(("size", "stride"), [(2, 8), (64, 8), (16, 16), (4, 64)])
@pytest.mark.parametrize("oversubscription", [1.0, 2.0, 3.5])
def test_one_member_per_node_gets_nic_over_oversubscription(size: int, stride: int, oversubscription: float) -> None:
    link = fabric(oversubscription).group_link(size, stride)
    assert link.bandwidth_bytes_per_s == pytest.approx(25e9 / oversubscription, rel=1e-12)
    assert link.latency_s == NIC.latency_s


@pytest.mark.parametrize(
    ("size", "stride", "k"),
    [(16, 1, 8), (64, 1, 8), (8, 2, 4), (32, 2, 4), (4, 4, 2), (16, 4, 2)],
)
@pytest.mark.parametrize("nic_bw", [25e9, 50e9, 100e9])
@pytest.mark.parametrize("oversubscription", [1.0, 2.0])
def test_k_members_per_node(size: int, stride: int, k: int, nic_bw: float, oversubscription: float) -> None:
    link = fabric(oversubscription, Link(nic_bw, 5e-6)).group_link(size, stride)
    assert link.bandwidth_bytes_per_s == pytest.approx(min(300e9, k * nic_bw / oversubscription), rel=1e-12)
    assert link.latency_s == 5e-6


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 512),
    stride=st.sampled_from([1, 2, 4, 8, 16, 32]),
    gpus_per_node=st.sampled_from([1, 2, 4, 8, 16, 72]),
    over=st.floats(1.0, 16.0),
    extra=st.floats(0.0, 16.0),
)
def test_more_oversubscription_never_increases_bandwidth(
    size: int, stride: int, gpus_per_node: int, over: float, extra: float
) -> None:
    less = fabric(over, gpus_per_node=gpus_per_node).group_link(size, stride)
    more = fabric(over + extra, gpus_per_node=gpus_per_node).group_link(size, stride)
    assert more.bandwidth_bytes_per_s <= less.bandwidth_bytes_per_s
    # and no group ever gets more than its scale-up link
    assert less.bandwidth_bytes_per_s <= NVLINK.bandwidth_bytes_per_s
