"""Inference iteration time from the pieces, for continuous batching (vLLM / TensorRT-LLM style): one
iteration runs the decode step of every running sequence plus a chunk of prefill tokens, as one batch of
GEMMs (weights read once per iteration), attention over each sequence's KV cache, memory-bound operators,
and two tensor-parallel all-reduces per layer; plus a fixed scheduler overhead. Also the KV-cache capacity
of a replica and its steady-state offline throughput (`clustersim reproduce serving`).

Kernels use the same fitted roofline as training (simulator/workload/kernels.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.hardware import Accelerator, Precision
from simulator.topology.collectives import Op, collective_time
from simulator.topology.network import Network
from simulator.workload.kernels import Kernel, elementwise, gemm, kernel_time_s
from simulator.workload.transformer import MlpKind, PositionKind, TransformerModel, parameter_counts

WEIGHT_BYTES = {Precision.BF16: 2.0, Precision.FP16: 2.0, Precision.FP8: 1.0}


@dataclass(frozen=True)
class ServingConfig:
    """One serving replica: model, chips, number formats, memory split and scheduler limits."""

    model: TransformerModel
    accelerator: Accelerator
    precision: Precision  # weights and linear-layer GEMMs
    kv_bytes: float  # per KV element: 2 (bf16) or 1 (fp8)
    tp: int
    kv_memory_fraction: float  # of the memory left after weights and workspace, given to the KV cache
    workspace_bytes: float  # activations, CUDA graphs, allocator slack
    max_batch: int  # running sequences per iteration
    max_num_tokens: int  # tokens per iteration (decodes + prefill chunk), Sarathi-style budget
    overhead_s: float  # scheduler and launch time per iteration

    @property
    def weight_bytes_per_gpu(self) -> float:
        """Every weight the replica holds (MoE: all experts), split over tensor parallelism."""
        return parameter_counts(self.model).total * WEIGHT_BYTES[self.precision] / self.tp

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes one token occupies on one GPU (K and V of every layer; heads split over TP)."""
        m = self.model
        mla = m.latent_attention
        if mla is not None:  # the compressed latent and the rotary key, replicated on every TP rank
            return m.layers * (mla.kv_lora_rank + mla.qk_rope_head_dim) * self.kv_bytes
        heads_per_gpu = max(1.0, m.kv_heads_ / self.tp)
        return 2.0 * m.layers * heads_per_gpu * m.head_dim_ * self.kv_bytes

    @property
    def kv_capacity_tokens(self) -> int:
        """Tokens the KV cache holds on one replica."""
        free = self.accelerator.hbm_bytes - self.weight_bytes_per_gpu - self.workspace_bytes
        return max(0, int(free * self.kv_memory_fraction / self.kv_bytes_per_token))


def _peaks(cfg: ServingConfig) -> tuple[float, float]:
    acc = cfg.accelerator
    linear, dense = acc.peak_flops(cfg.precision), acc.peak_flops(Precision.BF16)
    if linear is None or dense is None:
        raise ValueError(f"{acc.name} has no {cfg.precision.value} tensor peak")
    return linear, dense


def iteration_kernels(cfg: ServingConfig, decodes: int, decode_context: float, prefill_tokens: float,
                      prefill_context: float) -> list[Kernel]:
    """Kernels of one iteration on one GPU: `decodes` sequences one token each (mean context
    `decode_context`) and `prefill_tokens` prompt tokens whose prompts are `prefill_context` long."""
    m, tp = cfg.model, cfg.tp
    linear, dense = _peaks(cfg)
    element = WEIGHT_BYTES[cfg.precision]
    tokens = decodes + prefill_tokens
    h = m.hidden
    q_width = m.heads * m.head_dim_ / tp
    kv_width = max(1.0, m.kv_heads_ / tp) * m.head_dim_
    counts = parameter_counts(m)
    attention_weights = counts.attention_per_layer / h  # projection columns per model width
    layer: list[Kernel] = [
        gemm("qkv", tokens, (attention_weights - m.heads * m.head_dim_) / tp, h, linear, element),
        gemm("attention out", tokens, h, q_width, linear, element),
    ]
    gated = 2 if m.mlp is MlpKind.SWIGLU else 1
    if m.is_moe:  # every token visits top_k experts; the experts a batch touches are read once
        f = m.expert_ffn_hidden_ / tp
        routed = tokens * m.top_k
        touched = min(m.experts, routed)
        layer += [gemm("router", tokens, m.experts, h, linear, element),
                  Kernel("experts", 2.0 * routed * h * f * (gated + 1),
                         element * touched * h * f * (gated + 1) + 4.0 * routed * (h + f), linear,
                         launches=int(min(m.experts, touched)))]
    else:
        f = m.ffn_hidden_ / tp
        layer += [gemm("mlp up", tokens, gated * f, h, linear, element),
                  gemm("mlp down", tokens, h, f, linear, element)]
    layer += [
        # decode attention reads every running sequence's cache; prefill attention is a causal fused kernel
        Kernel("decode attention", 4.0 * decodes * decode_context * q_width,
               decodes * decode_context * 2.0 * kv_width * cfg.kv_bytes + 4.0 * decodes * q_width, dense),
        elementwise("norms and residuals", 2 * 10.0 * tokens * h),
        elementwise("activation", (6.0 if gated == 2 else 4.0) * tokens * f),
    ]
    if prefill_tokens:
        layer.append(Kernel("prefill attention", 2.0 * prefill_tokens * prefill_context * q_width,
                            2.0 * prefill_tokens * (q_width + 2 * kv_width) * 2, dense))
    if m.position is PositionKind.ROPE:
        layer.append(elementwise("rope", 4.0 * tokens * (q_width + kv_width)))
    kernels = layer * m.layers
    # logits only for the sequences that emit a token: every decode and each prompt's last chunk
    kernels.append(gemm("logits", decodes + (1 if prefill_tokens else 0), m.vocab / tp, h, dense))
    return kernels


