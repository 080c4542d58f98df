"""simulator/models/workload/memory.py against Korthikanti et al. 2022 (activations) and ZeRO (Rajbhandari 2020)."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.catalog import accelerator
from simulator.models.hardware import Precision
from simulator.models.workload.memory import (
    activation_bytes_per_token_layer,
    stage_activation_bytes,
    training_memory,
)
from simulator.models.workload.parallelism import Parallelism, Recompute
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import TransformerModel, parameter_counts

A100 = accelerator("a100-80gb-sxm")

# GPT shapes (MHA, f = 4h): Korthikanti's 22B and Narayanan's 39.1B and 145.6B.
GPT_SHAPES = [(48, 6144, 64), (48, 8192, 64), (80, 12288, 96)]


def gpt(layers: int, hidden: int, heads: int) -> TransformerModel:
    return TransformerModel(name="gpt", layers=layers, hidden=hidden, heads=heads, vocab=51200, max_seq_len=2048,
                            dropout=True)


def activation_bytes(step: TrainingStep) -> float:
    """The first pipeline stage's peak activations (the busiest under 1F1B)."""
    return float(stage_activation_bytes(step)[0])


def make_step(m: TransformerModel, seq_len: int = 2048, micro_batches: int = 8, flash: bool = False,
              **layout: Any) -> TrainingStep:
    return TrainingStep(
        model=m, accelerator=A100, precision=Precision.BF16, layout=Parallelism(**layout), seq_len=seq_len,
        micro_batches=micro_batches, flash_attention=flash,
    )


def logits_bytes(step: TrainingStep) -> float:
    """What activation_bytes adds for pp == 1: fp32 logits of one micro-batch, vocab-sharded over TP."""
    lay = step.layout
    return step.seq_len * lay.micro_batch_size * 4.0 * step.model.vocab / lay.tp


# --- Korthikanti et al. 2022 ----------------------------------------------------------------------------


@pytest.mark.parametrize(("layers", "h", "a"), GPT_SHAPES)
@pytest.mark.parametrize("s", [512, 2048])
def test_per_token_layer_matches_korthikanti_eq2(layers: int, h: int, a: int, s: int) -> None:
    sharded, replicated = activation_bytes_per_token_layer(make_step(gpt(layers, h, a), seq_len=s))
    assert sharded == 24 * h + 5 * a * s
    assert replicated == 10 * h


@pytest.mark.parametrize(("layers", "h", "a"), GPT_SHAPES)
def test_flash_attention_drops_the_score_term(layers: int, h: int, a: int) -> None:
    sharded, replicated = activation_bytes_per_token_layer(make_step(gpt(layers, h, a), flash=True))
    assert (sharded, replicated) == (24 * h, 10 * h)


@pytest.mark.parametrize(("layers", "h", "a"), GPT_SHAPES)
@pytest.mark.parametrize("t", [1, 2, 8])
@pytest.mark.parametrize("b", [1, 4])
def test_tp_without_sp_matches_korthikanti_eq2(layers: int, h: int, a: int, t: int, b: int) -> None:
    s = 2048
    step = make_step(gpt(layers, h, a), tp=t, micro_batch_size=b, sequence_parallel=False,
                     activation_recompute=Recompute.NONE)
    per_layer = s * b * h * (10 + 24 / t + 5 * a * s / (h * t))
    assert activation_bytes(step) - logits_bytes(step) == pytest.approx(layers * per_layer, rel=1e-12)


@pytest.mark.parametrize(("layers", "h", "a"), GPT_SHAPES)
@pytest.mark.parametrize("t", [1, 2, 8])
def test_tp_with_sp_matches_korthikanti_eq4(layers: int, h: int, a: int, t: int) -> None:
    s, b = 2048, 1
    step = make_step(gpt(layers, h, a), tp=t, micro_batch_size=b, sequence_parallel=True,
                     activation_recompute=Recompute.NONE)
    per_layer = s * b * (34 * h + 5 * a * s) / t
    assert activation_bytes(step) - logits_bytes(step) == pytest.approx(layers * per_layer, rel=1e-12)


