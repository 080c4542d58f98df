"""The kernel roofline (simulator/models/workload/kernels.py) and the per-layer kernels (operators.py)."""

from __future__ import annotations

import pytest

from simulator.catalog import accelerator, model
from simulator.models.hardware import MemoryKind, Precision
from simulator.models.workload.kernels import elementwise, gemm, kernel_time_s
from simulator.models.workload.operators import layer_kernels, output_kernels
from simulator.models.workload.parallelism import Parallelism, Recompute
from simulator.models.workload.training_job import TrainingStep

A100 = accelerator("a100-80gb-sxm")


def test_compute_bound_gemm_is_flops_over_fitted_peak_plus_overhead() -> None:
    k = gemm("big", 8192, 8192, 8192, A100.peak_bf16_flops)
    assert k.flops == 2 * 8192**3
    expected = k.flops / (A100.peak_bf16_flops * A100.matmul_efficiency) + A100.kernel_overhead_s
    assert kernel_time_s(k, A100) == pytest.approx(expected, rel=1e-12)


def test_memory_bound_operator_is_bytes_over_its_kinds_fitted_bandwidth_plus_overhead() -> None:
    k = elementwise("norm", 1e9, MemoryKind.NORMALISING)
    expected = 1e9 / (A100.hbm_bandwidth_bytes_per_s * A100.normalising_efficiency) + A100.elementwise_overhead_s
    assert kernel_time_s(k, A100) == pytest.approx(expected, rel=1e-12)


def test_fitted_chips_rank_the_kinds_as_their_access_patterns_do() -> None:
    # a vectorised streaming pass beats per-row kernels; normalising (two passes over each row) is the slowest
    for chip in (A100, accelerator("h100-sxm")):
        assert chip.streaming_efficiency > chip.activation_efficiency > chip.normalising_efficiency
        assert chip.rotary_efficiency > chip.normalising_efficiency


def test_thin_gemm_is_memory_bound_and_small_gemms_are_less_efficient() -> None:
    thin = gemm("thin", 8192, 8192, 16, A100.peak_bf16_flops)
    assert kernel_time_s(thin, A100) > thin.flops / (A100.peak_bf16_flops * A100.matmul_efficiency) * 2
    small, large = (gemm("g", n, n, n, A100.peak_bf16_flops) for n in (256, 8192))
    efficiency = [k.flops / kernel_time_s(k, A100) / A100.peak_bf16_flops for k in (small, large)]
    assert efficiency[0] < efficiency[1] / 3 and efficiency[1] == pytest.approx(A100.matmul_efficiency, rel=0.01)


def _step(name: str = "megatron-7.5b", flash: bool = True, **layout: object) -> TrainingStep:
    return TrainingStep(model(name), A100, Precision.BF16, Parallelism(**layout), 2048, 4,  # type: ignore[arg-type]
                        flash_attention=flash)


def test_layer_gemm_flops_match_the_model_flop_count() -> None:
    step = _step(tp=4)
    layer = layer_kernels(step, moe=False)
    m = step.model
    linear = sum(k.flops for k in layer.forward if k.name in {"qkv", "attention out", "mlp up", "mlp down"})
    per_token = 2 * 12 * m.hidden**2 / 4  # Megatron's 24 l h^2 per token forward, split over tp = 4
    assert linear / 2048 == pytest.approx(per_token, rel=1e-9)


def test_full_recompute_repeats_the_forward_and_selective_only_unfused_attention() -> None:
    full = layer_kernels(_step(activation_recompute=Recompute.FULL), moe=False)
    assert full.recompute == full.forward
    assert layer_kernels(_step(activation_recompute=Recompute.SELECTIVE), moe=False).recompute == ()
    unfused = layer_kernels(_step(flash=False, activation_recompute=Recompute.SELECTIVE), moe=False)
    assert {k.name for k in unfused.recompute} == {"attention scores", "scale-mask-softmax", "attention dropout",
                                                   "attention values"}


def test_tensor_parallelism_splits_the_output_layer() -> None:
    one, eight = (sum(k.flops for k in output_kernels(_step(tp=tp))) for tp in (1, 8))
    assert one == pytest.approx(8 * eight, rel=1e-12)


def test_structured_sparsity_doubles_the_linear_peak_only() -> None:
    step = _step()
    sparse = TrainingStep(step.model, A100, Precision.BF16, step.layout, 2048, 4, structured_sparsity=True)
    dense_layer, sparse_layer = layer_kernels(step, moe=False), layer_kernels(sparse, moe=False)
    for d, s in zip(dense_layer.forward, sparse_layer.forward, strict=True):
        assert s.peak_flops == d.peak_flops * (2 if d.name in {"qkv", "attention out", "mlp up", "mlp down"} else 1)
