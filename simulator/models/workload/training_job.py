"""The pure description of one training job's step: model, hardware, precision, layout and batch.

Everything the memory and step-time models need, with derived batch arithmetic in one place.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from simulator.models.hardware import Accelerator, AttentionKernel, Precision
from simulator.models.workload.parallelism import Parallelism
from simulator.models.workload.pipeline import FloatArray, mirrored_stages, stage_layers
from simulator.models.workload.transformer import (
    TransformerModel,
    attention_params,
    mlp_params,
    norm_params,
    parameter_counts,
)


@dataclass(frozen=True)
class TrainingStep:
    """One optimizer step of a data/tensor/pipeline-parallel transformer training job."""

    model: TransformerModel
    accelerator: Accelerator
    precision: Precision
    layout: Parallelism
    seq_len: int
    micro_batches: int  # per data-parallel replica per step (gradient accumulation steps)
    flash_attention: bool = True  # attention scores never stored in HBM (fused kernel)
    attention_kernel: AttentionKernel = AttentionKernel.FLASH2  # which fused kernel, when flash_attention
    structured_sparsity: bool = False  # 2:4 sparse linear layers at twice the dense tensor peak
    pruned_fraction: float = 0.0  # fraction of linear-layer weights removed (memory and FLOPs shrink)
    capacity_factor: float = 1.0  # MoE expert slots per routed token (1 = dropless, balanced)

    @property
    def sequences_per_step(self) -> int:
        """Global batch in sequences."""
        return self.micro_batches * self.layout.micro_batch_size * self.layout.dp

    @property
    def tokens_per_step(self) -> int:
        """Global batch in tokens."""
        return self.sequences_per_step * self.seq_len

    @functools.cached_property
    def stage_layers(self) -> tuple[int, ...]:
        """Transformer layers on each pipeline stage."""
        lay = self.layout
        return stage_layers(self.model.layers, lay.pp, lay.first_stage_layers, lay.last_stage_layers)

    @functools.cached_property
    def stage_layer_kinds(self) -> tuple[FloatArray, FloatArray]:
        """(dense, MoE) layers on each stage: an MoE model's first `dense_layers` layers have a dense MLP."""
        per_stage = np.array(self.stage_layers, dtype=np.float64)
        if not self.model.is_moe:
            return per_stage, np.zeros_like(per_stage)
        starts = np.cumsum(per_stage) - per_stage
        dense = np.clip(self.model.dense_layers, starts, starts + per_stage) - starts
        return dense, per_stage - dense

    @functools.cached_property
    def stage_params(self) -> tuple[FloatArray, FloatArray]:
        """(dense, routed-expert) parameters one GPU of each stage holds before ZeRO sharding: its layers
        (the first `dense_layers` have no experts), the input embedding on the first stage, the output layer
        (a copy when tied) and final norm on the last; under DualPipe also the mirror stage's. TP shards
        them all; EP shards routed experts."""
        m, lay = self.model, self.layout
        counts = parameter_counts(m)
        keep = 1.0 - self.pruned_fraction
        dense_layers, moe_layers = self.stage_layer_kinds
        moe_count = max(1, m.layers - m.dense_layers)
        routed_per_layer = counts.routed_experts / moe_count
        dense_layer: float
        if m.is_moe:
            dense_layer = attention_params(m) + mlp_params(m, m.ffn_hidden_) + 2 * norm_params(m, m.hidden)
            moe_other = (counts.total - counts.embedding - norm_params(m, m.hidden) - m.dense_layers * dense_layer
                         - counts.routed_experts) / moe_count
        else:
            dense_layer = moe_other = counts.per_layer_total
        dense = (dense_layers * dense_layer + moe_layers * moe_other) * keep
        output = m.vocab * m.hidden + norm_params(m, m.hidden)
        dense[0] += counts.embedding - (m.vocab * m.hidden if not m.tied_embeddings else 0.0)
        dense[-1] += output if (lay.pp > 1 or not m.tied_embeddings) else norm_params(m, m.hidden)
        expert = moe_layers * routed_per_layer * keep / lay.ep
        if mirrored_stages(lay.schedule):  # rank i also runs stage pp - 1 - i of the other direction
            dense, expert = dense + dense[::-1], expert + expert[::-1]
        return dense / lay.tp, expert / lay.tp
