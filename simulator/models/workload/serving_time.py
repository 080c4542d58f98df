"""Inference iteration time from the pieces, for continuous batching (vLLM / TensorRT-LLM style): one
iteration runs the decode step of every running sequence plus a chunk of prefill tokens, as one batch of
GEMMs (weights read once per iteration), attention over each sequence's KV cache, memory-bound operators,
and two tensor-parallel all-reduces per layer; plus a fixed scheduler overhead. Also the KV-cache capacity
of a replica and its steady-state offline throughput (`clustersim reproduce serving`).

Pipeline parallelism (pp stages of tp GPUs): the batch is split into m = min(pp, sequences) micro-batches
in flight (vLLM's virtual engines; the prefill chunk counts as one sequence), every stage busy with one of
them; an iteration of the whole batch then takes one micro-batch's pass through all layers, plus the
activation sends between stages.

Kernels use the same fitted roofline as training (simulator/models/workload/kernels.py).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np

from simulator.models.hardware import Accelerator, MemoryKind, Precision
from simulator.models.topology.collectives import Op, collective_time
from simulator.models.topology.network import IntArray, Network
from simulator.models.workload.iteration_prices import DecodeLine, IterationPrices
from simulator.models.workload.kernels import Kernel, elementwise, gemm, kernel_time_s, launch_overhead_s, roofline_s
from simulator.models.workload.transformer import MlpKind, PositionKind, TransformerModel, parameter_counts


class IterationModel(Protocol):
    """How long iterations take (simulator/models/workload/serving_time.py answers this for real chips)."""

    def iteration_s(self, decodes: int, decode_context: float, prefill_tokens: int,
                    prefill_context: float) -> float:
        """One iteration: `decodes` sequences (mean context) and a prefill chunk (prompt length)."""

    def decode_span_s(self, decodes: int, context: float, steps: int) -> float:
        """`steps` decode-only iterations, the mean context growing one token each."""

    def decode_steps_within(self, decodes: int, context: float, limit: int, budget_s: float) -> int:
        """Whole decode-only iterations (at most `limit`) that finish within `budget_s`."""


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
    stored_weight_bytes: float | None = None  # per weight when stored narrower than `precision` (int4: 0.5)
    pp: int = 1  # pipeline stages of tp GPUs each
    expert_parallel: bool = False  # MoE: whole experts spread over the tp GPUs (all-to-all), not sliced

    @functools.cached_property
    def _hash(self) -> int:
        return hash(tuple(getattr(self, f.name) for f in fields(self)))

    def __hash__(self) -> int:
        """Hashed once: the iteration caches look a replica's config up every iteration."""
        return self._hash

    @property
    def weight_element_bytes(self) -> float:
        """Bytes per stored weight: the precision's width, or narrower for weight-only quantization."""
        return self.stored_weight_bytes or self.precision.bytes

    @property
    def weight_bytes_per_gpu(self) -> float:
        """Every weight the replica holds (MoE: all experts), split over tensor and pipeline parallelism."""
        return parameter_counts(self.model).total * self.weight_element_bytes / (self.tp * self.pp)

    @property
    def stage_layers(self) -> int:
        """Layers of the busiest pipeline stage."""
        return -(-self.model.layers // self.pp)

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes one token occupies on one GPU (K and V of its stage's layers; heads split over TP)."""
        m = self.model
        mla = m.latent_attention
        if mla is not None:  # the compressed latent and the rotary key, replicated on every TP rank
            return self.stage_layers * (mla.kv_lora_rank + mla.qk_rope_head_dim) * self.kv_bytes
        heads_per_gpu = max(1.0, m.kv_heads_ / self.tp)
        return 2.0 * self.stage_layers * heads_per_gpu * m.head_dim_ * self.kv_bytes

    @property
    def kv_capacity_tokens(self) -> int:
        """Tokens the KV cache holds on one replica."""
        free = self.accelerator.hbm_bytes - self.weight_bytes_per_gpu - self.workspace_bytes
        return max(0, int(free * self.kv_memory_fraction / self.kv_bytes_per_token))


@functools.lru_cache(maxsize=256)
def _peaks(cfg: ServingConfig) -> tuple[float, float]:
    acc = cfg.accelerator
    linear, dense = acc.peak_flops(cfg.precision), acc.peak_flops(Precision.BF16)
    if linear is None or dense is None:
        raise ValueError(f"{acc.name} has no {cfg.precision.value} tensor peak")
    return linear, dense


def token_kernels(cfg: ServingConfig, tokens: float) -> list[tuple[Kernel, float]]:
    """Kernels of an average layer on one GPU whose cost depends only on the tokens in the iteration (decodes
    plus prefill): projections, MLP or routed and shared experts, norms, activation, rotary embedding; each
    with the fraction of layers that run it (an MoE model's leading dense layers have an MLP instead)."""
    m, tp = cfg.model, cfg.tp
    linear, _ = _peaks(cfg)
    element = cfg.weight_element_bytes
    h = m.hidden
    q_width = m.heads * m.head_dim_ / tp
    kv_width = max(1.0, m.kv_heads_ / tp) * m.head_dim_
    attention_weights = parameter_counts(m).attention_per_layer / h  # projection columns per model width
    layer: list[tuple[Kernel, float]] = [
        (gemm("qkv", tokens, (attention_weights - m.heads * m.head_dim_) / tp, h, linear, element), 1.0),
        (gemm("attention out", tokens, h, q_width, linear, element), 1.0),
    ]
    gated = 2 if m.mlp is MlpKind.SWIGLU else 1
    moe = (m.layers - m.dense_layers) / m.layers if m.is_moe else 0.0
    if moe:  # every token visits top_k experts; the experts a batch touches are read once
        f = float(m.expert_ffn_hidden_)
        routed, experts = tokens * m.top_k, float(m.experts)
        if cfg.expert_parallel:  # this GPU's whole experts get their share of the routed tokens
            routed, experts = routed / tp, experts / tp
        else:  # a 1/tp slice of every expert sees every routed token
            f /= tp
        touched = min(experts, routed)
        layer += [(gemm("router", tokens, m.experts, h, linear, element), moe),
                  (Kernel("experts", 2.0 * routed * h * f * (gated + 1),
                          element * touched * h * f * (gated + 1) + 4.0 * routed * (h + f), linear,
                          launches=max(1, int(touched))), moe),
                  (elementwise("expert activation", (6.0 if gated == 2 else 4.0) * routed * f,
                               MemoryKind.ACTIVATION), moe)]
        if m.shared_experts:  # always active, sliced over TP
            shared = m.shared_experts * m.expert_ffn_hidden_ / tp
            layer += [(gemm("shared experts up", tokens, gated * shared, h, linear, element), moe),
                      (gemm("shared experts down", tokens, h, shared, linear, element), moe),
                      (elementwise("shared activation", (6.0 if gated == 2 else 4.0) * tokens * shared,
                                   MemoryKind.ACTIVATION), moe)]
    if moe < 1.0:
        f = m.ffn_hidden_ / tp
        layer += [(gemm("mlp up", tokens, gated * f, h, linear, element), 1.0 - moe),
                  (gemm("mlp down", tokens, h, f, linear, element), 1.0 - moe),
                  (elementwise("activation", (6.0 if gated == 2 else 4.0) * tokens * f, MemoryKind.ACTIVATION),
                   1.0 - moe)]
    layer += [(elementwise("norms", 2 * 4.0 * tokens * h, MemoryKind.NORMALISING, launches=2), 1.0),
              (elementwise("residual adds", 2 * 6.0 * tokens * h, MemoryKind.STREAMING, launches=2), 1.0)]
    if m.position is PositionKind.ROPE:
        layer.append((elementwise("rope", 4.0 * tokens * (q_width + kv_width), MemoryKind.ROTARY), 1.0))
    return layer


def attention_kernels(cfg: ServingConfig, decodes: float, decode_context: float, prefill_tokens: float,
                      prefill_context: float) -> list[Kernel]:
    """Attention kernels of one layer on one GPU: decode attention reads every running sequence's cache
    (mean context `decode_context`) at the decode-attention efficiency; prefill attention is a causal fused
    kernel over prompts `prefill_context` long."""
    m, tp = cfg.model, cfg.tp
    _, dense = _peaks(cfg)
    q_width = m.heads * m.head_dim_ / tp
    kv_width = max(1.0, m.kv_heads_ / tp) * m.head_dim_
    kernels = [Kernel("decode attention", 4.0 * decodes * decode_context * q_width,
                      decodes * decode_context * 2.0 * kv_width * cfg.kv_bytes + 4.0 * decodes * q_width, dense,
                      kind=MemoryKind.DECODE_ATTENTION)]
    if prefill_tokens:
        kernels.append(Kernel("prefill attention", 2.0 * prefill_tokens * prefill_context * q_width,
                              2.0 * prefill_tokens * (q_width + 2 * kv_width) * 2, dense))
    return kernels


@functools.lru_cache(maxsize=1 << 16)
def _token_layer_s(cfg: ServingConfig, tokens: float) -> float:
    """Seconds of one layer's token kernels; cached because a replica repeats the same token counts."""
    return sum(share * kernel_time_s(k, cfg.accelerator) for k, share in token_kernels(cfg, tokens))


@dataclass(frozen=True)
class IterationTime:
    """One iteration's duration and its parts, seconds."""

    compute_s: float
    tp_comm_s: float
    overhead_s: float
    pp_comm_s: float = 0.0  # activation sends between pipeline stages

    @property
    def total_s(self) -> float:
        """Wall-clock time of the iteration."""
        return self.compute_s + self.tp_comm_s + self.overhead_s + self.pp_comm_s


def micro_batches(cfg: ServingConfig, decodes: int, prefill_tokens: float) -> int:
    """Micro-batches an iteration is split into over the pipeline: min(pp, sequences), a prefill chunk
    counting as one sequence."""
    return max(1, min(cfg.pp, decodes + (1 if prefill_tokens else 0)))


def iteration_time(cfg: ServingConfig, network: Network, decodes: int, decode_context: float,
                   prefill_tokens: float, prefill_context: float, gpus: IntArray | None = None) -> IterationTime:
    """Duration of one iteration with the replica's ranks on `gpus` (stage-major; default GPUs 0..n-1): TP
    all-reduces (2 per layer) are costed on the first stage's GPUs, and the sends between pipeline stages from
    each stage's GPUs to the next's."""
    return _iteration_parts(cfg, network, decodes, decode_context, prefill_tokens, prefill_context, gpus)[0]


def _iteration_parts(cfg: ServingConfig, network: Network, decodes: int, decode_context: float,
                     prefill_tokens: float, prefill_context: float,
                     gpus: IntArray | None) -> tuple[IterationTime, float, float]:
    """`iteration_time`, with one layer's attention seconds and the logits' seconds in it."""
    acc, m = cfg.accelerator, cfg.model
    split = micro_batches(cfg, decodes, prefill_tokens)
    d, p = decodes / split, prefill_tokens / split  # one micro-batch
    attention = attention_kernels(cfg, d, decode_context, p, prefill_context)
    # logits only for the sequences that emit a token: every decode and each prompt's last chunk
    logits = gemm("logits", (decodes + (1 if prefill_tokens else 0)) / split, m.vocab / cfg.tp, m.hidden,
                  _peaks(cfg)[1])
    attention_s, logits_s = sum(kernel_time_s(k, acc) for k in attention), kernel_time_s(logits, acc)
    compute = m.layers * (_token_layer_s(cfg, d + p) + attention_s) + logits_s
    comm = sends = 0.0
    if cfg.tp > 1:
        group = _ranks(cfg, gpus)[None, :cfg.tp]
        message = 2.0 * (d + p) * m.hidden
        reduce_s = collective_time(network, Op.ALL_REDUCE, group, message).time_s
        comm = 2 * m.layers * reduce_s
        if cfg.expert_parallel and m.is_moe:  # MoE layers: dispatch and combine all-to-alls and an all-gather
            moe_layers = m.layers - m.dense_layers  # replace the MLP's all-reduce
            dispatch = collective_time(network, Op.ALL_TO_ALL, group, message / cfg.tp * m.top_k).time_s
            gather = collective_time(network, Op.ALL_GATHER, group, message).time_s
            comm += moe_layers * (2 * dispatch + gather - reduce_s)
    if cfg.pp > 1:  # each TP rank passes its share of the micro-batch's hidden states to the next stage
        stages = _ranks(cfg, gpus).reshape(cfg.pp, cfg.tp)
        share = 2.0 * (d + p) * m.hidden / cfg.tp
        if gpus is None:  # every boundary alike on GPUs 0..n-1
            sends = (cfg.pp - 1) * network.phase(stages[0], stages[1], share).time_s
        else:
            sends = sum(network.phase(stages[s], stages[s + 1], share).time_s for s in range(cfg.pp - 1))
    return IterationTime(compute, comm, cfg.overhead_s, sends), attention_s, logits_s


def _ranks(cfg: ServingConfig, gpus: IntArray | None) -> IntArray:
    """The replica's GPUs, stage-major (GPUs 0..n-1 by default)."""
    return np.arange(cfg.tp * cfg.pp, dtype=np.int64) if gpus is None else gpus


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


def decode_line(cfg: ServingConfig, network: Network, decodes: int, gpus: IntArray | None = None) -> DecodeLine:
    """The two lines of `DecodeLine` for `decodes` running sequences: the iteration at context 0 less its
    decode attention, plus every layer's decode attention, whose FLOPs and bytes are affine in the context,
    on each side of its roofline."""
    acc, layers = cfg.accelerator, cfg.model.layers
    micro = decodes / micro_batches(cfg, decodes, 0)
    at_0, at_1 = (attention_kernels(cfg, micro, c, 0.0, 0.0)[0] for c in (0.0, 1.0))
    (compute_0, memory_0), (compute_1, memory_1) = roofline_s(at_0, acc), roofline_s(at_1, acc)
    base = iteration_time(cfg, network, decodes, 0.0, 0.0, 0.0, gpus).total_s - layers * max(compute_0, memory_0)
    return DecodeLine(base + layers * compute_0, layers * (compute_1 - compute_0),
                      base + layers * memory_0, layers * (memory_1 - memory_0))


def decode_span_s(cfg: ServingConfig, network: Network, decodes: int, context: float, steps: int) -> float:
    """Seconds of `steps` consecutive decode-only iterations (see `DecodeLine`), in closed form."""
    return decode_line(cfg, network, decodes).span_s(context, steps)


def decode_steps_within(cfg: ServingConfig, network: Network, decodes: int, context: float, limit: int,
                        budget_s: float) -> int:
    """How many whole decode iterations (at most `limit`) finish within `budget_s`: lets a replica stop at
    the iteration in flight when a request arrives instead of stepping through each one."""
    return decode_line(cfg, network, decodes).steps_within(context, limit, budget_s)


@dataclass(frozen=True)
class ReplicaIterations:
    """The iteration model of one replica on its network, in the form the serving engine asks for: `prices`
    (iteration_prices.py) answers in plain arithmetic, asking this model for the parts that depend only on
    token counts and for each batch size's decode line once (tested equal to `iteration_time`)."""

    cfg: ServingConfig
    network: Network
    gpus: tuple[int, ...] | None = None  # the replica's GPUs, stage-major (None: GPUs 0..n-1)

    @functools.cached_property
    def _ranks(self) -> IntArray | None:
        return None if self.gpus is None else np.array(self.gpus, dtype=np.int64)

    @functools.cached_property
    def prices(self) -> IterationPrices:
        """The same model in the compiled form the serving engine calls."""
        cfg, acc = self.cfg, self.cfg.accelerator
        m = cfg.model
        decode, prefill = MemoryKind.DECODE_ATTENTION, None
        attention = (1.0 / (_peaks(cfg)[1] * acc.matmul_efficiency),
                     1.0 / (acc.hbm_bandwidth_bytes_per_s * acc.memory_kind_efficiency(decode)),
                     launch_overhead_s(decode, acc),
                     1.0 / (acc.hbm_bandwidth_bytes_per_s * acc.memory_kind_efficiency(prefill)),
                     launch_overhead_s(prefill, acc),
                     m.heads * m.head_dim_ / cfg.tp, max(1.0, m.kv_heads_ / cfg.tp) * m.head_dim_, cfg.kv_bytes)
        return IterationPrices(cfg.pp, m.layers, attention, self._fixed_s, self._logits_s, self._line)

    def _fixed_s(self, decodes: int, prefill_tokens: int) -> float:
        """Everything but attention and logits in one micro-batch: token kernels, communication, overhead."""
        split = micro_batches(self.cfg, decodes, prefill_tokens)
        tokens = (decodes + prefill_tokens) / split if split > 1 else decodes + prefill_tokens
        # a prompt alone is one micro-batch: its attention and logits are those of `tokens` prompt tokens
        timed, attention_s, logits_s = _iteration_parts(self.cfg, self.network, 0, 0.0, tokens, 0.0, self._ranks)
        return timed.total_s - self.cfg.model.layers * attention_s - logits_s

    def _logits_s(self, rows: float) -> float:
        cfg = self.cfg
        return kernel_time_s(gemm("logits", rows, cfg.model.vocab / cfg.tp, cfg.model.hidden, _peaks(cfg)[1]),
                             cfg.accelerator)

    def _line(self, decodes: int) -> tuple[float, float, float, float]:
        line = decode_line(self.cfg, self.network, decodes, self._ranks)
        return line.a_compute, line.b_compute, line.a_memory, line.b_memory

    def iteration_s(self, decodes: int, decode_context: float, prefill_tokens: int,
                    prefill_context: float) -> float:
        """One iteration, seconds."""
        return self.prices.iteration_s(decodes, decode_context, prefill_tokens, prefill_context)

    def decode_span_s(self, decodes: int, context: float, steps: int) -> float:
        """Decode-only iterations summed in closed form."""
        return self.prices.decode_span_s(decodes, context, steps)

    def decode_steps_within(self, decodes: int, context: float, limit: int, budget_s: float) -> int:
        """Whole decode-only iterations (at most `limit`) within a time budget."""
        return self.prices.decode_steps_within(decodes, context, limit, budget_s)


def priced(model: IterationModel) -> IterationModel:
    """What the serving engine should call for `model`: its compiled form where it has one."""
    return model.prices if isinstance(model, ReplicaIterations) else model
