"""First-order training step time: GEMM compute at a fitted fraction of peak, memory-bound elementwise
traffic at HBM bandwidth, tensor-parallel all-reduces on the critical path, the 1F1B pipeline bubble and
point-to-point sends, and the data-parallel gradient all-reduce overlapped with the last backward pass.
Communication is costed on the cluster's network graph, for every group of the layout at once.

The engine only calls `StepTimeModel.step_time`; issue 4 replaces this model behind the same interface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from simulator.topology.collectives import Op, collective_time
from simulator.topology.network import Network
from simulator.topology.placement import expert_groups, parallel_groups, stage_boundaries
from simulator.workload.memory import (
    GRAD_BYTES,
    OPTIMIZER_BYTES,
    WEIGHT_BYTES,
    activation_bytes_per_token_layer,
)
from simulator.workload.parallelism import Recompute
from simulator.workload.training_job import TrainingStep
from simulator.workload.transformer import forward_flops_per_token

# Each stored activation byte is written in the forward pass, read in the backward pass, and its gradient
# written and read once: four HBM touches for the elementwise (non-GEMM) operators.
ELEMENTWISE_TOUCHES = 4.0
# PyTorch DDP and Megatron bucket gradients (DDP default bucket_cap_mb = 25); only the last bucket's
# all-reduce cannot overlap the backward pass.
GRADIENT_BUCKET_BYTES = 25 * 2**20


class StepTimeModel(Protocol):
    """Anything that prices one optimizer step of a training job on a network."""

    def step_time(self, step: TrainingStep, network: Network) -> StepTime:
        """Duration of one step and its parts."""
        ...


@dataclass(frozen=True)
class StepTime:
    """One optimizer step on the critical path, seconds, and the FLOPs it performs across all GPUs."""

    compute_s: float  # GEMMs and elementwise ops of all micro-batches
    tp_comm_s: float  # tensor-parallel all-reduces, not overlapped
    ep_comm_s: float  # expert-parallel all-to-alls (dispatch, combine), not overlapped
    pp_bubble_s: float  # 1F1B fill and drain
    pp_p2p_s: float  # activation / gradient sends between stages
    dp_comm_s: float  # full gradient all-reduce (or ZeRO reduce-scatter + all-gather)
    dp_exposed_s: float  # the part of dp_comm_s not hidden behind the backward pass
    optimizer_s: float  # Adam update, memory-bound
    model_flops: float  # 3 passes (MFU convention)
    hardware_flops: float  # including recomputation (HFU convention)
    tp_bottleneck: str = ""  # busiest channel of the tensor-parallel all-reduce
    ep_bottleneck: str = ""  # busiest channel of the expert-parallel all-to-all
    dp_bottleneck: str = ""  # busiest channel of the data-parallel gradient collective

    @property
    def total_s(self) -> float:
        """Wall-clock time of the step."""
        return (
            self.compute_s + self.tp_comm_s + self.ep_comm_s + self.pp_bubble_s + self.pp_p2p_s
            + self.dp_exposed_s + self.optimizer_s
        )


def recompute_flops_per_token(step: TrainingStep) -> float:
    """Extra forward FLOPs per token that activation recomputation repeats."""
    m = step.model
    mode = step.layout.activation_recompute
    if mode is Recompute.FULL:  # every transformer layer again; the output layer is not checkpointed
        return forward_flops_per_token(m, step.seq_len) - 2.0 * m.vocab * m.hidden
    if mode is Recompute.SELECTIVE and not step.flash_attention:
        return forward_flops_per_token(m, step.seq_len) - forward_flops_per_token(m, 0)
    return 0.0


@dataclass(frozen=True)
class FirstOrderStepModel:
    """Roofline-style compute plus collectives costed on the network (simulator/topology/collectives.py)."""

    def step_time(self, step: TrainingStep, network: Network) -> StepTime:
        """Duration of one step and its parts."""
        lay, acc, m = step.layout, step.accelerator, step.model
        peak = acc.peak_flops(step.precision)
        if peak is None:
            raise ValueError(f"{acc.name} has no {step.precision.value} peak")
        mb_tokens = step.seq_len * lay.micro_batch_size
        model_flops_tok = 3.0 * forward_flops_per_token(m, step.seq_len)
        hw_flops_tok = model_flops_tok + recompute_flops_per_token(step)
        gemm_s = hw_flops_tok * mb_tokens / (lay.tp * lay.pp) / (peak * acc.matmul_efficiency)
        sharded, replicated = activation_bytes_per_token_layer(step)
        per_gpu_act = sharded / lay.tp + replicated / (lay.tp if lay.sequence_parallel else 1)
        touches = ELEMENTWISE_TOUCHES * (hw_flops_tok / model_flops_tok)
        layers_per_stage = math.ceil(m.layers / lay.pp)  # the pipeline runs at its fullest stage's pace
        elementwise_s = touches * per_gpu_act * mb_tokens * layers_per_stage / acc.hbm_bandwidth_bytes_per_s
        micro_compute_s = gemm_s + elementwise_s

        groups = parallel_groups({"tp": lay.tp, "pp": lay.pp, "dp": lay.dp}, lay.placement)
        activation_msg = 2.0 * mb_tokens * m.hidden  # bf16 activations of one micro-batch
        tp_collectives = 4 + (2 if lay.activation_recompute is Recompute.FULL else 0)
        tp_all_reduce = collective_time(network, Op.ALL_REDUCE, groups["tp"], activation_msg)
        micro_tp_s = layers_per_stage * tp_collectives * tp_all_reduce.time_s
        ep_groups, expert_dp_groups = expert_groups(groups["dp"], lay.ep)
        # dispatch and combine, forward and backward: each rank's tokens x top_k hidden vectors (bf16)
        moe_layers = math.ceil((m.layers - m.dense_layers) / lay.pp) if m.is_moe else 0
        dispatch = 2.0 * m.hidden * m.top_k * mb_tokens / (lay.tp if lay.sequence_parallel else 1)
        ep_all_to_all = collective_time(network, Op.ALL_TO_ALL, ep_groups, dispatch)
        micro_ep_s = moe_layers * 4 * ep_all_to_all.time_s

        m_count = step.micro_batches
        bubble_s = (lay.pp - 1) * (micro_compute_s + micro_tp_s + micro_ep_s)
        p2p_s = 0.0
        if lay.pp > 1:
            send = activation_msg / (lay.tp if lay.sequence_parallel else 1)
            senders, receivers = stage_boundaries(groups["pp"])
            p2p_s = 2.0 * m_count * network.phase(senders, receivers, send).time_s

        # dense gradients are reduced over all replicas, an expert's over the replicas of that expert
        dp_all_reduce = collective_time(network, Op.ALL_REDUCE, groups["dp"], step.dense_params_per_gpu * GRAD_BYTES)
        expert_all_reduce = collective_time(
            network, Op.ALL_REDUCE, expert_dp_groups, step.expert_params_per_gpu * GRAD_BYTES
        )
        dp_s = dp_all_reduce.time_s + expert_all_reduce.time_s
        if lay.zero_stage >= 3:  # weights gathered again for the forward and the backward pass
            dp_s *= 1.5
        grad_bytes = step.params_per_gpu * GRAD_BYTES
        backward_last_s = micro_compute_s * 2.0 / 3.0
        last_bucket_s = dp_s * min(1.0, GRADIENT_BUCKET_BYTES / grad_bytes) if grad_bytes else 0.0
        dp_exposed_s = max(dp_s - backward_last_s, last_bucket_s)

        replicas = (lay.dp, lay.dp // lay.ep) if lay.zero_stage >= 1 else (1, 1)
        per_param = WEIGHT_BYTES + GRAD_BYTES + OPTIMIZER_BYTES
        state_bytes = per_param * (step.dense_params_per_gpu / replicas[0] + step.expert_params_per_gpu / replicas[1])
        optimizer_s = 2.0 * state_bytes / acc.hbm_bandwidth_bytes_per_s  # read and write once

        tokens = step.tokens_per_step
        return StepTime(
            compute_s=m_count * micro_compute_s,
            tp_comm_s=m_count * micro_tp_s,
            ep_comm_s=m_count * micro_ep_s,
            pp_bubble_s=bubble_s,
            pp_p2p_s=p2p_s,
            dp_comm_s=dp_s,
            dp_exposed_s=dp_exposed_s,
            optimizer_s=optimizer_s,
            model_flops=model_flops_tok * tokens,
            hardware_flops=hw_flops_tok * tokens,
            tp_bottleneck=tp_all_reduce.bottleneck,
            ep_bottleneck=ep_all_to_all.bottleneck,
            dp_bottleneck=dp_all_reduce.bottleneck,
        )
