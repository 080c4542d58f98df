"""The pure description of one training job's step: model, hardware, precision, layout and batch.

Everything the memory and step-time models need, with derived batch arithmetic in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.models.hardware import Accelerator, Precision
from simulator.models.workload.parallelism import Parallelism
from simulator.models.workload.transformer import TransformerModel, parameter_counts


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

    @property
    def expert_params_per_gpu(self) -> float:
        """Routed-expert parameters one GPU holds: sharded over tensor, pipeline and expert parallelism."""
        lay = self.layout
        keep = 1.0 - self.pruned_fraction
        return parameter_counts(self.model).routed_experts * keep / (lay.pp * lay.tp * lay.ep)

    @property
    def dense_params_per_gpu(self) -> float:
        """All other parameters of the busiest stage (the embedding sits on the first one)."""
        counts = parameter_counts(self.model)
        body = (counts.non_embedding - counts.routed_experts) * (1.0 - self.pruned_fraction) / self.layout.pp
        return (body + counts.embedding) / self.layout.tp

    @property
    def params_per_gpu(self) -> float:
        """Parameters one GPU holds before ZeRO sharding."""
        return self.dense_params_per_gpu + self.expert_params_per_gpu
