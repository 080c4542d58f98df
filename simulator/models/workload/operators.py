"""The kernels one GPU runs for one micro-batch: per transformer layer (forward, backward, recomputation)
and for the output layer and loss. Shapes follow Megatron-LM's sharding: tensor parallelism splits heads
and MLP columns, sequence parallelism splits norms and residuals, context parallelism splits the sequence,
expert parallelism splits experts.

Byte counts are bf16 activations read and written once per operator; the backward pass of a GEMM is two
GEMMs (input and weight gradients), of a memory-bound operator twice its forward traffic. Each memory-bound
operator carries its access pattern (`MemoryKind`): Megatron's fused scale-mask-softmax, layer/RMS norms and the
fused cross-entropy are normalising, dropout, residual adds and FP8 casts streaming, bias-GeLU / SwiGLU
activations, RoPE rotary. Fused attention runs at its measured efficiency (`Accelerator.fused_attention`).
Dropout kernels and masks exist only for models trained with dropout. FP8 follows Transformer Engine: the linear
layers' GEMMs (forward, dgrad, wgrad) at the FP8 peak with their casts; attention, router, output layer in BF16.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.models.hardware import MemoryKind, Precision
from simulator.models.workload.kernels import Kernel, elementwise, gemm
from simulator.models.workload.parallelism import Recompute, RecomputeModule
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import MlpKind, PositionKind, attention_params


@dataclass(frozen=True)
class LayerKernels:
    """Kernels of one layer for one micro-batch on one GPU."""

    forward: tuple[Kernel, ...]
    backward: tuple[Kernel, ...]
    recompute: tuple[Kernel, ...]  # forward work repeated before the backward pass


@dataclass(frozen=True)
class _Linear:
    """A linear layer's GEMM, (m x k) activations against a (k x n) weight, `launches` times (one per expert)."""

    name: str
    m: float
    n: float
    k: float
    launches: int = 1


def _peaks(step: TrainingStep) -> tuple[float, float]:
    """(peak for the linear layers, peak for attention and the output layer)."""
    acc = step.accelerator
    dense = acc.peak_flops(Precision.BF16)
    linear = acc.peak_flops(step.precision)
    if dense is None or linear is None:
        raise ValueError(f"{acc.name} has no {step.precision.value} tensor peak")
    if step.structured_sparsity:
        linear *= 2.0
    return linear, dense


def _backward(kernels: list[Kernel]) -> list[Kernel]:
    """A GEMM's backward is two GEMMs of its size; a memory-bound operator's moves twice the bytes."""
    return [k.scaled(2.0) for k in kernels]


def _attention_core(step: TrainingStep, tokens: float) -> tuple[list[Kernel], list[Kernel]]:
    """Score and value products with softmax: (forward, backward). `tokens` are this GPU's queries."""
    m, lay = step.model, step.layout
    heads = m.heads / lay.tp
    mla = m.latent_attention
    qk_dim = (mla.qk_nope_head_dim + mla.qk_rope_head_dim) if mla else m.head_dim_
    v_dim = mla.v_head_dim if mla else m.head_dim_
    kv_heads = m.heads / lay.tp if mla else max(1.0, m.kv_heads_ / lay.tp)
    context = float(step.seq_len)  # every query attends over the whole sequence (ring attention with CP)
    _, peak = _peaks(step)
    # reads Q (this GPU's queries) and K, V (the whole sequence of each of the micro-batch's sequences),
    # writes the output
    kv_tokens = context * lay.micro_batch_size
    qkv_out_bytes = 2.0 * (tokens * heads * (qk_dim + v_dim) + kv_tokens * kv_heads * (qk_dim + v_dim))
    if step.flash_attention:
        # fused kernel; causal masking skips half the blocks. Backward recomputes the scores: 2.5x forward. FLOPs
        # counted as FlashAttention's authors count them, so their measured efficiencies apply as they are.
        flops = 2.0 * tokens * context * heads * (qk_dim + v_dim) * 0.5
        measured = step.accelerator.attention_efficiency(step.attention_kernel)
        fused = Kernel("flash attention", flops, qkv_out_bytes, peak, compute_efficiency=measured.forward)
        return [fused], [fused.scaled(2.5, measured.backward)]
    scores = tokens * context * heads  # elements of the score matrix
    # Megatron's scaled_upper_triang_masked_softmax (megatron/fused_kernels/scaled_upper_triang_masked_softmax.h,
    # 2020-23, later Apex): row i reads its i + 1 unmasked scores and writes the whole row (zeros above the
    # diagonal); the backward reads output and gradient in the same triangle and writes whole rows. So per score,
    # forward reads 1 byte on average and writes 2; backward reads 2 and writes 2. The score GEMMs (baddbmm, bmm)
    # still compute and write the full matrix.
    forward = [Kernel("attention scores", 2.0 * scores * qk_dim, 2.0 * scores + qkv_out_bytes / 2, peak),
               elementwise("scale-mask-softmax", 3.0 * scores, MemoryKind.NORMALISING)]
    values = Kernel("attention values", 2.0 * scores * v_dim, 2.0 * scores + qkv_out_bytes / 2, peak)
    backward = [values.scaled(2.0), elementwise("softmax backward", 4.0 * scores, MemoryKind.NORMALISING),
                forward[0].scaled(2.0)]
    if step.model.dropout:  # torch dropout on the probabilities: bf16 in, bf16 out and a bool mask; and back
        forward.append(elementwise("attention dropout", 5.0 * scores, MemoryKind.STREAMING))
        backward.insert(1, elementwise("dropout backward", 5.0 * scores, MemoryKind.STREAMING))
    return [*forward, values], backward


