"""The kernels of one layer and of the output layer (simulator/models/workload/operators.py, kernels.py) on a
small hand-sized model: shapes and byte counts by hand, what each parallel dimension splits, the backward and
recompute rules, mixture-of-experts kernels, and the identity between the kernels' FLOPs and the model's
FLOP count (simulator/models/workload/transformer.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.models.hardware import (
    DEFAULT_ATTENTION,
    Accelerator,
    AttentionEfficiency,
    AttentionKernel,
    MemoryKind,
    Precision,
)
from simulator.models.workload.kernels import Kernel, elementwise, gemm, kernel_time_s, roofline_s
from simulator.models.workload.operators import LayerKernels, layer_kernels, output_kernels
from simulator.models.workload.parallelism import Parallelism
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import TransformerModel, forward_flops_per_token

BF16, FP8 = 1e15, 2e15
CHIP = Accelerator.model_validate({"name": "chip", "peak_bf16": BF16, "peak_fp8": FP8, "hbm": 1e11,
                                   "hbm_bandwidth": 1e12, "matmul_efficiency": 0.5, "memory_efficiency": 0.8,
                                   "kernel_overhead": 1e-5, "streaming_efficiency": 1.0,
                                   "normalising_efficiency": 0.4, "elementwise_overhead": 1e-6})
# GPT-style: hidden 1024, 16 heads of 64, MLP 4096, learned positions, GELU
GPT = TransformerModel(name="gpt", layers=2, hidden=1024, heads=16, vocab=1000)
LINEAR = ("qkv", "attention out", "mlp up", "mlp down")
SEQ = 2048


def step(model: TransformerModel = GPT, flash: bool = True, precision: Precision = Precision.BF16,
         seq_len: int = SEQ, **layout: Any) -> TrainingStep:
    extra = {k: layout.pop(k) for k in ("pruned_fraction", "capacity_factor") if k in layout}
    return TrainingStep(model, CHIP, precision, Parallelism.model_validate(layout), seq_len, 1,
                        flash_attention=flash, **extra)


def by_name(kernels: tuple[Kernel, ...] | list[Kernel]) -> dict[str, Kernel]:
    return {k.name: k for k in kernels}


# --- one kernel -------------------------------------------------------------------------------------------------


def test_gemm_and_elementwise_by_hand() -> None:
    k = gemm("g", 2, 3, 4, BF16)
    assert (k.flops, k.bytes, k.peak_flops, k.launches) == (48.0, 2 * (8 + 12) + 2 * 6, BF16, 1)
    assert gemm("g", 2, 3, 4, BF16, element_bytes=1.0).bytes == 8 + 12 + 12  # fp8 inputs, bf16 output
    e = elementwise("norm", 1e6, MemoryKind.NORMALISING, launches=3)
    assert (e.flops, e.bytes, e.launches, e.kind) == (0.0, 1e6, 3, MemoryKind.NORMALISING)
    assert k.kind is None
    twice = k.scaled(2.0)
    assert (twice.name, twice.flops, twice.bytes, twice.peak_flops, twice.launches) == ("g", 96.0, 104.0, BF16, 1)
    assert e.scaled(2.0).kind is MemoryKind.NORMALISING


def test_roofline_takes_the_slower_side_and_adds_every_launch() -> None:
    compute_bound = Kernel("c", flops=1e12, bytes=1e6, peak_flops=BF16, launches=4)
    assert roofline_s(compute_bound, CHIP) == pytest.approx((1e12 / 5e14, 1e6 / 8e11))
    assert kernel_time_s(compute_bound, CHIP) == pytest.approx(2e-3 + 4e-5)
    memory_bound = Kernel("e", flops=0.0, bytes=8e9, peak_flops=1.0)  # no kind: memory_efficiency, GEMM overhead
    compute_s, memory_s = roofline_s(memory_bound, CHIP)
    assert compute_s == 0.0 and memory_s == pytest.approx(1e-2)
    assert kernel_time_s(memory_bound, CHIP) == pytest.approx(1e-2 + 1e-5)


def test_each_memory_kind_runs_at_its_own_efficiency_and_elementwise_overhead() -> None:
    streaming = elementwise("add", 8e9, MemoryKind.STREAMING, launches=2)
    normalising = elementwise("norm", 8e9, MemoryKind.NORMALISING)
    assert kernel_time_s(streaming, CHIP) == pytest.approx(8e9 / 1e12 + 2e-6)
    assert kernel_time_s(normalising, CHIP) == pytest.approx(8e9 / 4e11 + 1e-6)
    # kinds a chip does not set take the schema defaults; decode attention keeps the GEMM launch overhead
    decode = Kernel("decode", flops=0.0, bytes=8e9, peak_flops=1.0, kind=MemoryKind.DECODE_ATTENTION)
    assert kernel_time_s(decode, CHIP) == pytest.approx(8e9 / (1e12 * CHIP.decode_attention_efficiency) + 1e-5)
    rotary = elementwise("rope", 8e9, MemoryKind.ROTARY)
    assert roofline_s(rotary, CHIP)[1] == pytest.approx(8e9 / (1e12 * CHIP.rotary_efficiency))


# --- a dense layer ----------------------------------------------------------------------------------------------


def test_dense_layer_forward_by_hand() -> None:
    fwd = layer_kernels(step(tp=2, micro_batch_size=2), moe=False).forward
    tokens, local, h = 2 * SEQ, 2 * SEQ / 2, 1024  # rows of GEMMs; rows of norms (sequence parallel over tp 2)
    assert [k.name for k in fwd] == ["qkv", "attention out", "mlp up", "activation", "mlp down", "flash attention",
                                     "norm", "norm", "residual add", "residual add"]
    k = by_name(fwd)
    assert k["qkv"].flops == 2 * tokens * (3 * 1024 / 2) * h
    assert k["attention out"].flops == 2 * tokens * h * (1024 / 2)
    assert k["mlp up"].flops == k["mlp down"].flops == 2 * tokens * (4096 / 2) * h
    assert k["activation"].bytes == 4 * tokens * 4096 / 2  # bf16 in and out
    # 8 heads per GPU of 64 + 64 (scores and values), every query over its sequence, causal: half the blocks
    assert k["flash attention"].flops == 2 * tokens * SEQ * 8 * 128 * 0.5
    assert k["norm"].bytes == 4 * local * h and k["residual add"].bytes == 6 * local * h
    assert all(x.peak_flops == BF16 for x in fwd if x.flops)


def test_every_memory_bound_training_operator_has_its_kind() -> None:
    llama = TransformerModel(name="llama", layers=2, hidden=1024, heads=16, kv_heads=4, ffn_hidden=2816,
                             vocab=1000, mlp="swiglu", norm="rmsnorm", bias=False, position="rope")
    with_dropout = llama.model_copy(update={"dropout": True})
    unfused = layer_kernels(step(with_dropout, flash=False, precision=Precision.FP8), moe=False)
    kinds = {k.name: k.kind for k in (*unfused.forward, *unfused.backward, *output_kernels(step(llama)))
             if k.flops == 0 and not k.name.startswith("fp8 cast")}
    assert kinds == {"scale-mask-softmax": MemoryKind.NORMALISING, "attention dropout": MemoryKind.STREAMING,
                     "dropout backward": MemoryKind.STREAMING, "softmax backward": MemoryKind.NORMALISING,
                     "activation": MemoryKind.ACTIVATION, "norm": MemoryKind.NORMALISING,
                     "residual add": MemoryKind.STREAMING, "rope": MemoryKind.ROTARY,
                     "cross-entropy": MemoryKind.NORMALISING}
    casts = [k for k in (*unfused.forward, *unfused.backward) if k.name.startswith("fp8 cast")]
    assert len(casts) == 12 and {k.kind for k in casts} == {MemoryKind.STREAMING}  # 4 linear layers x 3


def test_sequence_parallelism_splits_only_norms_and_residuals() -> None:
    on = by_name(layer_kernels(step(tp=4), moe=False).forward)
    off = by_name(layer_kernels(step(tp=4, sequence_parallel=False), moe=False).forward)
    for name, kernel in on.items():
        factor = 4 if name in ("norm", "residual add") else 1
        assert off[name].bytes == kernel.bytes * factor and off[name].flops == kernel.flops


@settings(max_examples=20, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8, 16]))
def test_tensor_parallelism_splits_every_matmul(tp: int) -> None:
    one = by_name(layer_kernels(step(), moe=False).forward)
    split = by_name(layer_kernels(step(tp=tp), moe=False).forward)
    for name in (*LINEAR, "flash attention"):
        assert split[name].flops * tp == pytest.approx(one[name].flops, rel=1e-12)


def test_context_parallelism_splits_queries_not_the_context() -> None:
    one = by_name(layer_kernels(step(), moe=False).forward)
    halves = by_name(layer_kernels(step(cp=2), moe=False).forward)
    for name in (*LINEAR, "flash attention"):  # GEMM rows halve; each query still sees the whole sequence
        assert halves[name].flops * 2 == pytest.approx(one[name].flops, rel=1e-12)


def test_backward_is_two_gemms_per_gemm_and_flash_recomputes_its_scores() -> None:
    layer = layer_kernels(step(tp=2), moe=False)
    fwd, bwd = by_name(layer.forward), by_name(layer.backward)
    for name in (*LINEAR, "activation", "norm", "residual add"):
        assert (bwd[name].flops, bwd[name].bytes) == (2 * fwd[name].flops, 2 * fwd[name].bytes)
    assert bwd["flash attention"].flops == 2.5 * fwd["flash attention"].flops
    assert len(layer.backward) == len(layer.forward)


def test_unfused_attention_materialises_the_score_matrix() -> None:
    layer = layer_kernels(step(GPT.model_copy(update={"dropout": True}), flash=False), moe=False)
    k = by_name(layer.forward)
    scores = SEQ * SEQ * 16  # queries x keys x heads
    assert k["attention scores"].flops == k["attention values"].flops == 2 * scores * 64
    assert [x.name for x in layer.forward][5:9] == ["attention scores", "scale-mask-softmax", "attention dropout",
                                                    "attention values"]
    # Megatron's causal softmax reads the lower triangle (1 byte a score on average) and writes whole rows (2)
    assert k["scale-mask-softmax"].bytes == 3 * scores and k["attention dropout"].bytes == 5 * scores
    assert [x.name for x in layer.backward][5:9] == ["attention values", "dropout backward", "softmax backward",
                                                     "attention scores"]
    assert by_name(layer.backward)["softmax backward"].bytes == 4 * scores  # reads 2 + 2 in the triangle, writes 2
    assert k["residual add"].bytes == 7 * SEQ * 1024  # the fused bias-dropout-add writes its mask


def test_dropout_kernels_only_for_models_trained_with_dropout() -> None:
    layer = layer_kernels(step(flash=False, activation_recompute="full"), moe=False)  # GPT here has no dropout
    names = {k.name for k in (*layer.forward, *layer.backward, *layer.recompute)}
    assert "attention dropout" not in names and "dropout backward" not in names
    assert by_name(layer.forward)["residual add"].bytes == 6 * SEQ * 1024
    assert len(layer.forward) == len(layer.backward) == len(layer.recompute)


def test_full_recompute_repeats_the_forward_but_not_the_once_a_step_weight_casts() -> None:
    layer = layer_kernels(step(GPT.model_copy(update={"dropout": True}), flash=False, precision=Precision.FP8,
                               activation_recompute="full"), moe=False)
    assert [k for k in layer.forward if not k.name.endswith(" weight")] == list(layer.recompute)
    assert "attention dropout" in by_name(layer.recompute)  # the masks are drawn again (RNG state restored)
    assert "fp8 cast qkv" in by_name(layer.recompute) and "fp8 cast qkv weight" not in by_name(layer.recompute)


def test_flash_attention_runs_at_its_measured_efficiency_per_kernel_generation() -> None:
    chip = CHIP.model_copy(update={"fused_attention": (
        AttentionEfficiency(kernel=AttentionKernel.FLASH2, forward=0.3, backward=0.25),
        AttentionEfficiency(kernel=AttentionKernel.FLASH3, forward=0.6, backward=0.5))})
    for kernel, (fwd_eff, bwd_eff) in ((AttentionKernel.FLASH2, (0.3, 0.25)), (AttentionKernel.FLASH3, (0.6, 0.5))):
        layer = layer_kernels(replace(step(), accelerator=chip, attention_kernel=kernel), moe=False)
        fwd, bwd = by_name(layer.forward)["flash attention"], by_name(layer.backward)["flash attention"]
        assert roofline_s(fwd, chip)[0] == pytest.approx(fwd.flops / (BF16 * fwd_eff))
        assert roofline_s(bwd, chip)[0] == pytest.approx(2.5 * fwd.flops / (BF16 * bwd_eff))
    # a chip with only a flash2 measurement runs flash3 requests as flash2 (FA3 is Hopper-only)
    ampere = CHIP.model_copy(update={"fused_attention": (chip.fused_attention[0],)})
    assert ampere.attention_efficiency(AttentionKernel.FLASH3).forward == 0.3
    assert CHIP.attention_efficiency(AttentionKernel.FLASH2) == DEFAULT_ATTENTION
    # GEMMs keep the fitted matmul efficiency
    qkv = by_name(layer_kernels(replace(step(), accelerator=chip), moe=False).forward)["qkv"]
    assert roofline_s(qkv, chip)[0] == pytest.approx(qkv.flops / (BF16 * 0.5))


def test_rope_swiglu_and_grouped_query_attention() -> None:
    llama = TransformerModel(name="llama", layers=2, hidden=1024, heads=16, kv_heads=4, ffn_hidden=2816,
                             vocab=1000, mlp="swiglu", norm="rmsnorm", bias=False, position="rope")
    k = by_name(layer_kernels(step(llama, tp=2), moe=False).forward)
    assert k["rope"].bytes == 4 * SEQ * (16 + 4) * 64 / 2  # queries and keys rotated, read and written
    assert k["qkv"].flops == 2 * SEQ * ((16 + 2 * 4) * 64 / 2) * 1024
    assert k["mlp up"].flops == 2 * SEQ * (2 * 2816 / 2) * 1024  # gate and up
    assert k["activation"].bytes == 6 * SEQ * 2816 / 2  # reads gate and up, writes one
    assert "rope" not in by_name(layer_kernels(step(), moe=False).forward)


def test_fp8_runs_the_linear_layers_only_at_the_fp8_peak() -> None:
    layer = layer_kernels(step(precision=Precision.FP8), moe=False)
    for kernel in (*layer.forward, *layer.backward):
        if kernel.flops:
            assert kernel.peak_flops == (FP8 if kernel.name in LINEAR else BF16)
    assert {k.peak_flops for k in output_kernels(step(precision=Precision.FP8)) if k.flops} == {BF16}
    moe = by_name(layer_kernels(step(MOE, precision=Precision.FP8), moe=True).forward)
    assert moe["router"].peak_flops == BF16 and moe["experts up"].peak_flops == FP8


def test_fp8_casts_every_linear_input_and_output_gradient_as_transformer_engine_does() -> None:
    bf16, fp8 = (layer_kernels(step(precision=p), moe=False) for p in (Precision.BF16, Precision.FP8))
    assert not any(k.name.startswith("fp8 cast") for k in (*bf16.forward, *bf16.backward))
    fwd, bwd = by_name(fp8.forward), by_name(fp8.backward)
    tokens, h, f = SEQ, 1024, 4096
    # bf16 read, FP8 and its transpose written: 4 bytes an element; weights once a step (1 micro-batch here)
    assert fwd["fp8 cast mlp up"].bytes == 4 * tokens * h and fwd["fp8 cast mlp down"].bytes == 4 * tokens * f
    assert fwd["fp8 cast mlp up weight"].bytes == fwd["fp8 cast mlp down weight"].bytes == 4 * f * h
    assert bwd["fp8 cast mlp up grad"].bytes == 4 * tokens * f and bwd["fp8 cast qkv grad"].bytes == 4 * tokens * 3 * h
    # FP8 operands are 1 byte; the output stays bf16
    assert fwd["mlp up"].bytes == tokens * h + h * f + 2 * tokens * f
    assert by_name(bf16.forward)["mlp up"].bytes == 2 * (tokens * h + h * f) + 2 * tokens * f


def test_pruning_shrinks_the_linear_layers_not_attention() -> None:
    dense = by_name(layer_kernels(step(), moe=False).forward)
    pruned = by_name(layer_kernels(step(pruned_fraction=0.25), moe=False).forward)
    for name in LINEAR:
        assert pruned[name].flops == pytest.approx(0.75 * dense[name].flops, rel=1e-12)
    assert pruned["flash attention"].flops == dense["flash attention"].flops


def test_a_micro_batch_of_two_sequences_is_twice_the_attention_work() -> None:
    one = by_name(layer_kernels(step(), moe=False).forward)["flash attention"]
    two = by_name(layer_kernels(step(micro_batch_size=2), moe=False).forward)["flash attention"]
    assert two.flops == 2 * one.flops
    assert two.bytes == 2 * one.bytes


# --- mixture of experts -------------------------------------------------------------------------------------------

MOE = TransformerModel(name="moe", layers=2, hidden=1024, heads=16, vocab=1000, mlp="swiglu", bias=False,
                       experts=8, top_k=2, shared_experts=1, expert_ffn_hidden=512)


def test_moe_kernels_by_hand() -> None:
    layer = layer_kernels(step(MOE, tp=2, dp=4, ep=2, capacity_factor=1.25), moe=True)
    k = by_name(layer.forward)
    routed, f = SEQ * 2 * 1.25, 512 / 2  # token slots on this GPU's experts; expert width per GPU
    assert k["router"].flops == 2 * SEQ * 8 * 1024
    assert k["experts up"].flops == 2 * routed * (2 * f) * 1024 and k["experts up"].launches == 4
    assert k["experts down"].flops == 2 * routed * 1024 * f and k["experts down"].launches == 4
    assert k["expert activation"].bytes == 6 * routed * f
    assert k["shared expert up"].flops == 2 * SEQ * (2 * f) * 1024
    assert "mlp up" not in k
    assert "router" not in by_name(layer_kernels(step(MOE, tp=2), moe=False).forward)  # a leading dense layer


def test_expert_parallelism_changes_launches_not_work() -> None:
    one = by_name(layer_kernels(step(MOE, dp=8), moe=True).forward)
    spread = by_name(layer_kernels(step(MOE, dp=8, ep=8), moe=True).forward)
    assert spread["experts up"].flops == one["experts up"].flops  # balanced routing: the same slots per GPU
    assert (one["experts up"].launches, spread["experts up"].launches) == (8, 1)


# --- the output layer, and the whole model --------------------------------------------------------------------------


def test_output_layer_and_loss_by_hand() -> None:
    kernels = output_kernels(step(tp=4))
    assert [k.name for k in kernels] == ["logits", "cross-entropy", "logits", "cross-entropy"]
    logits, loss, logits_back, loss_again = kernels
    assert logits.flops == 2 * SEQ * (1000 / 4) * 1024 and logits.peak_flops == BF16
    assert loss.bytes == 8 * SEQ * 1000 / 4 and loss_again == loss
    assert logits_back.flops == 2 * logits.flops


def forward_flops(kernels: LayerKernels) -> float:
    return sum(k.flops for k in kernels.forward)


@settings(max_examples=40, deadline=None)
@given(heads=st.sampled_from([4, 8, 16]), head_dim=st.sampled_from([32, 64]), group=st.sampled_from([1, 2, 4]),
       swiglu=st.booleans(), experts=st.sampled_from([0, 4, 8]), seq_len=st.sampled_from([256, 1024]))
def test_unfused_kernels_add_up_to_the_model_flop_count(heads: int, head_dim: int, group: int, swiglu: bool,
                                                        experts: int, seq_len: int) -> None:
    hidden = heads * head_dim
    model = TransformerModel(
        name="m", layers=3, hidden=hidden, heads=heads, kv_heads=heads // group, ffn_hidden=3 * hidden, vocab=500,
        mlp="swiglu" if swiglu else "gelu", norm="rmsnorm", bias=False, position="rope", tied_embeddings=False,
        experts=experts, top_k=2 if experts else 0, shared_experts=1 if experts else 0,
    )
    one = step(model, flash=False, seq_len=seq_len)
    per_layer = forward_flops(layer_kernels(one, moe=model.is_moe))
    output = sum(k.flops for k in output_kernels(one)[:1])
    # forward_flops_per_token counts 2 FLOPs per active weight, and the RMSNorm weights (2 per layer, 1 final)
    # are weights too although no matmul touches them
    norms = 2.0 * (model.layers * 2 * hidden + hidden)
    expected = forward_flops_per_token(model, seq_len) - norms
    assert (model.layers * per_layer + output) / seq_len == pytest.approx(expected, rel=1e-12)
