"""Training memory per GPU on the busiest pipeline stage: weights, gradients, optimizer state, activations.

Mixed-precision Adam keeps 2 + 2 + 12 bytes per parameter (bf16 weights and gradients, fp32 master weights,
momentum and variance); ZeRO shards them over data parallelism. Activations follow Korthikanti et al. 2022,
generalised from GPT's 34*h bytes per token per layer to any attention and MLP width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.models.workload.parallelism import Recompute, RecomputeModule
from simulator.models.workload.pipeline import FloatArray, in_flight
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import MlpKind, norm_params, parameter_counts

WEIGHT_BYTES = 2.0  # bf16/fp16 weights used by the matmuls
GRAD_BYTES = 2.0  # bf16 gradients
OPTIMIZER_BYTES = 12.0  # fp32 master copy + Adam momentum + variance


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per GPU on the busiest pipeline stage, term by term."""

    weights_bytes: float
    gradients_bytes: float
    optimizer_bytes: float
    activations_bytes: float
    reserve_bytes: float
    capacity_bytes: float
    stage: int = 0  # the pipeline stage these figures are for

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
    """Stored activation bytes per token per layer without full recompute, as (TP-sharded, TP-replicated).

    GPT (f = 4h, a heads of h/a) with dropout gives 24h + 5*a*s sharded and 10h replicated, Korthikanti's
    eq. 2. Sharded: Q, K, V, attention output, MLP tensors (gate, up and activation output, or pre- and
    post-activation), the input copy of every routed expert in an MoE layer, and unless a fused (flash)
    kernel never stores them the softmax output (2 bytes per score) and with dropout its mask and output (3
    more). Replicated (sharded too under sequence parallelism): two norm inputs (4h), QKV and MLP inputs
    (4h), and with dropout two dropout masks (2h). Models trained without dropout store neither mask.
    `recompute_modules` drop what they rebuild (norm outputs; MLA's up-projected Q, K, V, keeping the
    latents; the MLP activation output), and `fp8_activations` keeps GEMM inputs in one byte where
    DeepSeek-V3 does (sec. 3.3.4: the attention output, the SwiGLU inputs and the experts' inputs).
    """
    m, lay = step.model, step.layout
    mla = m.latent_attention
    if mla is not None:
        q_width = k_width = m.heads * (mla.qk_nope_head_dim + mla.qk_rope_head_dim)
        v_width = m.heads * mla.v_head_dim
    else:
        q_width = m.heads * m.head_dim_
        k_width = v_width = m.kv_heads_ * m.head_dim_
    inner = (m.top_k + m.shared_experts) * m.expert_ffn_hidden_ if m.is_moe else m.ffn_hidden_
    gated = m.mlp is MlpKind.SWIGLU
    fp8 = 0.5 if lay.fp8_activations else 1.0  # one byte instead of two
    modules = set(lay.recompute_modules)
    qkv = 2.0 * (q_width + k_width + v_width)
    replicated = (10.0 if m.dropout else 8.0) * m.hidden
    if RecomputeModule.MLA_UP_PROJ in modules and mla is not None:  # keep the latents, rebuild Q, K, V
        qkv = 0.0
        replicated += 2.0 * ((mla.q_lora_rank or 0) + mla.kv_lora_rank + mla.qk_rope_head_dim)
    if RecomputeModule.NORM in modules:
        replicated -= 4.0 * m.hidden
    mlp_inputs = 2.0 * inner * (2 if gated else 1) * fp8  # gate and up outputs, or the pre-activation
    mlp_output = 0.0 if RecomputeModule.MLP_ACT in modules else 2.0 * inner
    experts = 2.0 * m.top_k * step.capacity_factor * m.hidden * fp8 if m.is_moe else 0.0
    out_width = m.heads * (m.head_dim_ if mla is None else mla.v_head_dim)  # attention output
    sharded = qkv + 2.0 * out_width * fp8 + mlp_inputs + mlp_output + experts
    if not step.flash_attention:
        sharded += score_bytes(step)
    return sharded, replicated


def score_bytes(step: TrainingStep) -> float:
    """Bytes per token per layer that an unfused attention stores for its score matrix: the softmax output,
    and with dropout the mask and dropped output (Korthikanti's 5as)."""
    return (5.0 if step.model.dropout else 2.0) * step.model.heads * step.seq_len


