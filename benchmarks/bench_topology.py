"""Speed and memory of the network model at scale: build a 100,000-GPU rail-optimized fat tree (3 tiers,
radix 128), cost an all-reduce over every GPU and an all-to-all over 64 nodes. Prints figures; asserts
nothing (target from issue 3: under 10 s and 2 GB on 2 cores)."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.models.topology.collectives import Op, collective_time
from simulator.models.topology.fat_tree import build_switched
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import FatTreeTopology


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    start = time.perf_counter()
    spec = FatTreeTopology(kind="fat_tree", tiers=3, radix=128, rail_optimized=True, nodes_per_su=32)
    net = build_switched(spec, ClusterShape(12_500, 8, 450e9, 50e9, True))
    built = time.perf_counter()
    print(f"build: {net.gpus:,} GPUs, {net.graph.number_of_nodes():,} graph nodes, "
          f"{net.graph.number_of_edges():,} edges, {net.capacity.size:,} channels in {built - start:.2f} s")
    everyone = np.arange(net.gpus, dtype=np.int64)[None, :]
    all_reduce = collective_time(net, Op.ALL_REDUCE, everyone, 2.0**30)
    reduced = time.perf_counter()
    print(f"all-reduce of 1 GiB over {net.gpus:,} GPUs: {all_reduce.time_s * 1e3:.1f} ms simulated, "
          f"{all_reduce.algorithm.value}, bus bandwidth {all_reduce.bus_bandwidth_bytes_per_s / 1e9:.1f} GB/s, "
          f"bottleneck {all_reduce.bottleneck}; costed in {reduced - built:.2f} s")
    nodes64 = np.arange(64 * 8, dtype=np.int64)[None, :]
    all_to_all = collective_time(net, Op.ALL_TO_ALL, nodes64, 2.0**30)
    done = time.perf_counter()
    print(f"all-to-all of 1 GiB over 64 nodes (512 GPUs): {all_to_all.time_s * 1e3:.1f} ms simulated, "
          f"bus bandwidth {all_to_all.bus_bandwidth_bytes_per_s / 1e9:.1f} GB/s, bottleneck "
          f"{all_to_all.bottleneck}; costed in {done - reduced:.2f} s")
    print(f"total {done - start:.2f} s, peak resident memory {_rss_gib():.2f} GiB")


if __name__ == "__main__":
    main()