def _mlp(step: TrainingStep, tokens: float, moe: bool) -> list[_Linear | Kernel]:
    """Feed-forward linear layers and activation of a dense or mixture-of-experts layer (forward). The router
    runs in BF16 under FP8 too (Megatron's TopKRouter is a plain linear; DeepSeek-V3 sec. 3.3.1 keeps the
    gating module in BF16/FP32)."""
    m, lay = step.model, step.layout
    _, dense = _peaks(step)
    keep = 1.0 - step.pruned_fraction
    gated = 2 if m.mlp is MlpKind.SWIGLU else 1
    act_bytes = (6.0 if gated == 2 else 4.0)
    if not moe:
        f = m.ffn_hidden_ * keep / lay.tp
        return [_Linear("mlp up", tokens, gated * f, m.hidden),
                elementwise("activation", act_bytes * tokens * f, MemoryKind.ACTIVATION),
                _Linear("mlp down", tokens, m.hidden, f)]
    f = m.expert_ffn_hidden_ * keep / lay.tp
    local_experts = int(m.experts / lay.ep)
    routed = tokens * m.top_k * step.capacity_factor  # token slots this GPU's experts process (balanced)
    kernels: list[_Linear | Kernel] = [
        gemm("router", tokens, m.experts, m.hidden, dense),
        _Linear("experts up", routed, gated * f, m.hidden, local_experts),
        elementwise("expert activation", act_bytes * routed * f, MemoryKind.ACTIVATION),
        _Linear("experts down", routed, m.hidden, f, local_experts),
    ]
    if m.shared_experts:
        shared = m.shared_experts * f
        kernels += [_Linear("shared expert up", tokens, gated * shared, m.hidden),
                    _Linear("shared expert down", tokens, m.hidden, shared)]
    return kernels


def _linear_layers(step: TrainingStep, layers: list[_Linear | Kernel],
                   ) -> tuple[list[Kernel], list[Kernel], list[Kernel], list[Kernel]]:
    """(forward kernels, activation casts, gradient casts, weight casts) of `layers`: each linear layer a GEMM
    at the linear peak, other kernels as they are. Under FP8, Transformer Engine (docs: "Using FP8 with
    Transformer Engine") runs forward, dgrad and wgrad GEMMs on FP8 operands (1 byte) with a bf16 output, and
    casts each GEMM input with a fused cast-transpose (bf16 read, FP8 and its transpose written for the wgrad
    GEMM: 4 bytes an element): the activations in the forward, the output gradient in the backward. Its amax is
    reduced inside the cast kernel (delayed scaling; one small all-reduce of amaxes per step, not priced).
    Weights are cast once a step (TE caches FP8 weights after the first micro-batch), priced spread over the
    micro-batches and never recomputed. DeepSeek-V3's fine-grained scaling (1x128 activation tiles, 128x128
    weight blocks, report sec. 3.3) adds one fp32 scale per 128 values to the same casts: not priced apart."""
    linear, _ = _peaks(step)
    fp8 = step.precision is Precision.FP8
    kernels: list[Kernel] = []
    activations: list[Kernel] = []
    gradients: list[Kernel] = []
    weights: list[Kernel] = []
    for layer in layers:
        if isinstance(layer, Kernel):
            kernels.append(layer)
            continue
        m, n, k, launches = layer.m, layer.n, layer.k, layer.launches
        kernels.append(gemm(layer.name, m, n, k, linear, step.precision.bytes, launches))
        if fp8:
            activations.append(elementwise(f"fp8 cast {layer.name}", 4.0 * m * k, MemoryKind.STREAMING, launches))
            gradients.append(elementwise(f"fp8 cast {layer.name} grad", 4.0 * m * n, MemoryKind.STREAMING,
                                         launches))
            weights.append(elementwise(f"fp8 cast {layer.name} weight", 4.0 * n * k / step.micro_batches,
                                       MemoryKind.STREAMING, launches))
    return kernels, activations, gradients, weights