@dataclass(frozen=True)
class IterationTime:
    """One iteration's duration and its parts, seconds."""

    compute_s: float
    tp_comm_s: float
    overhead_s: float

    @property
    def total_s(self) -> float:
        """Wall-clock time of the iteration."""
        return self.compute_s + self.tp_comm_s + self.overhead_s


def iteration_time(cfg: ServingConfig, network: Network, decodes: int, decode_context: float,
                   prefill_tokens: float, prefill_context: float) -> IterationTime:
    """Duration of one iteration; TP all-reduces (2 per layer) are costed on the replica's first GPUs."""
    compute = sum(kernel_time_s(k, cfg.accelerator)
                  for k in iteration_kernels(cfg, decodes, decode_context, prefill_tokens, prefill_context))
    comm = 0.0
    if cfg.tp > 1:
        group = np.arange(cfg.tp, dtype=np.int64)[None, :]
        message = 2.0 * (decodes + prefill_tokens) * cfg.model.hidden
        comm = 2 * cfg.model.layers * collective_time(network, Op.ALL_REDUCE, group, message).time_s
    return IterationTime(compute, comm, cfg.overhead_s)


@dataclass(frozen=True)
class OfflineThroughput:
    """Steady state of a replica fed an endless queue of identical requests."""

    concurrency: int  # sequences resident in the KV cache
    decodes: int  # decode tokens per iteration
    prefill_tokens: float  # prompt tokens per iteration
    iteration: IterationTime
    limited_by: str  # kv cache, max batch or token budget

    @property
    def output_tokens_per_s(self) -> float:
        """Generated tokens per second."""
        return self.decodes / self.iteration.total_s


def offline_throughput(cfg: ServingConfig, network: Network, input_tokens: int,
                       output_tokens: int) -> OfflineThroughput:
    """Every iteration decodes the running sequences and prefills as many prompt tokens as it takes to keep
    them replaced (input/output of them per decode), within the KV cache, the batch and the token budget."""
    by_cache = cfg.kv_capacity_tokens // (input_tokens + output_tokens)
    limits = {"kv cache": by_cache, "max batch": cfg.max_batch,
              "token budget": math.floor(cfg.max_num_tokens / (1 + input_tokens / output_tokens))}
    limited_by = min(limits, key=lambda k: limits[k])
    decodes = max(1, limits[limited_by])
    prefill = decodes * input_tokens / output_tokens
    timed = iteration_time(cfg, network, decodes, input_tokens + output_tokens / 2, prefill, input_tokens)
    return OfflineThroughput(decodes, decodes, prefill, timed, limited_by)


def decode_span_s(cfg: ServingConfig, network: Network, decodes: int, context: float, steps: int) -> float:
    """Seconds of `steps` consecutive decode-only iterations of `decodes` sequences whose mean context
    starts at `context` and grows by one token per iteration, summed in closed form.

    Only decode attention depends on the context, and its roofline time, max(compute, memory), is piecewise
    linear in it with one kink; so the span is an arithmetic series on each piece. A piece is confirmed
    linear by its midpoint and halved otherwise: O(log steps) evaluations instead of `steps`.
    """
    def at(i: int) -> float:
        return iteration_time(cfg, network, decodes, context + i, 0.0, 0.0).total_s

    def span(first: int, last: int, t_first: float, t_last: float) -> float:
        count = last - first + 1
        if count <= 2:
            return t_first + (t_last if count == 2 else 0.0)
        mid = (first + last) // 2
        t_mid = at(mid)
        linear = t_first + (t_last - t_first) * (mid - first) / (last - first)
        if math.isclose(t_mid, linear, rel_tol=1e-12, abs_tol=1e-15):
            return count * (t_first + t_last) / 2.0
        return span(first, mid, t_first, t_mid) + span(mid + 1, last, at(mid + 1), t_last)

    if steps <= 0:
        return 0.0
    return span(0, steps - 1, at(0), at(steps - 1))


def decode_steps_within(cfg: ServingConfig, network: Network, decodes: int, context: float,
                        budget_s: float) -> int:
    """How many whole decode iterations (as in `decode_span_s`) finish within `budget_s`: lets a replica
    jump to the last iteration before the next arrival instead of stepping through each one."""
    if budget_s <= 0.0:
        return 0
    low, high = 0, 1
    while decode_span_s(cfg, network, decodes, context, high) <= budget_s:
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        if decode_span_s(cfg, network, decodes, context, mid) <= budget_s:
            low = mid
        else:
            high = mid
    return low


@dataclass(frozen=True)
class ReplicaIterations:
    """The iteration model of one replica on its network, in the form the serving engine asks for."""

    cfg: ServingConfig
    network: Network

    def iteration_s(self, decodes: int, decode_context: float, prefill_tokens: int,
                    prefill_context: float) -> float:
        """One iteration, seconds."""
        return iteration_time(self.cfg, self.network, decodes, decode_context, prefill_tokens,
                              prefill_context).total_s

    def decode_span_s(self, decodes: int, context: float, steps: int) -> float:
        """Decode-only iterations summed in closed form."""
        return decode_span_s(self.cfg, self.network, decodes, context, steps)

    def decode_steps_within(self, decodes: int, context: float, budget_s: float) -> int:
        """Whole decode-only iterations within a time budget."""
        return decode_steps_within(self.cfg, self.network, decodes, context, budget_s)
