"""Power caps: the clock a cap leaves (simulator/models/hardware.py clock_fraction_at_cap) against the published
points in simulator/catalog/published_power.yaml, and what a cap does to kernels, steps, iterations and energy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.catalog import CATALOG_DIR, accelerator, model
from simulator.models.hardware import Accelerator, MemoryKind, Precision, clock_fraction_at_cap
from simulator.models.workload.kernels import elementwise, gemm, kernel_time_s
from simulator.models.workload.serving_time import ServingConfig, iteration_time
from tests.test_serving_time import NET
from tests.test_step_time import make_step, run

POINTS = {p["id"]: p for p in yaml.safe_load(Path(CATALOG_DIR / "published_power.yaml").read_text())["points"]}
A100, H100 = accelerator("a100-80gb-sxm"), accelerator("h100-sxm")


def capped(acc: Accelerator, cap_w: float) -> Accelerator:
    return acc.model_copy(update={"power_cap_w": cap_w})


def model_fraction(point: dict[str, Any]) -> float:
    """Compute-bound throughput at the point's cap relative to its reference, at the schema's static floor."""
    static = point["tdp_w"] * Accelerator.model_fields["idle_power_fraction"].default
    return (clock_fraction_at_cap(point["cap_w"], point["tdp_w"], static)
            / clock_fraction_at_cap(point["reference_w"], point["tdp_w"], static))


@pytest.mark.parametrize("point_id", ["v100-sdxl-175w", "v100-sdxl-200w"])
def test_a_mixed_workload_slows_no_more_than_the_compute_bound_model_and_within_4_points(point_id: str) -> None:
    point = POINTS[point_id]
    assert model_fraction(point) <= point["relative_throughput_low"] <= 1.0
    assert point["relative_throughput_low"] - model_fraction(point) < 0.04


def test_far_below_tdp_the_cubic_model_is_optimistic_by_the_documented_factor() -> None:
    """GB300 at 36 % of TDP: below the voltage floor power falls only about linearly with the clock, so the cubic
    relation (0.58) overstates the measured 0.28-0.39 by 1.5x to 2.1x (docs/fleets.md, 'Power caps', limits)."""
    point = POINTS["gb300-gemm-500w"]
    ratio = model_fraction(point)
    assert 1.4 * point["relative_throughput_high"] < ratio < 2.1 * point["relative_throughput_low"]


@settings(max_examples=50, deadline=None)
@given(st.floats(141.0, 700.0), st.floats(141.0, 700.0))
def test_a_lower_cap_is_never_faster(cap_a: float, cap_b: float) -> None:
    low, high = sorted((cap_a, cap_b))
    assert clock_fraction_at_cap(low, 700.0, 140.0) <= clock_fraction_at_cap(high, 700.0, 140.0) <= 1.0
    big = gemm("big", 8192, 8192, 8192, H100.peak_bf16_flops)
    assert kernel_time_s(big, capped(H100, low)) >= kernel_time_s(big, capped(H100, high))


def test_compute_bound_kernels_slow_more_than_memory_bound_ones() -> None:
    acc = capped(H100, 350.0)
    big, norm = gemm("big", 8192, 8192, 8192, H100.peak_bf16_flops), elementwise("norm", 1e9, MemoryKind.NORMALISING)
    gemm_slowdown = kernel_time_s(big, acc) / kernel_time_s(big, H100)
    norm_slowdown = kernel_time_s(norm, acc) / kernel_time_s(norm, H100)
    assert gemm_slowdown == pytest.approx(1 / acc.clock_fraction, rel=0.01)
    assert norm_slowdown == 1.0 < gemm_slowdown


def test_training_steps_and_serving_iterations_respond_and_a_cap_at_tdp_changes_nothing() -> None:
    base, at_tdp, low = (run(make_step(acc=a, tp=8, pp=1, dp=1)).total_s
                         for a in (A100, capped(A100, 400.0), capped(A100, 250.0)))
    assert at_tdp == base < low < base / capped(A100, 250.0).clock_fraction

    def iteration(acc: Accelerator, decodes: int, prefill: float) -> float:
        cfg = ServingConfig(model("llama3.1-8b"), acc, Precision.BF16, 2.0, 1, 0.9, 2 * 2**30, 256, 8192, 0.0)
        return iteration_time(cfg, NET, decodes, 1000, prefill, 0).total_s

    cap = capped(H100, 350.0)
    prefill_slowdown = iteration(cap, 0, 8192) / iteration(H100, 0, 8192)
    decode_slowdown = iteration(cap, 8, 0) / iteration(H100, 8, 0)
    assert iteration(capped(H100, 700.0), 0, 8192) == iteration(H100, 0, 8192)
    assert 1.0 <= decode_slowdown < prefill_slowdown


@pytest.mark.parametrize("cap_w", [90.0, 250.0, 400.0])
def test_a_capped_chip_never_draws_more_than_its_cap(cap_w: float) -> None:
    acc = capped(A100, cap_w)
    for busy in (0.0, 0.3, 1.0):
        assert acc.power_w(busy) / acc.server_power_overhead <= cap_w + 1e-9
    assert acc.power_w(1.0) / acc.server_power_overhead == pytest.approx(cap_w)
    assert acc.power_w(0.0) == A100.power_w(0.0)  # the idle floor does not move
    assert capped(A100, 400.0).power_w(0.5) == A100.power_w(0.5)


def test_cap_problems_name_the_bound() -> None:
    assert "exceeds" in (A100.power_cap_problem(401.0) or "")
    assert "static power" in (A100.power_cap_problem(80.0) or "")
    assert "lowest settable" in (H100.power_cap_problem(199.0) or "")
    assert H100.power_cap_problem(200.0) is None
    assert "tdp" in (accelerator("v100-sxm2-32gb").model_copy(update={"tdp_w": None}).power_cap_problem(100.0) or "")
