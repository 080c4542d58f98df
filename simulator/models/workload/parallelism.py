"""How a training job is laid out: parallel degrees, micro-batching, optimizer sharding and recompute.

Rank order is Megatron's: tensor-parallel ranks are adjacent GPUs, then pipeline stages, then
data-parallel replicas, so a TP group sits inside one scale-up domain whenever tp <= GPUs per node.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from simulator.base import Strict
from simulator.models.workload.pipeline import Schedule


class Recompute(StrEnum):
    """Activation recomputation (Korthikanti et al. 2022): none, selective (attention core only), full."""

    NONE = "none"
    SELECTIVE = "selective"
    FULL = "full"


class RecomputeModule(StrEnum):
    """Cheap parts of a layer rebuilt in the backward pass instead of stored (Megatron-core's
    recompute_modules; DeepSeek-V3 sec. 3.3.4 recomputes RMSNorm and the MLA up-projections)."""

    NORM = "norm"
    MLA_UP_PROJ = "mla_up_proj"
    MLP_ACT = "mlp_act"


class CpComm(StrEnum):
    """Context-parallel K/V exchange: ring attention (Liu et al. 2023) or all-gather (Llama 3, sec. 3.3.2)."""

    RING = "ring"
    ALL_GATHER = "all_gather"


class Parallelism(Strict):
    """Parallel degrees and the memory/compute trade-offs that go with them."""

    tp: int = Field(1, ge=1, le=1024, description="tensor-parallel degree (Megatron)")
    pp: int = Field(1, ge=1, le=4096, description="pipeline-parallel stages")
    schedule: Schedule = Field(
        Schedule.ONE_F_ONE_B,
        description="pipeline schedule: 1f1b, interleaved (with virtual_stages), zero_bubble (ZB-H1: weight "
        "gradients fill the drain) or dualpipe (DeepSeek-V3: two directions, 2 copies of the weights)",
    )
    virtual_stages: int = Field(
        1, ge=1, le=128,
        description="model chunks per pipeline stage for the interleaved schedule (Narayanan 2021): bubble / "
        "virtual_stages, more activations in flight; > 1 alone selects schedule interleaved",
    )
    first_stage_layers: int | None = Field(
        None, ge=0, le=4096,
        description="transformer layers on the first stage (default: an even split); fewer balances the "
        "embedding, as Llama 3 did",
    )
    last_stage_layers: int | None = Field(
        None, ge=0, le=4096,
        description="transformer layers on the last stage (default: an even split); fewer balances the output "
        "layer and loss",
    )
    cp: int = Field(1, ge=1, le=1024, description="context-parallel degree: the sequence split over cp GPUs (ring "
                    "attention)")
    cp_comm: CpComm = Field(
        CpComm.RING, description="how context parallelism exchanges K and V: ring (blocks passed round the CP "
        "group, hidden behind the attention they feed) or all_gather (the whole sequence's K and V gathered "
        "before attention and their gradients reduce-scattered after, exposed; Llama 3's long-context stage)",
    )
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
    comm_sm_fraction: float = Field(
        0.0, ge=0, lt=1,
        description="share of the GPU's streaming multiprocessors that overlapped expert all-to-all kernels occupy, "
        "so the compute they hide behind runs on the rest (DeepSeek-V3 sec. 3.2.2: 20 of 132 SMs)",
    )
    sequence_parallel: bool = Field(
        True, description="shard layernorm/dropout activations over the TP group (Korthikanti 2022)"
    )
    overlap_grad_reduce: bool = Field(
        True, description="gradient collective launched bucket by bucket during the last backward pass "
        "(Megatron's overlap_grad_reduce, PyTorch DDP): only what outlasts it is exposed",
    )
    overlap_param_gather: bool = Field(
        True, description="with ZeRO, the parameter all-gather overlapped with the next step's first forward "
        "(Megatron's overlap_param_gather)",
    )
    tp_comm_overlap: bool = Field(
        False, description="tensor-parallel collectives split and overlapped with the GEMMs they feed "
        "(Transformer Engine userbuffers): only what outlasts those GEMMs is exposed",
    )
    zero_stage: int = Field(
        1, ge=0, le=3, description="ZeRO stage: 1 shards optimizer state, 2 also gradients, 3 also weights"
    )
    activation_recompute: Recompute = Field(Recompute.SELECTIVE, description="none, selective or full")
    recompute_modules: tuple[RecomputeModule, ...] = Field(
        (), description="with none or selective recompute, cheap modules rebuilt in backward instead of stored: "
        "norm (norm outputs), mla_up_proj (MLA's Q, K, V from their latents), mlp_act (the MLP activation)",
    )
    fp8_activations: bool = Field(
        False, description="store GEMM inputs in FP8 where DeepSeek-V3 does (attention output, SwiGLU inputs, "
        "expert inputs; sec. 3.3.4)",
    )
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

    @model_validator(mode="before")
    @classmethod
    def _interleaved_when_chunked(cls, data: Any) -> Any:
        """virtual_stages > 1 with no schedule named means the interleaved one (as before schedules existed)."""
        chunks = data.get("virtual_stages") if isinstance(data, dict) else None
        if isinstance(data, dict) and "schedule" not in data and isinstance(chunks, int) and chunks > 1:
            return {**data, "schedule": Schedule.INTERLEAVED}
        return data

    @model_validator(mode="after")
    def _schedule_fits(self) -> Parallelism:
        interleaved = self.schedule is Schedule.INTERLEAVED
        if interleaved != (self.virtual_stages > 1):
            raise ValueError("virtual_stages > 1 goes with schedule: interleaved, and interleaved needs "
                             "virtual_stages >= 2")
        if self.schedule is not Schedule.ONE_F_ONE_B and self.pp == 1:
            raise ValueError(f"schedule {self.schedule.value} needs pp > 1")
        if self.schedule is Schedule.DUALPIPE and self.pp % 2:
            raise ValueError(f"dualpipe pairs stages from both ends: pp must be even, not {self.pp}")
        if self.pp == 1 and (self.first_stage_layers is not None or self.last_stage_layers is not None):
            raise ValueError("first_stage_layers and last_stage_layers need pp > 1")
        return self

    @property
    def world(self) -> int:
        """GPUs the layout occupies."""
        return self.tp * self.cp * self.pp * self.dp

    @property
    def degrees(self) -> dict[str, int]:
        """Each parallel dimension's degree, by name (for placement)."""
        return {"tp": self.tp, "cp": self.cp, "pp": self.pp, "dp": self.dp}