@pytest.mark.parametrize(("layers", "h", "a"), GPT_SHAPES)
@pytest.mark.parametrize("t", [1, 4, 8])
@pytest.mark.parametrize("flash", [False, True])
def test_selective_recompute_with_sp_matches_korthikanti_eq6(layers: int, h: int, a: int, t: int, flash: bool) -> None:
    s, b = 2048, 2
    step = make_step(gpt(layers, h, a), tp=t, micro_batch_size=b, sequence_parallel=True,
                     activation_recompute=Recompute.SELECTIVE, flash=flash)
    assert activation_bytes(step) - logits_bytes(step) == pytest.approx(layers * s * b * 34 * h / t, rel=1e-12)


@pytest.mark.parametrize("t", [1, 8])
def test_full_recompute_keeps_layer_inputs_plus_one_rebuilt_layer(t: int) -> None:
    layers, h, a = GPT_SHAPES[1]
    s = 2048
    step = make_step(gpt(layers, h, a), tp=t, sequence_parallel=True, activation_recompute=Recompute.FULL)
    expected = s * (layers * 2 * h / t + (34 * h + 5 * a * s) / t)
    assert activation_bytes(step) - logits_bytes(step) == pytest.approx(expected, rel=1e-12)


def test_pipeline_first_stage_holds_pp_micro_batches_of_its_layers() -> None:
    layers, h, a = GPT_SHAPES[1]
    s, pp = 2048, 4
    step = make_step(gpt(layers, h, a), tp=8, pp=pp, micro_batches=16, activation_recompute=Recompute.SELECTIVE)
    assert activation_bytes(step) == pytest.approx(s * 34 * h / 8 * (layers / pp) * pp, rel=1e-12)
    # fewer micro-batches than stages: only those are in flight
    few = make_step(gpt(layers, h, a), tp=8, pp=pp, micro_batches=2, activation_recompute=Recompute.SELECTIVE)
    assert activation_bytes(few) == pytest.approx(activation_bytes(step) / 2, rel=1e-12)


# --- weights, gradients, optimizer state ----------------------------------------------------------------


@pytest.mark.parametrize("tp", [1, 4])
@pytest.mark.parametrize("pp", [1, 2])
@pytest.mark.parametrize("dp", [1, 8])
@pytest.mark.parametrize("zero", [0, 1, 2, 3])
def test_state_bytes_per_parameter_and_zero_sharding(tp: int, pp: int, dp: int, zero: int) -> None:
    m = gpt(*GPT_SHAPES[0])
    step = make_step(m, tp=tp, pp=pp, dp=dp, zero_stage=zero)
    counts = parameter_counts(m)
    norm = 2 * m.hidden  # the final LayerNorm (scale and bias) sits on the last stage
    first = (counts.non_embedding - norm) / pp + counts.embedding
    last = (counts.non_embedding - norm) / pp + norm + m.vocab * m.hidden  # with a copy of the tied output
    params = (counts.total if pp == 1 else max(first, last)) / tp
    dense, expert = step.stage_params
    assert float((dense + expert).max()) == pytest.approx(params, rel=1e-12)
    mem = training_memory(step, reserve_bytes=3e9)
    assert mem.weights_bytes == pytest.approx(2 * params / (dp if zero >= 3 else 1), rel=1e-12)
    assert mem.gradients_bytes == pytest.approx(2 * params / (dp if zero >= 2 else 1), rel=1e-12)
    assert mem.optimizer_bytes == pytest.approx(12 * params / (dp if zero >= 1 else 1), rel=1e-12)
    assert mem.activations_bytes == stage_activation_bytes(step)[mem.stage]
    assert mem.reserve_bytes == 3e9
    assert mem.capacity_bytes == 80 * 2**30  # the A100 80GB: 81920 MiB
    parts = mem.weights_bytes + mem.gradients_bytes + mem.optimizer_bytes + mem.activations_bytes + 3e9
    assert mem.total_bytes == pytest.approx(parts, rel=1e-12)
    assert mem.headroom_bytes == pytest.approx(80 * 2**30 - mem.total_bytes, rel=1e-12)
    assert set(mem.terms()) == {"weights", "gradients", "optimizer", "activations", "reserve"}
    assert list(mem.terms().values()) == sorted(mem.terms().values(), reverse=True)


def test_sixteen_bytes_per_parameter_without_zero() -> None:
    m = gpt(*GPT_SHAPES[0])
    step = make_step(m, zero_stage=0)
    mem = training_memory(step, reserve_bytes=0.0)
    state = mem.weights_bytes + mem.gradients_bytes + mem.optimizer_bytes
    assert state == pytest.approx(16 * parameter_counts(m).total, rel=1e-12)
    assert mem.headroom_bytes < 0  # a 22B model's state alone (~350 GB) does not fit one 80 GB GPU


