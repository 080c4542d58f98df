"""Predicted vs measured collectives: the published bus-bandwidth plateaus of tests/data/reference/collectives.yaml
and Vidur's single-node DGX all-reduce times at every size (tests/data/vidur-profiles/network/).
Vidur's multi-node rows are left out: that cluster's inter-node network is not documented.
Usage: python benchmarks/collectives_validation.py [DATA_DIR]   (default: tests/data)"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.models.topology.build import build_network  # noqa: E402
from simulator.models.topology.collectives import Algorithm, Op, collective_time  # noqa: E402
from simulator.models.topology.network import Network  # noqa: E402
from simulator.models.topology.shape import ClusterShape  # noqa: E402
from simulator.models.topology.specs import FatTreeTopology, SingleSwitchTopology  # noqa: E402

NVLINK = {"a100": 300e9, "h100": 450e9}


def node(gpu: str, gpus: int = 8, nvlink: float | None = None) -> Network:
    return build_network(SingleSwitchTopology(kind="single_switch"),
                         ClusterShape(1, gpus, nvlink or NVLINK[gpu], 25e9, gpu == "h100"))


def vidur_rows(path: Path) -> list[tuple[int, float, float]]:
    """(GPUs, bytes, measured median s) of the single-node rows."""
    return [(int(r["num_workers"]), float(r["size"]), float(r["time_stats.all_reduce.median"]) * 1e-3)
            for r in csv.DictReader(path.open()) if r["devices_per_node"] == r["num_workers"]]


def error_line(gpu: str, rows: list[tuple[int, float, float]], nvlink: float | None = None) -> str:
    """Median |error| of the predicted times, overall and per group size."""
    errors: dict[int, list[float]] = {}
    for ranks, size, measured in rows:
        group = np.arange(ranks, dtype=np.int64)[None, :]
        predicted = collective_time(node(gpu, ranks, nvlink), Op.ALL_REDUCE, group, size).time_s
        errors.setdefault(ranks, []).append(abs(predicted / measured - 1))
    every = [e for values in errors.values() for e in values]
    return (f"median |error| {statistics.median(every):.1%} "
            + "; ".join(f"{r} GPUs {statistics.median(v):.1%}" for r, v in sorted(errors.items())))


def fitted_nvlink(gpu: str, ranks: int, size: float, measured_s: float) -> float:
    """The NVLink bandwidth per direction at which the model's time for one row equals the measured one."""
    low, high = 10e9, 2000e9
    group = np.arange(ranks, dtype=np.int64)[None, :]
    for _ in range(60):
        middle = (low + high) / 2
        slow = collective_time(node(gpu, ranks, middle), Op.ALL_REDUCE, group, size).time_s > measured_s
        low, high = (middle, high) if slow else (low, middle)
    return (low + high) / 2


def busbw(net: Network, ranks: int, size: float, algorithm: Algorithm = Algorithm.AUTO) -> float:
    group = np.arange(ranks, dtype=np.int64)[None, :]
    return collective_time(net, Op.ALL_REDUCE, group, size, algorithm).bus_bandwidth_bytes_per_s


def main() -> int:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data"
    reference = data / "reference" / "collectives.yaml"
    if not reference.exists():
        print(f"{reference} not found: pass the data folder as the first argument", file=sys.stderr)
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
        rows = vidur_rows(data / "vidur-profiles" / "network" / f"{gpu}_dgx" / "all_reduce.csv")
        print(f"vidur {gpu} all-reduce times, 2 KiB-64 MiB, one node: {error_line(gpu, rows)}")
    # Diagnostic, not the default: Vidur's A100 box stays well under the nccl-tests plateau. Give the model that
    # box's own NVLink bandwidth, fitted to its one largest 8-GPU row, and check every other row against it.
    rows = vidur_rows(data / "vidur-profiles" / "network" / "a100_dgx" / "all_reduce.csv")
    largest = max((r for r in rows if r[0] == 8), key=lambda r: r[1])
    nvlink = fitted_nvlink("a100", *largest)
    plateau = busbw(node("a100", 8, nvlink), 8, 2**33)
    print(f"  the same, with the A100 box's NVLink fitted to its 8-GPU {largest[1] / 2**20:.0f} MiB row "
          f"({nvlink / 1e9:.0f} GB/s per direction, plateau {plateau / 1e9:.0f} GB/s against nccl-tests' 230): "
          f"{error_line('a100', rows, nvlink)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
