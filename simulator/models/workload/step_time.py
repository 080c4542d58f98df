"""Training step time from the pieces: every kernel of every layer on a roofline (simulator/models/workload/
operators.py, kernels.py), tensor/context/expert-parallel communication on the critical path, the
(interleaved) 1F1B pipeline bubble and point-to-point sends, the data-parallel gradient collective
overlapped with the last backward pass except its last bucket, and the optimizer step. Communication is
costed on the cluster's network graph for every group of the layout at once, so the same job runs slower
on a worse network. The engine only calls `StepTimeModel.step_time`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np

from simulator.models.topology.collectives import Op, collective_time
from simulator.models.topology.network import IntArray, Network
from simulator.models.topology.placement import communicators, expert_groups, parallel_groups, stage_boundaries
from simulator.models.workload.kernels import Kernel, kernel_time_s
from simulator.models.workload.memory import GRAD_BYTES, OPTIMIZER_BYTES, WEIGHT_BYTES
from simulator.models.workload.operators import layer_kernels, output_kernels
from simulator.models.workload.parallelism import Recompute
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import forward_flops_per_token

# PyTorch DDP and Megatron bucket gradients (DDP default bucket_cap_mb = 25); only the last bucket's
# all-reduce cannot overlap the backward pass.
GRADIENT_BUCKET_BYTES = 25 * 2**20


class StepTimeModel(Protocol):
    """Anything that prices one optimizer step of a training job on a network."""

    def step_time(self, step: TrainingStep, network: Network, gpus: IntArray | None = None) -> StepTime:
        """Duration of one step and its parts; rank r runs on GPU `gpus[r]` (default: GPU r)."""
        ...


@dataclass(frozen=True)
class StepTime:
    """One optimizer step on the critical path, seconds, and the FLOPs it performs across all GPUs."""

    compute_s: float  # GEMMs and elementwise ops of all micro-batches
    tp_comm_s: float  # tensor-parallel all-reduces, not overlapped
    cp_comm_s: float  # context-parallel K/V ring exchange not hidden behind attention
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

    @classmethod
    @functools.cache
    def parts(cls) -> tuple[str, ...]:
        """Names of the times on the critical path, which add up to total_s: every `_s` field but dp_comm_s (the
        whole gradient collective, of which only dp_exposed_s is on the path)."""
        return tuple(f.name for f in fields(cls) if f.name.endswith("_s") and f.name != "dp_comm_s")

    @functools.cached_property
    def total_s(self) -> float:
        """Wall-clock time of the step (the instance is frozen, so it is summed once)."""
        return float(sum(getattr(self, name) for name in self.parts()))


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
class OperatorStepModel:
    """Per-operator roofline compute plus collectives costed on the network."""

    def step_time(self, step: TrainingStep, network: Network, gpus: IntArray | None = None) -> StepTime:
        """Duration of one step and its parts; rank r runs on GPU `gpus[r]` (default: GPU r)."""
        lay, acc, m = step.layout, step.accelerator, step.model

        def seconds(kernels: tuple[Kernel, ...] | list[Kernel]) -> float:
            return sum(kernel_time_s(k, acc) for k in kernels)

        layers_per_stage = math.ceil(m.layers / lay.pp)  # the pipeline runs at its fullest stage's pace
        moe_per_stage = min(layers_per_stage, math.ceil((m.layers - m.dense_layers) / lay.pp)) if m.is_moe else 0
        stage_layers = [(layer_kernels(step, moe=False), layers_per_stage - moe_per_stage)]
        if moe_per_stage:
            stage_layers.append((layer_kernels(step, moe=True), moe_per_stage))
        layer_s = sum(n * seconds((*k.forward, *k.backward, *k.recompute)) for k, n in stage_layers)
        attention_s = sum(  # attention-core work, forward and backward, that a CP ring exchange can hide behind
            n * seconds([x for x in (*k.forward, *k.backward) if "attention" in x.name or "softmax" in x.name])
            for k, n in stage_layers
        )
        micro_compute_s = layer_s + seconds(output_kernels(step))  # the last stage also runs the loss

        groups = parallel_groups(lay.degrees, lay.placement, gpus)
        tokens = step.seq_len * lay.micro_batch_size / lay.cp
        activation_msg = 2.0 * tokens * m.hidden  # bf16 activations of one micro-batch on one CP rank
        tp_collectives = 4 + (2 if lay.activation_recompute is Recompute.FULL else 0)
        tp_all_reduce = collective_time(network, Op.ALL_REDUCE, groups["tp"], activation_msg)
        micro_tp_s = layers_per_stage * tp_collectives * tp_all_reduce.time_s
        micro_cp_s = 0.0
        if lay.cp > 1:  # ring attention: K and V blocks travel round the CP ring, gradients back in backward
            kv_width = 2.0 * m.kv_heads_ * m.head_dim_ / lay.tp
            block = 2.0 * tokens * kv_width
            ring = network.phase(groups["cp"].ravel(), np.roll(groups["cp"], -1, axis=1).ravel(), block)
            cp_s = layers_per_stage * 3 * (lay.cp - 1) * ring.time_s  # K/V forward; K/V and their gradients back
            micro_cp_s = max(0.0, cp_s - attention_s)
        ep_groups, expert_dp_groups = expert_groups(groups["dp"], lay.ep)
        dispatch = 2.0 * m.hidden * m.top_k * step.capacity_factor * tokens / (lay.tp if lay.sequence_parallel else 1)
        ep_all_to_all = collective_time(network, Op.ALL_TO_ALL, ep_groups, dispatch)
        micro_ep_s = moe_per_stage * 4 * ep_all_to_all.time_s  # dispatch and combine, forward and backward
        if lay.overlap_expert_comm:
            micro_ep_s = max(0.0, micro_ep_s - micro_compute_s)

        m_count = step.micro_batches
        slot_s = micro_compute_s + micro_tp_s + micro_cp_s + micro_ep_s
        bubble_s = (lay.pp - 1) / lay.virtual_stages * slot_s
        p2p_s = 0.0
        if lay.pp > 1:
            send = activation_msg / (lay.tp if lay.sequence_parallel else 1)
            senders, receivers = stage_boundaries(groups["pp"])
            p2p_s = 2.0 * m_count * lay.virtual_stages * network.phase(senders, receivers, send).time_s

        # dense gradients are reduced over all replicas (and CP ranks), an expert's over its own replicas
        grad_groups = communicators(lay.degrees, ("cp", "dp"), lay.placement, gpus)
        dp_all_reduce = collective_time(network, Op.ALL_REDUCE, grad_groups, step.dense_params_per_gpu * GRAD_BYTES)
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

        replicas = (lay.dp * lay.cp, lay.dp // lay.ep) if lay.zero_stage >= 1 else (1, 1)
        per_param = WEIGHT_BYTES + GRAD_BYTES + OPTIMIZER_BYTES
        state_bytes = per_param * (step.dense_params_per_gpu / replicas[0] + step.expert_params_per_gpu / replicas[1])
        optimizer_s = 2.0 * state_bytes / (acc.hbm_bandwidth_bytes_per_s * acc.memory_efficiency)

        model_flops_tok = 3.0 * forward_flops_per_token(m, step.seq_len)
        hw_flops_tok = model_flops_tok + recompute_flops_per_token(step)
        tokens_per_step = step.tokens_per_step
        return StepTime(
            compute_s=m_count * micro_compute_s,
            tp_comm_s=m_count * micro_tp_s,
            cp_comm_s=m_count * micro_cp_s,
            ep_comm_s=m_count * micro_ep_s,
            pp_bubble_s=bubble_s,
            pp_p2p_s=p2p_s,
            dp_comm_s=dp_s,
            dp_exposed_s=dp_exposed_s,
            optimizer_s=optimizer_s,
            model_flops=model_flops_tok * tokens_per_step,
            hardware_flops=hw_flops_tok * tokens_per_step,
            tp_bottleneck=tp_all_reduce.bottleneck,
            ep_bottleneck=ep_all_to_all.bottleneck,
            dp_bottleneck=dp_all_reduce.bottleneck,
        )
