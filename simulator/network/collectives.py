"""Alpha-beta cost of collectives (Thakur, Rabenseifner & Gropp 2005) and NCCL-tests bus bandwidth.

Pure functions of message size, rank count and the (bandwidth, latency) a collective gets; which link a
group gets is the fabric's business (simulator/network/fabric.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Link:
    """Bandwidth one rank of a collective can drive (bytes/s, one direction) and per-step latency (s)."""

    bandwidth_bytes_per_s: float
    latency_s: float


def ring_all_reduce_s(size_bytes: float, ranks: int, link: Link) -> float:
    """Ring all-reduce: reduce-scatter then all-gather, 2(p-1) steps of size/p each."""
    if ranks <= 1 or size_bytes <= 0:
        return 0.0
    steps = 2 * (ranks - 1)
    return steps * link.latency_s + steps / ranks * size_bytes / link.bandwidth_bytes_per_s


def ring_reduce_scatter_s(size_bytes: float, ranks: int, link: Link) -> float:
    """Ring reduce-scatter (also the cost of a ring all-gather): p-1 steps of size/p each."""
    if ranks <= 1 or size_bytes <= 0:
        return 0.0
    steps = ranks - 1
    return steps * link.latency_s + steps / ranks * size_bytes / link.bandwidth_bytes_per_s


def point_to_point_s(size_bytes: float, link: Link) -> float:
    """One send of `size_bytes` between two ranks."""
    if size_bytes <= 0:
        return 0.0
    return link.latency_s + size_bytes / link.bandwidth_bytes_per_s


def all_reduce_bus_bandwidth(size_bytes: float, ranks: int, time_s: float) -> float:
    """NCCL-tests bus bandwidth of an all-reduce: (size / time) * 2(p-1)/p, bytes/s."""
    return size_bytes / time_s * 2 * (ranks - 1) / ranks
