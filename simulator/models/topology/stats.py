"""What `clustersim topology` reports about a network: its parts, bisection bandwidth, diameter, and the bus
bandwidth collectives reach across 8 GPUs, one scalable unit and the whole cluster."""

from __future__ import annotations

from collections import Counter

import networkx as nx
import numpy as np

from simulator.models.topology.collectives import Op, collective_time
from simulator.models.topology.network import NetGraph, Network

SIZES_BYTES = (2**20, 2**26, 2**30)  # 1 MiB, 64 MiB, 1 GiB
OPS = (Op.ALL_REDUCE, Op.ALL_GATHER, Op.ALL_TO_ALL)
BISECTION_PROBE_BYTES = 2.0**30


def part_counts(net: Network) -> dict[str, int]:
    """Graph nodes by role (gpu, leaf, spine, router, ocs, ...)."""
    return dict(sorted(Counter(str(role) for _, role in net.graph.nodes(data="role")).items()))


def link_counts(net: Network) -> dict[str, int]:
    """Physical links by kind, counting parallel links merged into one graph edge."""
    counts: Counter[str] = Counter()
    for _, _, data in net.graph.edges(data=True):
        counts[str(data["kind"])] += int(data.get("count", 1))
    return dict(sorted(counts.items()))


def bisection_bandwidth(net: Network) -> float:
    """Bytes/s crossing between the two halves (GPU ids below and above gpus/2) when every GPU sends to
    its partner in the other half at once: the effective bisection bandwidth under this network's routing."""
    half = net.gpus // 2
    if half == 0:
        return 0.0
    src = np.arange(net.gpus, dtype=np.int64)[: 2 * half]
    dst = (src + half) % (2 * half)
    phase = net.phase(src, dst, BISECTION_PROBE_BYTES)
    return half * BISECTION_PROBE_BYTES / phase.transfer_s


def diameter_hops(net: Network) -> int:
    """Links on the longest shortest path from GPU 0 to any GPU (the diameter of these symmetric networks).
    An optical circuit (chip - OCS - chip) counts as one link: an OCS joins pairs, it does not switch packets."""
    graph = net.graph
    if any(data.get("link") is not None for _, _, data in graph.edges(data=True)):
        logical: NetGraph = nx.Graph()
        for u, v, data in graph.edges(data=True):
            link = data.get("link")
            if link is None:
                logical.add_edge(u, v)
            else:
                logical.add_edge(("gpu", link[1]), ("gpu", link[2]))
        graph = logical
    lengths = nx.single_source_shortest_path_length(graph, ("gpu", 0))
    return max(hops for node, hops in lengths.items() if node[0] == "gpu")


def scopes(net: Network) -> dict[str, int]:
    """Group sizes the bus-bandwidth table covers: 8 GPUs, one scalable unit (or pod, group, cube), all."""
    wanted = {"8 GPUs": 8, "one unit": net.unit_gpus, "cluster": net.gpus}
    seen: dict[str, int] = {}
    for name, size in wanted.items():
        size = min(size, net.gpus)
        if size > 1 and size not in seen.values():
            seen[name] = size
    return seen


def bus_bandwidth_rows(net: Network) -> list[dict[str, object]]:
    """One row per (operation, scope, size): time, bus bandwidth (GB/s), algorithm and bottleneck."""
    rows: list[dict[str, object]] = []
    for op in OPS:
        for scope, size in scopes(net).items():
            group = np.arange(size, dtype=np.int64)[None, :]
            for message in SIZES_BYTES:
                timed = collective_time(net, op, group, message)
                rows.append({
                    "op": op.value, "scope": scope, "gpus": size, "size_bytes": message,
                    "time_s": timed.time_s, "bus_bandwidth_gb_per_s": timed.bus_bandwidth_bytes_per_s / 1e9,
                    "algorithm": timed.algorithm.value, "bottleneck": timed.bottleneck,
                })
    return rows