def test_more_zero_never_uses_more_memory() -> None:
    m = gpt(*GPT_SHAPES[0])
    totals = [training_memory(make_step(m, tp=8, dp=16, zero_stage=z), 2e9).total_bytes for z in range(4)]
    assert totals == sorted(totals, reverse=True)
    assert len(set(totals)) == 4


# --- monotonicity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("layers", "h", "a"), GPT_SHAPES)
@pytest.mark.parametrize("flash", [False, True])
@pytest.mark.parametrize(("tp", "pp", "sp"), [(1, 1, False), (8, 1, True), (8, 1, False), (4, 4, True)])
def test_recompute_order(layers: int, h: int, a: int, flash: bool, tp: int, pp: int, sp: bool) -> None:
    def act(mode: Recompute) -> float:
        return activation_bytes(make_step(gpt(layers, h, a), tp=tp, pp=pp, sequence_parallel=sp,
                                          activation_recompute=mode, flash=flash))

    full, selective, none = act(Recompute.FULL), act(Recompute.SELECTIVE), act(Recompute.NONE)
    assert full < selective <= none
    if not flash:
        assert selective < none
    else:
        assert selective == none


@pytest.mark.parametrize(("layers", "h", "a"), GPT_SHAPES)
@pytest.mark.parametrize("mode", list(Recompute))
@pytest.mark.parametrize("flash", [False, True])
@pytest.mark.parametrize("b", [1, 3])
def test_doubling_micro_batch_doubles_activations(layers: int, h: int, a: int, mode: Recompute, flash: bool,
                                                   b: int) -> None:
    def act(mbs: int) -> float:
        return activation_bytes(make_step(gpt(layers, h, a), tp=4, micro_batch_size=mbs, activation_recompute=mode,
                                          flash=flash))

    assert act(2 * b) == pytest.approx(2 * act(b), rel=1e-12)


def test_full_recompute_without_sp_keeps_replicated_part_whole() -> None:
    layers, h, a = GPT_SHAPES[1]
    s, t = 2048, 8
    step = make_step(gpt(layers, h, a), tp=t, sequence_parallel=False, activation_recompute=Recompute.FULL)
    # layer inputs are not sharded without SP (2h each); the rebuilt layer holds (24h + 5as)/t + 10h
    expected = s * (layers * 2 * h + (24 * h + 5 * a * s) / t + 10 * h)
    assert activation_bytes(step) - logits_bytes(step) == pytest.approx(expected, rel=1e-12)


# --- schedules, uneven stages, models without dropout ---------------------------------------------------


def test_models_without_dropout_store_no_masks() -> None:
    layers, h, a = GPT_SHAPES[1]
    plain = gpt(layers, h, a).model_copy(update={"dropout": False})
    s = 2048
    sharded, replicated = activation_bytes_per_token_layer(make_step(plain, seq_len=s))
    assert (sharded, replicated) == (24 * h + 2 * a * s, 8 * h)  # softmax output only; no dropout masks


@pytest.mark.parametrize("v", [2, 4])
def test_interleaved_first_stage_holds_megatron_warmup_chunks(v: int) -> None:
    layers, h, a = 64, 4096, 32
    pp, m = 4, 16
    base = make_step(gpt(layers, h, a), tp=8, pp=pp, micro_batches=m)
    inter = make_step(gpt(layers, h, a), tp=8, pp=pp, micro_batches=m, schedule="interleaved", virtual_stages=v)
    # Megatron's warm-up on rank 0: 2 (pp - 1) + (v - 1) pp forward chunks, plus the one in flight
    chunks = 2 * (pp - 1) + (v - 1) * pp + 1
    assert activation_bytes(inter) / activation_bytes(base) == pytest.approx(chunks / v / pp, rel=1e-12)
    # Korthikanti's approximation of the same: pp (1 + (pp - 1) / (pp v)) micro-batches
    assert chunks / v == pytest.approx(pp * (1 + (pp - 1) / (pp * v)), rel=1e-12)


