"""Training memory per GPU on the busiest pipeline stage: weights, gradients, optimizer state, activations.

Mixed-precision Adam keeps 2 + 2 + 12 bytes per parameter (bf16 weights and gradients, fp32 master weights,
momentum and variance); ZeRO shards them over data parallelism. Activations follow Korthikanti et al. 2022,
generalised from GPT's 34*h bytes per token per layer to any attention and MLP width.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.models.workload.parallelism import Recompute
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import MlpKind

WEIGHT_BYTES = 2.0  # bf16/fp16 weights used by the matmuls
GRAD_BYTES = 2.0  # bf16 gradients
OPTIMIZER_BYTES = 12.0  # fp32 master copy + Adam momentum + variance


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per GPU on the busiest stage, term by term."""

    weights_bytes: float
    gradients_bytes: float
    optimizer_bytes: float
    activations_bytes: float
    reserve_bytes: float
    capacity_bytes: float

    @property
    def total_bytes(self) -> float:
        """Everything the GPU must hold at the peak of a step."""
        return (
            self.weights_bytes + self.gradients_bytes + self.optimizer_bytes
            + self.activations_bytes + self.reserve_bytes
        )

    @property
    def headroom_bytes(self) -> float:
        """Capacity left over (negative when the job does not fit)."""
        return self.capacity_bytes - self.total_bytes

    def terms(self) -> dict[str, float]:
        """The terms by name, largest first."""
        items = {
            "weights": self.weights_bytes, "gradients": self.gradients_bytes,
            "optimizer": self.optimizer_bytes, "activations": self.activations_bytes,
            "reserve": self.reserve_bytes,
        }
        return dict(sorted(items.items(), key=lambda kv: -kv[1]))


def activation_bytes_per_token_layer(step: TrainingStep) -> tuple[float, float]:
    """Stored activation bytes per token per layer without recompute, as (TP-sharded, TP-replicated).

    GPT (f = 4h, a heads of h/a) gives 24h + 5*a*s sharded and 10h replicated, Korthikanti's eq. 2.
    Sharded: Q, K, V, attention context, MLP activation tensors, attention scores unless a fused (flash)
    kernel never stores them. Replicated (sharded too under sequence parallelism): two layernorm inputs
    (4h), QKV and MLP inputs (4h), two dropout masks (2h).
    """
    m = step.model
    mla = m.latent_attention
    if mla is not None:
        q_width = k_width = m.heads * (mla.qk_nope_head_dim + mla.qk_rope_head_dim)
        v_width = m.heads * mla.v_head_dim
    else:
        q_width = m.heads * m.head_dim_
        k_width = v_width = m.kv_heads_ * m.head_dim_
    inner = (m.top_k + m.shared_experts) * m.expert_ffn_hidden_ if m.is_moe else m.ffn_hidden_
    mlp_tensors = 3 if m.mlp is MlpKind.SWIGLU else 2  # (gate, up, act) or (pre-, post-activation)
    sharded = 2.0 * (q_width + k_width + v_width + q_width) + 2.0 * mlp_tensors * inner
    if not step.flash_attention:
        sharded += 5.0 * m.heads * step.seq_len  # softmax output, dropout mask and output (Korthikanti)
    return sharded, 10.0 * m.hidden


def activation_bytes(step: TrainingStep) -> float:
    """Activations the first pipeline stage holds at its peak: its layers for every in-flight micro-batch
    (min(pp, micro_batches) under 1F1B), after recompute and TP/SP sharding, plus fp32 logits on the last
    stage when there is a single stage."""
    lay = step.layout
    tokens = step.seq_len * lay.micro_batch_size / lay.cp
    sharded, replicated = activation_bytes_per_token_layer(step)
    if lay.activation_recompute is Recompute.FULL:
        per_layer = 2.0 * step.model.hidden / (lay.tp if lay.sequence_parallel else 1)
    else:
        if lay.activation_recompute is Recompute.SELECTIVE and not step.flash_attention:
            sharded -= 5.0 * step.model.heads * step.seq_len
        per_layer = sharded / lay.tp + replicated / (lay.tp if lay.sequence_parallel else 1)
    layers_per_stage = -(-step.model.layers // lay.pp)
    # 1F1B: the first stage holds pp micro-batches; interleaving adds (pp - 1) / (pp x v) of a stage's worth
    in_flight = min(lay.pp, step.micro_batches) * (1 + (lay.pp - 1) / (lay.pp * lay.virtual_stages)
                                                   if lay.virtual_stages > 1 else 1)
    held = tokens * per_layer * layers_per_stage * in_flight
    if lay.activation_recompute is Recompute.FULL:
        rebuilt = sharded / lay.tp + replicated / (lay.tp if lay.sequence_parallel else 1)
        held += tokens * rebuilt  # one layer's activations rebuilt during its backward pass
    if lay.pp == 1:
        held += tokens * 4.0 * step.model.vocab / lay.tp  # fp32 logits for the loss
    return held


def training_memory(step: TrainingStep, reserve_bytes: float) -> MemoryBreakdown:
    """Per-GPU memory of the busiest stage; `reserve_bytes` covers the framework, CUDA context and
    allocator fragmentation. ZeRO shards dense state over dp and expert state over dp / ep (the replicas
    of each expert)."""
    lay = step.layout
    dense, expert = step.dense_params_per_gpu, step.expert_params_per_gpu

    def sharded(per_param: float, from_stage: int) -> float:
        if lay.zero_stage < from_stage:
            return (dense + expert) * per_param
        return dense * per_param / lay.dp + expert * per_param / (lay.dp // lay.ep)

    return MemoryBreakdown(
        weights_bytes=sharded(WEIGHT_BYTES, 3),
        gradients_bytes=sharded(GRAD_BYTES, 2),
        optimizer_bytes=sharded(OPTIMIZER_BYTES, 1),
        activations_bytes=activation_bytes(step),
        reserve_bytes=reserve_bytes,
        capacity_bytes=step.accelerator.hbm_bytes,
    )