def layer_activation_bytes(step: TrainingStep) -> float:
    """Bytes one transformer layer stores for one micro-batch on one GPU, after recompute and TP/SP sharding."""
    lay = step.layout
    tokens = step.seq_len * lay.micro_batch_size / lay.cp
    sharded, replicated = activation_bytes_per_token_layer(step)
    if lay.activation_recompute is Recompute.FULL:  # only the layer's input is kept
        return tokens * 2.0 * step.model.hidden / (lay.tp if lay.sequence_parallel else 1)
    if lay.activation_recompute is Recompute.SELECTIVE and not step.flash_attention:
        sharded -= score_bytes(step)
    return tokens * (sharded / lay.tp + replicated / (lay.tp if lay.sequence_parallel else 1))


def stage_activation_bytes(step: TrainingStep) -> FloatArray:
    """Activations each pipeline stage holds at its peak: its layers for every micro-batch in flight under
    the schedule (simulator/models/workload/pipeline.py), one layer rebuilt under full recompute, and the
    fp32 logits of the micro-batch in its loss on the last stage."""
    lay, m = step.layout, step.model
    tokens = step.seq_len * lay.micro_batch_size / lay.cp
    held = np.array(step.stage_layers) * layer_activation_bytes(step)
    held *= in_flight(lay.schedule, lay.pp, lay.virtual_stages, step.micro_batches)
    if lay.activation_recompute is Recompute.FULL:
        sharded, replicated = activation_bytes_per_token_layer(step)
        held += tokens * (sharded / lay.tp + replicated / (lay.tp if lay.sequence_parallel else 1))
    held[-1] += tokens * 4.0 * m.vocab / lay.tp
    return held


def training_memory(step: TrainingStep, reserve_bytes: float) -> MemoryBreakdown:
    """Per-GPU memory of the busiest pipeline stage; `reserve_bytes` covers the framework, CUDA context and
    allocator fragmentation. ZeRO shards dense state over dp (and cp) and expert state over dp / ep (the
    replicas of each expert)."""
    return zero_stage_memories(step, reserve_bytes, (step.layout.zero_stage,))[0]


def zero_stage_memories(step: TrainingStep, reserve_bytes: float,
                        zero_stages: tuple[int, ...]) -> list[MemoryBreakdown]:
    """`training_memory` of the step at each of `zero_stages` (its own stage ignored), the activations and
    the stages' parameters worked out once (the layout search sizes three ZeRO stages of every shape)."""
    lay = step.layout
    dense, expert = step.stage_params
    activations = stage_activation_bytes(step)

    def sharded(per_param: float, from_stage: int, zero_stage: int) -> FloatArray:
        if zero_stage < from_stage:
            return (dense + expert) * per_param
        return dense * per_param / (lay.dp * lay.cp) + expert * per_param / (lay.dp // lay.ep)

    found = []
    for zero in zero_stages:
        terms = np.stack([sharded(WEIGHT_BYTES, 3, zero), sharded(GRAD_BYTES, 2, zero),
                          sharded(OPTIMIZER_BYTES, 1, zero), activations])
        busiest = int(np.argmax(terms.sum(axis=0)))
        weights, gradients, optimizer, held = (float(x) for x in terms[:, busiest])
        found.append(MemoryBreakdown(
            weights_bytes=weights, gradients_bytes=gradients, optimizer_bytes=optimizer, activations_bytes=held,
            reserve_bytes=reserve_bytes, capacity_bytes=step.accelerator.hbm_bytes, stage=busiest,
        ))
    return found


def memory_floor_bytes(step: TrainingStep, reserve_bytes: float) -> float:
    """A cheap figure no `training_memory` of the step's layout undercuts, at any ZeRO stage: the mean stage
    (the busiest holds at least the mean) with the transformer layers' state fully sharded over every GPU
    (expert state over dp alone, which is more), no embedding or output weights, and the activations of its
    layers and logits without full recompute's rebuilt layer. The layout search rejects most layouts that do not
    fit by it before sizing them stage by stage."""
    lay, m = step.layout, step.model
    counts = parameter_counts(m)
    layer_params = (counts.total - counts.embedding - norm_params(m, m.hidden)) * (1.0 - step.pruned_fraction)
    state = layer_params * (WEIGHT_BYTES + GRAD_BYTES + OPTIMIZER_BYTES) / (lay.tp * lay.cp * lay.dp)
    held = float(np.dot(step.stage_layers, in_flight(lay.schedule, lay.pp, lay.virtual_stages, step.micro_batches)))
    logits = step.seq_len * lay.micro_batch_size / lay.cp * 4.0 * m.vocab / lay.tp
    return reserve_bytes + (state + held * layer_activation_bytes(step) + logits) / lay.pp
