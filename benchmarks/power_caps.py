"""Power caps: calibrate the H100 voltage-frequency curve on measured SM clocks, then print the validation table of
docs/fleets.md (published throughput at each cap against the simulator's).

    python -m benchmarks.power_caps

Calibration (`fit`): the two curve parameters (voltage floor, floor clock) that best reproduce the SM clocks
Ujeniya et al. (arXiv 2604.11391) measured on an H100 at caps of 200-700 W (ViT-L/16 inference), with the static
power at the catalog's idle fraction and the full-load draw they measured (647 W under the 700 W limit). The
throughput rows of Mayr et al. (arXiv 2603.16164) are not used to fit: they are the validation.
Validation (`simulated_throughput`): a Llama-3 8B training step on one node of four H100s through the operator
step model, its throughput at each cap relative to the uncapped step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from simulator.catalog import CATALOG_DIR, accelerator, model
from simulator.models.hardware import Accelerator, Precision
from simulator.models.power import Dvfs
from simulator.models.topology.fat_tree import build_switched
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import FatTreeTopology
from simulator.models.workload.parallelism import Parallelism
from simulator.models.workload.step_time import OperatorStepModel
from simulator.models.workload.training_job import TrainingStep

CURVES = {c["id"]: c for c in yaml.safe_load(Path(CATALOG_DIR / "published_power.yaml").read_text())["curves"]}
CLOCKS = "h100-vit-l16-inference-clock-ujeniya2026"
LLAMA = "h100-llama3-8b-train-mayr2026"
VIT = "h100-vit-l16-train-mayr2026"
GRID = [i / 100 for i in range(101)]


def clock_errors(voltage_floor: float, floor_clock: float) -> list[float]:
    """Model clock minus measured clock at each cap of the calibration row."""
    curve = CURVES[CLOCKS]
    h100 = accelerator("h100-sxm")
    dvfs = Dvfs(curve["tdp_w"], h100.static_power_w, curve["full_load_draw_w"], voltage_floor, floor_clock)
    return [dvfs.clock_at_cap(cap) - clock for cap, clock in zip(curve["caps_w"], curve["relative"], strict=True)]


def fit() -> tuple[float, float, float]:
    """(voltage floor, floor clock, largest |clock error|) minimising the sum of squared clock errors on a 0.01
    grid (floor 0.01-1, floor clock 0-0.99)."""
    best = min((sum(e * e for e in clock_errors(v, x)), v, x) for v in GRID[1:] for x in GRID[:-1])
    _, v, x = best
    return v, x, max(abs(e) for e in clock_errors(v, x))


def llama3_8b_step(acc: Accelerator) -> TrainingStep:
    """Mayr et al.'s setup as far as it is published: Llama-3 8B on one node of four H100s, data-parallel with the
    model sharded (LitGPT FSDP), BF16, 8k sequences; the batch is not published: 8 micro-batches of one."""
    return TrainingStep(model=model("llama3.1-8b"), accelerator=acc, precision=Precision.BF16,
                        layout=Parallelism(dp=4, zero_stage=3), seq_len=8192, micro_batches=8, flash_attention=True)


def simulated_throughput(acc: Accelerator, caps_w: list[float]) -> list[float]:
    """Throughput of the Llama-3 8B step at each cap relative to the uncapped one."""
    shape = ClusterShape(1, 4, acc.scale_up_bandwidth_bytes_per_s or 450e9, acc.nic_bandwidth_bytes_per_s or 50e9,
                         acc.in_switch_reduction)
    network = build_switched(FatTreeTopology(kind="fat_tree"), shape)
    step_model = OperatorStepModel()
    base = step_model.step_time(llama3_8b_step(acc), network).total_s
    return [base / step_model.step_time(llama3_8b_step(acc.model_copy(update={"power_cap_w": cap})), network).total_s
            for cap in caps_w]


def table() -> list[dict[str, Any]]:
    """Rows of the validation table: cap, measured Llama and ViT training throughput, the model's clock and its
    Llama step throughput."""
    h100 = accelerator("h100-sxm")
    llama = CURVES[LLAMA]
    model_llama = simulated_throughput(h100, llama["caps_w"])
    return [{"cap_w": cap, "llama_measured": measured, "vit_measured": vit, "clock_measured": clock,
             "clock_model": h100.model_copy(update={"power_cap_w": cap}).clock_fraction, "llama_model": simulated}
            for cap, measured, vit, clock, simulated in zip(llama["caps_w"], llama["relative"], CURVES[VIT]["relative"],
                                                            CURVES[CLOCKS]["relative"], model_llama, strict=True)]


def main() -> int:
    v, x, worst = fit()
    print(f"calibration on {CLOCKS}: voltage_floor {v:.2f}, voltage_floor_clock {x:.2f}, largest clock error "
          f"{worst:.3f}")
    print("| cap W | SM clock measured | SM clock model | ViT-L train measured | Llama-3 8B train measured | "
          "Llama-3 8B step model | model - measured |")
    print("|---|---|---|---|---|---|---|")
    for row in table():
        print(f"| {row['cap_w']:.0f} | {row['clock_measured']:.3f} | {row['clock_model']:.3f} | "
              f"{row['vit_measured']:.3f} | {row['llama_measured']:.3f} | {row['llama_model']:.3f} | "
              f"{row['llama_model'] - row['llama_measured']:+.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
