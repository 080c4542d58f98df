"""Training step time from the pieces: every kernel of every layer on a roofline (simulator/models/workload/
operators.py, kernels.py), tensor/context/expert-parallel communication on the critical path (or hidden
behind GEMMs when overlapped), the pipeline schedule's bubble over uneven stages (pipeline.py) and
point-to-point sends, the data-parallel collectives bucketed and overlapped as Megatron's distributed
optimizer does (gradient reduce-scatter with the last backward and the drain, parameter all-gather with the
next forward), and the optimizer step. Communication is costed on the cluster's network graph for every
group of the layout at once, so the same job runs slower on a worse network. The engine only calls
`StepTimeModel.step_time`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np

from simulator.models.topology.collectives import Op, collective_time
from simulator.models.topology.network import IntArray, Network
from simulator.models.topology.placement import communicators, expert_groups, parallel_groups, stage_boundaries
from simulator.models.workload.kernels import Kernel, kernel_time_s
from simulator.models.workload.memory import GRAD_BYTES, OPTIMIZER_BYTES, WEIGHT_BYTES
from simulator.models.workload.operators import layer_kernels, output_kernels
from simulator.models.workload.parallelism import CpComm, Recompute, RecomputeModule
from simulator.models.workload.pipeline import (
    FloatArray,
    Schedule,
    StageTimes,
    bubble_s,
    drain_slack_s,
    fill_slack_s,
    mirrored_stages,
)
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import forward_flops_per_token

# PyTorch DDP and Megatron bucket gradients (DDP default bucket_cap_mb = 25); only the last bucket's
# all-reduce cannot overlap the backward pass.
GRADIENT_BUCKET_BYTES = 25 * 2**20


class StepTimeModel(Protocol):
    """Anything that prices one optimizer step of a training job on a network (hashable: placed steps are
    cached per model)."""

    def __hash__(self) -> int:
        """Identity or value: whatever makes equal models price alike."""
        ...

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
    extra = 0.0
    if mode is Recompute.SELECTIVE and not step.flash_attention:
        extra += forward_flops_per_token(m, step.seq_len) - forward_flops_per_token(m, 0)
    mla = m.latent_attention
    if RecomputeModule.MLA_UP_PROJ in step.layout.recompute_modules and mla is not None:
        up = ((mla.q_lora_rank or m.hidden) * (mla.qk_nope_head_dim + mla.qk_rope_head_dim)
              + mla.kv_lora_rank * (mla.qk_nope_head_dim + mla.v_head_dim))
        extra += 2.0 * m.heads * up * m.layers * (1.0 - step.pruned_fraction)
    return extra


ATTENTION_CORE = ("attention scores", "scale-mask-softmax", "attention dropout", "attention values",
                  "flash attention")


def _is_weight_gemm(kernel: Kernel) -> bool:
    """A GEMM against a weight matrix (its backward has a weight-gradient half), not the attention core."""
    return kernel.flops > 0 and kernel.name not in ATTENTION_CORE


@dataclass(frozen=True)
class _Layer:
    """One transformer layer, one micro-batch, one GPU: seconds of each part of its critical path."""

    forward_s: float  # forward kernels
    backward_s: float  # backward kernels plus recomputation
    weight_grad_s: float  # the weight-gradient GEMMs inside backward_s
    tp_s: float  # tensor-parallel collectives not hidden behind GEMMs
    cp_s: float  # context-parallel ring exchange not hidden behind attention
    ep_s: float  # expert all-to-alls, not overlapped


def _layer(step: TrainingStep, network: Network, groups: dict[str, IntArray], ep_groups: IntArray, moe: bool,
           ) -> tuple[_Layer, str, str]:
    """Times of one (dense or MoE) layer, and the bottleneck channels of its TP and EP collectives."""
    lay, acc, m = step.layout, step.accelerator, step.model
    kernels = layer_kernels(step, moe)

    def seconds(ks: tuple[Kernel, ...] | list[Kernel]) -> float:
        return sum(kernel_time_s(k, acc) for k in ks)

    gemm_s = seconds([k for k in kernels.forward if _is_weight_gemm(k)])
    tokens = step.seq_len * lay.micro_batch_size / lay.cp
    activation_msg = 2.0 * tokens * m.hidden  # bf16 activations of one micro-batch on one CP rank
    tp = collective_time(network, Op.ALL_REDUCE, groups["tp"], activation_msg)
    # two collectives per pass (after attention and after the MLP; all-gather + reduce-scatter under SP)
    passes = [(2 * tp.time_s, gemm_s), (2 * tp.time_s, 2.0 * gemm_s)]
    if lay.activation_recompute is Recompute.FULL:
        passes.append((2 * tp.time_s, gemm_s))
    tp_s = sum(max(0.0, comm - gemms) if lay.tp_comm_overlap else comm for comm, gemms in passes)
    cp_s = 0.0
    block = 2.0 * tokens * 2.0 * m.kv_heads_ * m.head_dim_ / lay.tp  # this rank's K and V, bf16
    if lay.cp > 1 and lay.cp_comm is CpComm.ALL_GATHER:  # gather all K/V, reduce-scatter their gradients
        gather = collective_time(network, Op.ALL_GATHER, groups["cp"], block * lay.cp).time_s
        scatter = collective_time(network, Op.REDUCE_SCATTER, groups["cp"], block * lay.cp).time_s
        cp_s = gather * (2 if lay.activation_recompute is Recompute.FULL else 1) + scatter
    elif lay.cp > 1:  # ring attention: K and V blocks travel round the CP ring, gradients back in backward
        attention_s = seconds([k for k in (*kernels.forward, *kernels.backward) if k.name in ATTENTION_CORE])
        ring = network.phase(groups["cp"].ravel(), np.roll(groups["cp"], -1, axis=1).ravel(), block)
        cp_s = max(0.0, 3 * (lay.cp - 1) * ring.time_s - attention_s)
    ep_s, ep_bottleneck = 0.0, ""
    if moe:
        copies = m.top_k * _domain_share(m.top_k, m.routing_max_nodes, ep_groups, network)
        dispatch = 2.0 * m.hidden * copies * step.capacity_factor * tokens / (lay.tp if lay.sequence_parallel else 1)
        all_to_all = collective_time(network, Op.ALL_TO_ALL, ep_groups, dispatch)
        # dispatch and combine, forward and backward; DeepSeek-V3 dispatches the forward in FP8 (sec. 3.3.4)
        forward_dispatch_s = (collective_time(network, Op.ALL_TO_ALL, ep_groups, dispatch / 2).time_s
                              if lay.fp8_activations else all_to_all.time_s)
        ep_s, ep_bottleneck = 3 * all_to_all.time_s + forward_dispatch_s, all_to_all.bottleneck
    timed = _Layer(seconds(kernels.forward), seconds((*kernels.backward, *kernels.recompute)), gemm_s, tp_s, cp_s,
                   ep_s)
    return timed, tp.bottleneck, ep_bottleneck


def _domain_share(top_k: int, max_domains: int | None, ep_groups: IntArray, network: Network) -> float:
    """Fraction of a token's `top_k` expert copies that travel: with node-limited routing a token crosses to
    each of at most `max_domains` scale-up domains once and is forwarded to its experts inside (DeepSeek-V3
    sec. 3.2.2), so at most max_domains of its top_k copies; 1 without it or inside one domain."""
    if max_domains is None:
        return 1.0
    spanned = len(np.unique(network.domain_of[ep_groups[0]]))
    return min(1.0, min(max_domains, spanned) / top_k) if spanned > 1 else 1.0


def _dp_exposed_s(comm_s: FloatArray, window_s: FloatArray, state_bytes: FloatArray, overlap: bool) -> FloatArray:
    """Per stage, the part of a gradient or parameter collective not hidden in `window_s`: launched bucket by
    bucket as the window runs, so at least its last bucket is exposed."""
    if not overlap:
        return comm_s
    last_bucket = comm_s * np.minimum(1.0, GRADIENT_BUCKET_BYTES / np.maximum(state_bytes, 1.0))
    return np.maximum(comm_s - window_s, last_bucket)


@dataclass(frozen=True)
class OperatorStepModel:
    """Per-operator roofline compute plus collectives costed on the network."""

    def step_time(self, step: TrainingStep, network: Network, gpus: IntArray | None = None) -> StepTime:
        """Duration of one step and its parts; rank r runs on GPU `gpus[r]` (default: GPU r)."""
        lay, acc, m = step.layout, step.accelerator, step.model
        groups = parallel_groups(lay.degrees, lay.placement, gpus)
        ep_groups, expert_dp_groups = expert_groups(groups["dp"], lay.ep)
        dense, tp_bottleneck, _ = _layer(step, network, groups, ep_groups, moe=False)
        moe, _, ep_bottleneck = _layer(step, network, groups, ep_groups, moe=True) if m.is_moe else (dense, "", "")

        # per stage: its dense and MoE layers, the output layer and loss on the last
        dense_n, moe_n = step.stage_layer_kinds

        def stage_sum(attr: str) -> FloatArray:
            return np.asarray(dense_n * getattr(dense, attr) + moe_n * getattr(moe, attr), dtype=np.float64)

        output = output_kernels(step)
        half = len(output) // 2
        out_fwd = sum(kernel_time_s(k, acc) for k in output[:half])
        out_bwd = sum(kernel_time_s(k, acc) for k in output[half:])
        forward, backward, weight_grad = stage_sum("forward_s"), stage_sum("backward_s"), stage_sum("weight_grad_s")
        forward[-1] += out_fwd
        backward[-1] += out_bwd
        weight_grad[-1] += out_fwd - kernel_time_s(output[1], acc)  # the logits GEMM's weight gradient
        compute = forward + backward
        tp_s, cp_s, ep_s = stage_sum("tp_s"), stage_sum("cp_s"), stage_sum("ep_s")
        if (lay.overlap_expert_comm or lay.schedule is Schedule.DUALPIPE) and m.is_moe:
            # hidden behind another chunk's compute, which runs on the SMs the communication kernels leave while
            # they run: compute C beside all-to-alls E takes max(E, C + f E)
            ep_s = np.maximum(ep_s - compute, lay.comm_sm_fraction * ep_s)
        if mirrored_stages(lay.schedule):  # each rank runs half the micro-batches as its mirror stage
            forward, backward, weight_grad, compute, tp_s, cp_s, ep_s = (
                (x + x[::-1]) / 2.0 for x in (forward, backward, weight_grad, compute, tp_s, cp_s, ep_s))
        comm = tp_s + cp_s + ep_s
        times = StageTimes(forward + comm / 2, backward + comm / 2, weight_grad)
        slowest = int(np.argmax(times.slot_s))
        m_count = step.micro_batches
        bubble = bubble_s(lay.schedule, times, lay.virtual_stages)

        p2p_s = 0.0
        if lay.pp > 1 and lay.schedule is not Schedule.DUALPIPE:  # DualPipe overlaps them with the paired chunk
            send = 2.0 * step.seq_len * lay.micro_batch_size / lay.cp * m.hidden
            send /= lay.tp if lay.sequence_parallel else 1
            senders, receivers = stage_boundaries(groups["pp"])
            p2p_s = 2.0 * m_count * lay.virtual_stages * network.phase(senders, receivers, send).time_s

        # dense gradients are reduced over all replicas (and CP ranks), an expert's over its own replicas
        dense_params, expert_params = step.stage_params
        grad_groups = communicators(lay.degrees, ("cp", "dp"), lay.placement, gpus)
        biggest = int(np.argmax(dense_params + expert_params))
        dense_ar = collective_time(network, Op.ALL_REDUCE, grad_groups, dense_params[biggest] * GRAD_BYTES)
        expert_ar = collective_time(network, Op.ALL_REDUCE, expert_dp_groups, expert_params[biggest] * GRAD_BYTES)
        # each stage's collective scales with its own gradients (bandwidth-bound at these sizes)
        scale_dense = dense_params / max(dense_params[biggest], 1.0)
        scale_expert = expert_params / max(expert_params[biggest], 1.0)
        all_reduce = dense_ar.time_s * scale_dense + expert_ar.time_s * scale_expert
        grad_bytes = (dense_params + expert_params) * GRAD_BYTES
        if lay.zero_stage == 0:  # one all-reduce, during the last backward and the drain after it
            reduce, gather = all_reduce, np.zeros(lay.pp)
        else:  # reduce-scatter of gradients, all-gather of updated weights (each half an all-reduce)
            reduce = gather = all_reduce / 2.0
        drain = drain_slack_s(lay.schedule, times)
        if lay.zero_stage >= 3:
            # sharded weights are gathered for every micro-batch's forward and again for its backward, and its
            # gradients reduce-scattered after it (FSDP full shard, DeepSpeed ZeRO-3), prefetched layer by layer
            # behind that micro-batch's own compute
            per_micro = reduce + 2.0 * gather
            reduce, gather = reduce * m_count, gather * 2.0 * m_count
            exposed = m_count * _dp_exposed_s(per_micro, times.slot_s, grad_bytes, True)
        elif lay.zero_stage == 2:  # sharded gradients cannot accumulate: a reduce-scatter after every backward
            reduce = reduce * m_count
            exposed = (m_count * _dp_exposed_s(reduce / m_count, times.backward_s, grad_bytes, lay.overlap_grad_reduce)
                       + _dp_exposed_s(gather, times.forward_s + fill_slack_s(times), grad_bytes,
                                       lay.overlap_param_gather))
        else:
            exposed = (_dp_exposed_s(reduce, times.backward_s + drain, grad_bytes, lay.overlap_grad_reduce)
                       + _dp_exposed_s(gather, times.forward_s + fill_slack_s(times), grad_bytes,
                                       lay.overlap_param_gather))

        replicas = (lay.dp * lay.cp, lay.dp // lay.ep) if lay.zero_stage >= 1 else (1, 1)
        per_param = WEIGHT_BYTES + GRAD_BYTES + OPTIMIZER_BYTES
        state_bytes = per_param * (dense_params / replicas[0] + expert_params / replicas[1])
        optimizer_s = 2.0 * float(state_bytes.max()) / (acc.hbm_bandwidth_bytes_per_s * acc.memory_efficiency)

        model_flops_tok = 3.0 * forward_flops_per_token(m, step.seq_len)
        hw_flops_tok = model_flops_tok + recompute_flops_per_token(step)
        tokens_per_step = step.tokens_per_step
        return StepTime(
            compute_s=m_count * float(compute[slowest]),
            tp_comm_s=m_count * float(tp_s[slowest]),
            cp_comm_s=m_count * float(cp_s[slowest]),
            ep_comm_s=m_count * float(ep_s[slowest]),
            pp_bubble_s=bubble,
            pp_p2p_s=p2p_s,
            dp_comm_s=float((reduce + gather).max()),
            dp_exposed_s=float(exposed.max()),
            optimizer_s=optimizer_s,
            model_flops=model_flops_tok * tokens_per_step,
            hardware_flops=hw_flops_tok * tokens_per_step,
            tp_bottleneck=tp_bottleneck,
            ep_bottleneck=ep_bottleneck,
            dp_bottleneck=dense_ar.bottleneck,
        )