def test_zero_bubble_holds_what_1f1b_holds_and_dualpipe_one_more_with_two_weight_copies() -> None:
    layers, h, a = 64, 4096, 32
    kwargs: dict[str, Any] = {"tp": 8, "pp": 4, "micro_batches": 16}
    one = make_step(gpt(layers, h, a), **kwargs)
    zb = make_step(gpt(layers, h, a), schedule="zero_bubble", **kwargs)
    dual = make_step(gpt(layers, h, a), schedule="dualpipe", **kwargs)
    assert stage_activation_bytes(zb).tolist() == stage_activation_bytes(one).tolist()
    assert activation_bytes(dual) == pytest.approx(activation_bytes(one) * 5 / 4, rel=1e-12)
    dense, dual_dense = one.stage_params[0], dual.stage_params[0]
    assert dual_dense.tolist() == pytest.approx((dense + dense[::-1]).tolist(), rel=1e-12)  # both directions
    assert dual_dense.sum() == pytest.approx(2 * dense.sum(), rel=1e-12)


def test_uneven_stages_move_layers_and_their_memory() -> None:
    layers, h, a = 30, 4096, 32
    even = make_step(gpt(layers, h, a), tp=8, pp=4, micro_batches=8)
    uneven = make_step(gpt(layers, h, a), tp=8, pp=4, micro_batches=8, first_stage_layers=6, last_stage_layers=6)
    assert even.stage_layers == (8, 8, 7, 7)
    assert uneven.stage_layers == (6, 9, 9, 6)
    per_layer = activation_bytes(even) / (8 * 4)
    assert activation_bytes(uneven) == pytest.approx(per_layer * 6 * 4, rel=1e-12)
    assert stage_activation_bytes(uneven)[1] == pytest.approx(per_layer * 9 * 3, rel=1e-12)
    assert training_memory(uneven, 0.0).stage == 1  # the busiest stage is no longer the first


# --- recompute modules and FP8 caching (DeepSeek-V3) -------------------------------------------------


def _deepseek(**layout: Any) -> TrainingStep:
    from simulator.catalog import model

    return TrainingStep(model=model("deepseek-v3"), accelerator=accelerator("h800-sxm"), precision=Precision.FP8,
                        layout=Parallelism(tp=1, pp=16, dp=128, ep=64, schedule="dualpipe", **layout), seq_len=4096,
                        micro_batches=120, flash_attention=True)


def test_recompute_modules_drop_exactly_what_they_rebuild() -> None:
    m = _deepseek().model
    mla = m.latent_attention
    assert mla is not None
    base_sharded, base_replicated = activation_bytes_per_token_layer(_deepseek())
    sharded, replicated = activation_bytes_per_token_layer(_deepseek(recompute_modules=["norm"]))
    assert (sharded, replicated) == (base_sharded, base_replicated - 4 * m.hidden)
    sharded, replicated = activation_bytes_per_token_layer(_deepseek(recompute_modules=["mla_up_proj"]))
    qkv = 2 * m.heads * (2 * (mla.qk_nope_head_dim + mla.qk_rope_head_dim) + mla.v_head_dim)
    latents = 2 * ((mla.q_lora_rank or 0) + mla.kv_lora_rank + mla.qk_rope_head_dim)
    assert (sharded, replicated) == (base_sharded - qkv, base_replicated + latents)
    sharded, _ = activation_bytes_per_token_layer(_deepseek(recompute_modules=["mlp_act"]))
    assert sharded == base_sharded - 2 * (m.top_k + m.shared_experts) * m.expert_ffn_hidden_


def test_fp8_caching_halves_the_inputs_deepseek_names() -> None:
    m = _deepseek().model
    base, _ = activation_bytes_per_token_layer(_deepseek())
    fp8, _ = activation_bytes_per_token_layer(_deepseek(fp8_activations=True))
    attention_out = 2 * m.heads * m.latent_attention.v_head_dim if m.latent_attention else 0
    swiglu_inputs = 2 * 2 * (m.top_k + m.shared_experts) * m.expert_ffn_hidden_
    expert_inputs = 2 * m.top_k * m.hidden
    assert base - fp8 == pytest.approx((attention_out + swiglu_inputs + expert_inputs) / 2)


def test_deepseek_v3_fits_with_its_own_settings_only() -> None:
    """Sec. 3.3.4: recompute of RMSNorm and MLA up-projections and FP8 caching let DualPipe's pp + 1 micro-batches
    fit without full recompute; without them it does not."""
    settings: dict[str, Any] = {"recompute_modules": ["norm", "mla_up_proj"], "fp8_activations": True}
    assert training_memory(_deepseek(**settings), 2 * 2**30).headroom_bytes >= 0
    assert training_memory(_deepseek(), 2 * 2**30).headroom_bytes < 0
