"""Print the first-order step model's predictions against Megatron-LM Table 1 (Narayanan et al. 2021).

Reads ../shared/reference/training_throughput.yaml (the A100 rows), builds each case as published (full
recompute, no flash attention, no sequence parallelism, micro-batch 1, DGX A100 nodes with 8 x 200 Gb/s),
and prints predicted vs published hardware TFLOP/s per GPU. Nothing is fitted to these rows.
Usage: python benchmarks/megatron_table1.py [SHARED_DIR]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.run import simulate  # noqa: E402
from simulator.scenario.loader import validate_located  # noqa: E402
from simulator.scenario.yaml_lines import LocatedData  # noqa: E402


def scenario_for(case: dict[str, object]) -> dict[str, object]:
    """A scenario mapping reproducing one Table 1 row."""
    shape = case["model"]
    layout = case["parallelism"]
    assert isinstance(shape, dict) and isinstance(layout, dict)
    gpus = int(case["gpus"])  # type: ignore[call-overload]
    return {
        "name": str(case["id"]),
        "cluster": {"accelerator": "a100-80gb-sxm", "nodes": gpus // 8, "gpus_per_node": 8,
                    "topology": {"kind": "fat_tree", "nic_bandwidth": "200 Gbps"}},
        "pricing": {"gpu_hour_usd": 0},
        "workloads": [{
            "name": "row", "kind": "training",
            "model": {"name": str(case["id"]), "layers": shape["layers"], "hidden": shape["hidden"],
                      "heads": shape["heads"], "vocab": 51200},
            "tokens": 1e9, "seq_len": 2048, "global_batch_size": case["global_batch"], "flash_attention": False,
            "parallelism": {**layout, "micro_batch_size": 1, "sequence_parallel": False, "zero_stage": 0,
                            "activation_recompute": "full"},
        }],
    }


def main() -> int:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared"
    source = shared / "reference" / "training_throughput.yaml"
    if not source.exists():
        print(f"{source} not found: pass the shared folder as the first argument", file=sys.stderr)
        return 1
    cases = [c for c in yaml.safe_load(source.read_text())["cases"] if str(c["id"]).startswith("megatron-")
             and "global_batch" in c]
    print(f"{'case':<18} {'GPUs':>6} {'published':>10} {'predicted':>10} {'error':>8}")
    errors = []
    for case in cases:
        report = simulate(validate_located(LocatedData(scenario_for(case)), str(source)))
        predicted = report.workloads["row"].hardware_tflops_per_gpu
        published = float(case["achieved_tflops_per_gpu"])
        errors.append(predicted / published - 1)
        print(f"{case['id']:<18} {case['gpus']:>6} {published:>10.0f} {predicted:>10.0f} {errors[-1]:>+8.1%}")
    print(f"median |error| {statistics.median(abs(e) for e in errors):.1%}, worst {max(errors, key=abs):+.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
