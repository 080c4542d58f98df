"""Predicted vs measured collective bus bandwidth: the published plateaus of ../shared/reference/collectives.yaml
and Vidur's single-node DGX all-reduce measurements (../shared/data/vidur-profiles/network/). Prints a table.
Vidur's multi-node rows are left out: that cluster's inter-node network is not documented.
Usage: python benchmarks/collectives_validation.py [SHARED_DIR]"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.topology.collectives import Algorithm, Op, collective_time  # noqa: E402
from simulator.topology.fat_tree import build_switched  # noqa: E402
from simulator.topology.network import Network  # noqa: E402
from simulator.topology.shape import ClusterShape  # noqa: E402
from simulator.topology.specs import FatTreeTopology, SingleSwitchTopology  # noqa: E402

NVLINK = {"a100": 300e9, "h100": 450e9}


def node(gpu: str, gpus: int = 8) -> Network:
    return build_switched(SingleSwitchTopology(kind="single_switch"),
                          ClusterShape(1, gpus, NVLINK[gpu], 25e9, gpu == "h100"))


def busbw(net: Network, ranks: int, size: float, algorithm: Algorithm = Algorithm.AUTO) -> float:
    group = np.arange(ranks, dtype=np.int64)[None, :]
    return collective_time(net, Op.ALL_REDUCE, group, size, algorithm).bus_bandwidth_bytes_per_s


def main() -> int:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared"
    reference = shared / "reference" / "collectives.yaml"
    if not reference.exists():
        print(f"{reference} not found: pass the shared folder as the first argument", file=sys.stderr)
        return 1
    cases = {c["id"]: float(c["busbw_gbps"]) for c in yaml.safe_load(reference.read_text())["cases"]
             if "busbw_gbps" in c}
    multinode = build_switched(FatTreeTopology(kind="fat_tree"), ClusterShape(32, 8, NVLINK["a100"], 25e9, False))
    rows = [
        ("h100-8gpu-allreduce-nvls", cases["h100-8gpu-allreduce-nvls"], busbw(node("h100"), 8, 2**33)),
        ("h100-8gpu-ring", cases["h100-8gpu-ring"], busbw(node("h100"), 8, 2**33, Algorithm.RING)),
        ("a100-8gpu-allreduce", cases["a100-8gpu-allreduce"], busbw(node("a100"), 8, 2**33)),
        ("dgx-a100-multinode (32 nodes)", cases["dgx-a100-multinode"], busbw(multinode, 256, 2**33)),
    ]
    print(f"{'case':<44} {'measured':>9} {'predicted':>10} {'error':>7}")
    for name, measured, predicted in rows:
        print(f"{name:<44} {measured:>9.0f} {predicted / 1e9:>10.0f} {predicted / 1e9 / measured - 1:>+7.1%}")
    for gpu in ("h100", "a100"):
        path = shared / "data" / "vidur-profiles" / "network" / f"{gpu}_dgx" / "all_reduce.csv"
        by_ranks: dict[int, list[float]] = {}
        for row in csv.DictReader(path.open()):
            ranks, size = int(row["num_workers"]), float(row["size"])
            if row["devices_per_node"] != row["num_workers"] or size < 2**25:
                continue
            measured = size / (float(row["time_stats.all_reduce.median"]) * 1e-3) * 2 * (ranks - 1) / ranks
            predicted = busbw(node(gpu, ranks), ranks, size, Algorithm.RING)
            by_ranks.setdefault(ranks, []).append(predicted / measured - 1)
        for ranks, errors in sorted(by_ranks.items()):
            print(f"{f'vidur {gpu} {ranks} GPUs, 32-64 MiB ring ({len(errors)} sizes)':<44} "
                  f"{'':>9} {'':>10} {statistics.median(errors):>+7.1%} (median; worst {max(errors, key=abs):+.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
