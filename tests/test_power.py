"""Power caps: the clock a cap leaves (simulator/models/power.py, DVFS with a voltage floor) against the published
points and curves in simulator/catalog/published_power.yaml, a Llama-3 8B training step's throughput at each cap
against Mayr et al.'s measurement (benchmarks/power_caps.py prints the table), and what a cap does to kernels,
steps, iterations and energy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.power_caps import CLOCKS, CURVES, LLAMA, VIT, fit, simulated_throughput
from simulator.catalog import CATALOG_DIR, accelerator, model
from simulator.models.hardware import Accelerator, MemoryKind, Precision
from simulator.models.power import Dvfs, clock_fraction_at_cap
from simulator.models.workload.kernels import elementwise, gemm, kernel_time_s
from simulator.models.workload.serving_time import ServingConfig, iteration_time
from tests.test_serving_time import NET
from tests.test_step_time import make_step, run

POINTS = {p["id"]: p for p in yaml.safe_load(Path(CATALOG_DIR / "published_power.yaml").read_text())["points"]}
A100, H100 = accelerator("a100-80gb-sxm"), accelerator("h100-sxm")


def capped(acc: Accelerator, cap_w: float) -> Accelerator:
    return acc.model_copy(update={"power_cap_w": cap_w})


def schema_dvfs(tdp_w: float) -> Dvfs:
    """The curve of a chip with only a TDP: the schema's defaults (static 0.2 TDP, full load at TDP, the H100's
    voltage floor)."""
    fields = Accelerator.model_fields
    return Dvfs(tdp_w, tdp_w * fields["idle_power_fraction"].default,
                tdp_w * fields["full_load_power_fraction"].default, fields["voltage_floor"].default,
                fields["voltage_floor_clock"].default)


def model_fraction(point: dict[str, Any]) -> float:
    """Compute-bound throughput at the point's cap relative to its reference, on the schema's default curve."""
    dvfs = schema_dvfs(point["tdp_w"])
    return clock_fraction_at_cap(point["cap_w"], dvfs) / clock_fraction_at_cap(point["reference_w"], dvfs)


# Mayr et al.'s Llama-3 8B training throughput against the simulated step, per cap (measured - model, from
# benchmarks/power_caps.py): +0.03 at 200-300 W, -0.05 at 400 W, -0.04 at 500 W, 0 at 600 W. Tolerance: 0.06 at
# every cap (the old cubic relation was off by 0.15 at 200 W); at mid caps the model is pessimistic (the cap binds
# on average power, and a training step's memory-bound and communication phases draw less: not modelled).
LLAMA_TOLERANCE = 0.06


def test_the_llama3_8b_training_step_follows_the_measured_throughput_at_every_cap() -> None:
    curve = CURVES[LLAMA]
    simulated = simulated_throughput(H100, curve["caps_w"])
    for cap, measured, model_value in zip(curve["caps_w"], curve["relative"], simulated, strict=True):
        assert model_value == pytest.approx(measured, abs=LLAMA_TOLERANCE), cap
    assert simulated[-1] == 1.0  # 700 W is above the measured 647 W full-load draw: the cap does not bind


def test_the_step_slows_less_than_the_clock_and_vit_training_is_no_slower_than_the_model() -> None:
    """Memory-bound operators and communication do not slow with the clock, so the step keeps more throughput than
    the clock alone; Mayr et al.'s ViT-L training, measured at or above the Llama row at every cap, is never more
    than the tolerance below the model."""
    curve = CURVES[LLAMA]
    simulated = simulated_throughput(H100, curve["caps_w"])
    for cap, model_value, vit in zip(curve["caps_w"], simulated, CURVES[VIT]["relative"], strict=True):
        assert capped(H100, cap).clock_fraction <= model_value
        assert model_value - LLAMA_TOLERANCE <= vit


def test_the_calibration_reproduces_the_catalog_and_the_measured_clocks() -> None:
    """The catalog's H100 curve is benchmarks/power_caps.py's fit on Ujeniya et al.'s clocks (not on the throughput
    rows), within 0.02 of every measured clock."""
    voltage_floor, floor_clock, worst = fit()
    assert (H100.voltage_floor, H100.voltage_floor_clock) == (voltage_floor, floor_clock)
    assert worst < 0.02
    curve = CURVES[CLOCKS]
    assert H100.full_load_power_fraction * H100.tdp_w == pytest.approx(curve["full_load_draw_w"], abs=0.5)
    for cap, clock in zip(curve["caps_w"], curve["relative"], strict=True):
        assert capped(H100, cap).clock_fraction == pytest.approx(clock, abs=0.02)


def test_below_the_floor_clock_power_falls_linearly_and_above_it_faster() -> None:
    dvfs = H100.dvfs
    low = [dvfs.dynamic_fraction(x) / x for x in (0.1, 0.2, 0.3, 0.4)]
    assert low == pytest.approx([H100.voltage_floor ** 2] * 4)
    assert dvfs.power_w(1.0) == pytest.approx(647.0, abs=0.5)
    assert dvfs.power_w(0.0) == H100.static_power_w


@pytest.mark.parametrize("point_id", ["v100-sdxl-175w", "v100-sdxl-200w"])
def test_a_mixed_workload_slows_no_more_than_the_compute_bound_model_and_within_7_points(point_id: str) -> None:
    """V100 SDXL at 175 and 200 W: measured 0.881 and 0.929, the compute-bound clock 0.814 and 0.883 (the workload
    is mixed, its full-load draw unknown and taken as the TDP)."""
    point = POINTS[point_id]
    assert model_fraction(point) <= point["relative_throughput_low"] <= 1.0
    assert point["relative_throughput_low"] - model_fraction(point) < 0.07


def test_an_a100_training_step_loses_what_polca_measured_at_a_fifth_less_power() -> None:
    """POLCA (ASPLOS 2024): A100 training lost about 10 % at about 20 % less peak power (read from plots: a
    0.03 tolerance). The Llama-3 8B step on four A100s at 320 of 400 W, on the H100-calibrated curve."""
    point = POINTS["a100-training-polca-320w"]
    (relative,) = simulated_throughput(accelerator("a100-80gb-sxm"), [point["cap_w"]])
    assert relative == pytest.approx(point["relative_throughput_low"], abs=0.03)


def test_far_below_tdp_the_model_is_optimistic_by_the_documented_factor() -> None:
    """GB300 GEMM at 36 % of TDP: the model's 0.47 overstates the measured 0.28-0.39 by 1.2x to 1.7x (the cubic
    relation gave 0.58, 1.5x to 2.1x); the GB300's own curve and full-load draw are not published."""
    point = POINTS["gb300-gemm-500w"]
    ratio = model_fraction(point)
    assert 1.2 * point["relative_throughput_high"] < ratio < 1.7 * point["relative_throughput_low"]