def layer_kernels(step: TrainingStep, moe: bool) -> LayerKernels:
    """One transformer layer (a mixture-of-experts one if `moe`) for one micro-batch on one GPU."""
    m, lay = step.model, step.layout
    tokens = step.seq_len * lay.micro_batch_size / lay.cp  # rows of every GEMM (SP gathers them first)
    local = tokens / (lay.tp if lay.sequence_parallel else 1)  # rows of norms and residual adds
    keep = 1.0 - step.pruned_fraction
    h = m.hidden
    out_width = m.heads * (m.latent_attention.v_head_dim if m.latent_attention else m.head_dim_)
    if m.latent_attention is None:
        qkv_width = float(m.heads * m.head_dim_ + 2 * m.kv_heads_ * m.head_dim_)
    else:  # low-rank projections: their weights per model width (norms and the like are negligible)
        qkv_width = (attention_params(m) - out_width * h) / h
    attn_fwd, attn_bwd = _attention_core(step, tokens)
    norms = [elementwise("norm", 4.0 * local * h, MemoryKind.NORMALISING)] * 2
    # Megatron's fused bias-dropout-add also writes the dropout mask (1 byte an element) when training with dropout
    residual_bytes = (7.0 if m.dropout else 6.0) * local * h
    residuals = [elementwise("residual add", residual_bytes, MemoryKind.STREAMING)] * 2
    rope = []
    if m.position is PositionKind.ROPE:  # rotates queries and keys
        rope = [elementwise("rope", 4.0 * tokens * (m.heads + m.kv_heads_) * m.head_dim_ / lay.tp, MemoryKind.ROTARY)]
    linear_fwd, casts_fwd, casts_bwd, weight_casts = _linear_layers(step, [
        _Linear("qkv", tokens, qkv_width * keep / lay.tp, h),
        _Linear("attention out", tokens, h, out_width * keep / lay.tp),
        *_mlp(step, tokens, moe)])
    other_fwd = norms + residuals + rope
    recomputable = linear_fwd + attn_fwd + other_fwd + casts_fwd
    backward = _backward(linear_fwd) + attn_bwd + _backward(other_fwd) + casts_bwd
    # Megatron-LM's recompute: full re-runs the layer's forward from its checkpointed input (CheckpointFunction,
    # with the RNG state restored so dropout draws the same masks); selective (Korthikanti et al. sec. 4.2)
    # re-runs the core attention (scores, softmax, dropout, values) only where it is unfused; with flash
    # attention legacy Megatron recomputes nothing (megatron/legacy/model/transformer.py), while Megatron Core
    # still checkpoints the flash kernel ("core_attn" in recompute_modules), an extra attention forward not
    # priced here.
    recompute: list[Kernel] = []
    if lay.activation_recompute is Recompute.FULL:
        recompute = recomputable
    else:
        if lay.activation_recompute is Recompute.SELECTIVE and not step.flash_attention:
            recompute = list(attn_fwd)
        recompute += _module_recompute(step, tokens, norms, linear_fwd)
    return LayerKernels(tuple(recomputable + weight_casts), tuple(backward), tuple(recompute))


def _module_recompute(step: TrainingStep, tokens: float, norms: list[Kernel], linear_fwd: list[Kernel],
                      ) -> list[Kernel]:
    """Forward kernels that `recompute_modules` repeat before the backward pass: the norms, MLA's
    up-projections of the query and key/value latents (DeepSeek-V3 sec. 3.3.4), the MLP activation."""
    m, lay = step.model, step.layout
    modules = set(lay.recompute_modules)
    kernels: list[Kernel] = []
    if RecomputeModule.NORM in modules:
        kernels += norms
    mla = m.latent_attention
    if RecomputeModule.MLA_UP_PROJ in modules and mla is not None:
        linear, _ = _peaks(step)
        heads = m.heads * (1.0 - step.pruned_fraction) / lay.tp
        q_in = mla.q_lora_rank or m.hidden
        kernels += [gemm("mla q up-projection", tokens, heads * (mla.qk_nope_head_dim + mla.qk_rope_head_dim), q_in,
                         linear, step.precision.bytes),
                    gemm("mla kv up-projection", tokens, heads * (mla.qk_nope_head_dim + mla.v_head_dim),
                         mla.kv_lora_rank, linear, step.precision.bytes)]
    if RecomputeModule.MLP_ACT in modules:
        kernels += [k for k in linear_fwd if k.kind is MemoryKind.ACTIVATION]
    return kernels


def output_kernels(step: TrainingStep) -> list[Kernel]:
    """Output layer and cross-entropy loss for one micro-batch on the last stage: forward and backward."""
    m, lay = step.model, step.layout
    tokens = step.seq_len * lay.micro_batch_size / lay.cp
    vocab = m.vocab / lay.tp
    _, peak = _peaks(step)
    logits = gemm("logits", tokens, vocab, m.hidden, peak)
    # fused cross-entropy: bf16 logits read, fp32 softmax statistics, bf16 gradient written
    loss = elementwise("cross-entropy", 8.0 * tokens * vocab, MemoryKind.NORMALISING)
    return [logits, loss, *_backward([logits]), loss]
