"""The kernels one GPU runs for one micro-batch: per transformer layer (forward, backward, recomputation)
and for the output layer and loss. Shapes follow Megatron-LM's sharding: tensor parallelism splits heads
and MLP columns, sequence parallelism splits norms and residuals, context parallelism splits the sequence,
expert parallelism splits experts.

Byte counts are bf16 activations read and written once per operator; the backward pass of a GEMM is two
GEMMs (input and weight gradients), of a memory-bound operator twice its forward traffic. Each memory-bound
operator carries its access pattern (`MemoryKind`): Megatron's fused scale-mask-softmax, layer/RMS norms and the
fused cross-entropy are normalising, dropout and residual adds streaming, bias-GeLU / SwiGLU activations, RoPE
rotary.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.models.hardware import MemoryKind, Precision
from simulator.models.workload.kernels import Kernel, elementwise, gemm
from simulator.models.workload.parallelism import Recompute
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import MlpKind, PositionKind, attention_params


@dataclass(frozen=True)
class LayerKernels:
    """Kernels of one layer for one micro-batch on one GPU."""

    forward: tuple[Kernel, ...]
    backward: tuple[Kernel, ...]
    recompute: tuple[Kernel, ...]  # forward work repeated before the backward pass


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
        # fused kernel; causal masking skips half the blocks. Backward recomputes the scores: 2.5x forward.
        flops = 2.0 * tokens * context * heads * (qk_dim + v_dim) * 0.5
        fused = Kernel("flash attention", flops, qkv_out_bytes, peak)
        return [fused], [fused.scaled(2.5)]
    scores = tokens * context * heads  # elements of the score matrix
    forward = [
        Kernel("attention scores", 2.0 * scores * qk_dim, 2.0 * scores + qkv_out_bytes / 2, peak),
        elementwise("scale-mask-softmax", 4.0 * scores, MemoryKind.NORMALISING),
        elementwise("attention dropout", 5.0 * scores, MemoryKind.STREAMING),
        Kernel("attention values", 2.0 * scores * v_dim, 2.0 * scores + qkv_out_bytes / 2, peak),
    ]
    backward = [forward[3].scaled(2.0), elementwise("dropout backward", 5.0 * scores, MemoryKind.STREAMING),
                elementwise("softmax backward", 6.0 * scores, MemoryKind.NORMALISING), forward[0].scaled(2.0)]
    return forward, backward


def _mlp(step: TrainingStep, tokens: float, moe: bool) -> list[Kernel]:
    """Feed-forward GEMMs and activation of a dense or mixture-of-experts layer (forward)."""
    m, lay = step.model, step.layout
    linear, _ = _peaks(step)
    keep = 1.0 - step.pruned_fraction
    gated = 2 if m.mlp is MlpKind.SWIGLU else 1
    act_bytes = (6.0 if gated == 2 else 4.0)
    if not moe:
        f = m.ffn_hidden_ * keep / lay.tp
        return [gemm("mlp up", tokens, gated * f, m.hidden, linear),
                elementwise("activation", act_bytes * tokens * f, MemoryKind.ACTIVATION),
                gemm("mlp down", tokens, m.hidden, f, linear)]
    f = m.expert_ffn_hidden_ * keep / lay.tp
    local_experts = m.experts / lay.ep
    routed = tokens * m.top_k * step.capacity_factor  # token slots this GPU's experts process (balanced)
    kernels = [
        gemm("router", tokens, m.experts, m.hidden, linear),
        gemm("experts up", routed, gated * f, m.hidden, linear, launches=int(local_experts)),
        elementwise("expert activation", act_bytes * routed * f, MemoryKind.ACTIVATION),
        gemm("experts down", routed, m.hidden, f, linear, launches=int(local_experts)),
    ]
    if m.shared_experts:
        shared = m.shared_experts * f
        kernels += [gemm("shared expert up", tokens, gated * shared, m.hidden, linear),
                    gemm("shared expert down", tokens, m.hidden, shared, linear)]
    return kernels


def layer_kernels(step: TrainingStep, moe: bool) -> LayerKernels:
    """One transformer layer (a mixture-of-experts one if `moe`) for one micro-batch on one GPU."""
    m, lay = step.model, step.layout
    tokens = step.seq_len * lay.micro_batch_size / lay.cp  # rows of every GEMM (SP gathers them first)
    local = tokens / (lay.tp if lay.sequence_parallel else 1)  # rows of norms and residual adds
    linear, _ = _peaks(step)
    keep = 1.0 - step.pruned_fraction
    h = m.hidden
    out_width = m.heads * (m.latent_attention.v_head_dim if m.latent_attention else m.head_dim_)
    if m.latent_attention is None:
        qkv_width = float(m.heads * m.head_dim_ + 2 * m.kv_heads_ * m.head_dim_)
    else:  # low-rank projections: their weights per model width (norms and the like are negligible)
        qkv_width = (attention_params(m) - out_width * h) / h
    attn_fwd, attn_bwd = _attention_core(step, tokens)
    norms = [elementwise("norm", 4.0 * local * h, MemoryKind.NORMALISING)] * 2
    residuals = [elementwise("residual add", 6.0 * local * h, MemoryKind.STREAMING)] * 2
    rope = []
    if m.position is PositionKind.ROPE:  # rotates queries and keys
        rope = [elementwise("rope", 4.0 * tokens * (m.heads + m.kv_heads_) * m.head_dim_ / lay.tp, MemoryKind.ROTARY)]
    linear_fwd = [gemm("qkv", tokens, qkv_width * keep / lay.tp, h, linear),
                  gemm("attention out", tokens, h, out_width * keep / lay.tp, linear),
                  *_mlp(step, tokens, moe)]
    other_fwd = norms + residuals + rope
    forward = linear_fwd + attn_fwd + other_fwd
    backward = _backward(linear_fwd) + attn_bwd + _backward(other_fwd)
    recompute: list[Kernel] = []
    if lay.activation_recompute is Recompute.FULL:
        recompute = forward
    elif lay.activation_recompute is Recompute.SELECTIVE and not step.flash_attention:
        recompute = attn_fwd
    return LayerKernels(tuple(forward), tuple(backward), tuple(recompute))


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