@settings(max_examples=50, deadline=None)
@given(st.floats(141.0, 700.0), st.floats(141.0, 700.0))
def test_a_lower_cap_is_never_faster(cap_a: float, cap_b: float) -> None:
    low, high = sorted((cap_a, cap_b))
    dvfs = schema_dvfs(700.0)
    assert clock_fraction_at_cap(low, dvfs) <= clock_fraction_at_cap(high, dvfs) <= 1.0
    assert dvfs.power_w(clock_fraction_at_cap(low, dvfs)) <= low + 1e-9
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


def test_decode_slows_much_less_than_prefill_at_a_low_cap() -> None:
    """At 300 W an H100's clock is 0.59: an 8k-token prefill (GEMMs) slows by more than 1.4x, a decode iteration of
    32 sequences (weights and KV cache read from HBM) by under 1.1x, as measured decode barely notices caps (Ma et
    al. 2026: H200 decode draws 137-300 W, below any cap above that)."""
    def iteration(acc: Accelerator, decodes: int, prefill: float) -> float:
        cfg = ServingConfig(model("llama3.1-8b"), acc, Precision.BF16, 2.0, 1, 0.9, 2 * 2**30, 256, 8192, 0.0)
        return iteration_time(cfg, NET, decodes, 1000, prefill, 0).total_s

    cap = capped(H100, 300.0)
    assert iteration(cap, 0, 8192) / iteration(H100, 0, 8192) > 1.4
    assert iteration(cap, 32, 0) / iteration(H100, 32, 0) < 1.1


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
