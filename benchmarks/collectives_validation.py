"""Predicted vs measured collectives: the published bus-bandwidth plateaus of ../shared/reference/collectives.yaml
and Vidur's single-node DGX all-reduce times at every size (../shared/data/vidur-profiles/network/).
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

from simulator.topology.build import build_network  # noqa: E402
from simulator.topology.collectives import Algorithm, Op, collective_time  # noqa: E402
from simulator.topology.network import Network  # noqa: E402
from simulator.topology.shape import ClusterShape  # noqa: E402
from simulator.topology.specs import FatTreeTopology, SingleSwitchTopology  # noqa: E402

NVLINK = {"a100": 300e9, "h100": 450e9}


def node(gpu: str, gpus: int = 8) -> Network:
    return build_network(SingleSwitchTopology(kind="single_switch"),
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
    multinode = build_network(FatTreeTopology(kind="fat_tree"), ClusterShape(32, 8, NVLINK["a100"], 25e9, False))
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
        errors: dict[int, list[float]] = {}
        for row in csv.DictReader(path.open()):
            ranks, size = int(row["num_workers"]), float(row["size"])
            if row["devices_per_node"] != row["num_workers"]:
                continue
            group = np.arange(ranks, dtype=np.int64)[None, :]
            predicted = collective_time(node(gpu, ranks), Op.ALL_REDUCE, group, size).time_s
            errors.setdefault(ranks, []).append(predicted / (float(row["time_stats.all_reduce.median"]) * 1e-3) - 1)
        every = [abs(e) for values in errors.values() for e in values]
        print(f"vidur {gpu} all-reduce times, 2 KiB-64 MiB, one node: median |error| {statistics.median(every):.1%} "
              + "; ".join(f"{r} GPUs {statistics.median([abs(e) for e in v]):.1%}" for r, v in sorted(errors.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
