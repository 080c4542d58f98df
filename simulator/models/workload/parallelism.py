"""How a training job is laid out: parallel degrees, micro-batching, optimizer sharding and recompute.

Rank order is Megatron's: tensor-parallel ranks are adjacent GPUs, then pipeline stages, then
data-parallel replicas, so a TP group sits inside one scale-up domain whenever tp <= GPUs per node.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator

from simulator.base import Strict


class Recompute(StrEnum):
    """Activation recomputation (Korthikanti et al. 2022): none, selective (attention core only), full."""

    NONE = "none"
    SELECTIVE = "selective"
    FULL = "full"


class Parallelism(Strict):
    """Parallel degrees and the memory/compute trade-offs that go with them."""

    tp: int = Field(1, ge=1, le=1024, description="tensor-parallel degree (Megatron)")
    pp: int = Field(1, ge=1, le=4096, description="pipeline-parallel stages (1F1B schedule)")
    virtual_stages: int = Field(
        1, ge=1, le=128,
        description="model chunks per pipeline stage (interleaved 1F1B, Narayanan 2021): bubble / virtual_stages",
    )
    cp: int = Field(1, ge=1, le=1024, description="context-parallel degree: the sequence split over cp GPUs (ring "
                    "attention)")
    dp: int = Field(1, ge=1, le=1 << 22, description="data-parallel replicas")
    ep: int = Field(
        1, ge=1, le=4096,
        description="expert-parallel degree: routed experts sharded over groups of ep consecutive data-parallel "
        "ranks (must divide dp and the expert count)",
    )
    micro_batch_size: int = Field(1, ge=1, le=65536, description="sequences per micro-batch")
    overlap_expert_comm: bool = Field(
        False, description="hide expert all-to-alls behind another micro-batch's compute (DeepSeek's DualPipe); "
        "only what exceeds that compute stays on the critical path",
    )
    sequence_parallel: bool = Field(
        True, description="shard layernorm/dropout activations over the TP group (Korthikanti 2022)"
    )
    zero_stage: int = Field(
        1, ge=0, le=3, description="ZeRO stage: 1 shards optimizer state, 2 also gradients, 3 also weights"
    )
    activation_recompute: Recompute = Field(Recompute.SELECTIVE, description="none, selective or full")
    placement: tuple[str, str, str, str] = Field(
        ("tp", "cp", "pp", "dp"),
        description="rank order, fastest-varying first: consecutive GPUs form groups of the first dimension",
    )

    @field_validator("placement")
    @classmethod
    def _permutation(cls, order: tuple[str, str, str, str]) -> tuple[str, str, str, str]:
        if sorted(order) != ["cp", "dp", "pp", "tp"]:
            raise ValueError("placement must list tp, cp, pp and dp once each, e.g. [tp, cp, pp, dp]")
        return order

    @property
    def world(self) -> int:
        """GPUs the layout occupies."""
        return self.tp * self.cp * self.pp * self.dp

    @property
    def degrees(self) -> dict[str, int]:
        """Each parallel dimension's degree, by name (for placement)."""
        return {"tp": self.tp, "cp": self.cp, "pp": self.pp, "dp": self.dp}
