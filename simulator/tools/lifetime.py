"""The lifetime planner (`clustersim plan-lifetime`): for a quality target and a serving demand, which model
size costs least to train once and serve for its lifetime (Sardana & Frankle 2023, "Beyond Chinchilla-Optimal")?

The quality target is a compute-optimal training budget C: its Chinchilla-optimal model (approach 3, the
parametric loss) sets the target loss L* = L(N*, D*). A smaller model reaches L* by training on more tokens
(D solves L(N, D) = L*), so it costs more to train and less to serve. Training runs at an MFU on the
accelerator; serving runs at the iteration model's offline maximum throughput for a Llama-style model of each
size on the fewest GPUs that hold it (a lower bound on serving cost: real services run below their maximum).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.models.hardware import Accelerator, Precision
from simulator.models.topology.build import build_network
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import SingleSwitchTopology
from simulator.models.workload.scaling_laws import (
    CHINCHILLA_A,
    CHINCHILLA_ALPHA,
    CHINCHILLA_B,
    CHINCHILLA_BETA,
    CHINCHILLA_E,
    FLOPS_PER_PARAM_TOKEN,
    chinchilla_approach3,
    chinchilla_loss,
    gpus_for_days,
)
from simulator.models.workload.serving_time import ServingConfig, offline_throughput
from simulator.models.workload.shapes import llama_style_model
from simulator.report.tools import LifetimeReport, LifetimeRow
from simulator.tools.planner import MfuSource, PlanError, catalog_accelerator, on_demand_price, parse_count

# candidate sizes: N* x 2^(k / STEPS_PER_OCTAVE) from N*/64 to 2 N*, so that the compute-optimal N* itself is a row
# (k = 0) and the summary's compute-optimal figures are that row's, exactly as the table shows them
STEPS_PER_OCTAVE = 5
OCTAVES_BELOW = 6
OCTAVES_ABOVE = 1
WORKSPACE_BYTES = 2 * 2**30
MIN_RESIDENT_SEQUENCES = 16  # a serving layout must hold at least this many requests in its KV cache


@dataclass(frozen=True)
class LifetimeRequest:
    """What the user asked for, as given on the command line."""

    compute: str  # the quality target as a compute-optimal training budget, FLOPs
    tokens_per_day: str  # serving demand: prompt and generated tokens per day
    days: float  # serving lifetime, days
    accelerator: str = "h100-sxm"
    gpu_hour_usd: float | None = None
    mfu: float | None = None
    training_days: float = 90.0
    input_tokens: int = 1000
    output_tokens: int = 250


def tokens_for_loss(params: float, loss: float) -> float:
    """Training tokens at which a model of `params` reaches `loss` under Chinchilla's fitted L(N, D); inf
    where the model is too small to reach it at any data size."""
    gap = loss - CHINCHILLA_E - CHINCHILLA_A / params**CHINCHILLA_ALPHA
    return math.inf if gap <= 0 else (CHINCHILLA_B / gap) ** (1.0 / CHINCHILLA_BETA)


@dataclass(frozen=True)
class Serving:
    """Offline serving of one model size: layout and throughput."""

    tp: int
    pp: int
    tokens_per_s: float  # prompt + generated tokens per second per replica


def serving_layout(params: float, acc: Accelerator, input_tokens: int, output_tokens: int) -> Serving:
    """The fewest GPUs (TP up to 8 in a node, then pipeline stages of 8) whose KV cache holds
    MIN_RESIDENT_SEQUENCES requests, and their offline throughput (bf16 weights and KV cache)."""
    model = llama_style_model(params)
    for tp, pp in [(1, 1), (2, 1), (4, 1), (8, 1), (8, 2), (8, 4), (8, 8), (8, 16)]:
        cfg = ServingConfig(model, acc, Precision.BF16, 2.0, tp, 0.9, WORKSPACE_BYTES, 256, 8192, 0.0, pp=pp)
        if cfg.kv_capacity_tokens >= MIN_RESIDENT_SEQUENCES * (input_tokens + output_tokens):
            shape = ClusterShape(max(1, tp * pp // 8), min(8, tp * pp), acc.scale_up_bandwidth_bytes_per_s or 450e9,
                                 acc.nic_bandwidth_bytes_per_s or 50e9, acc.in_switch_reduction)
            net = build_network(SingleSwitchTopology(kind="single_switch"), shape)
            steady = offline_throughput(cfg, net, input_tokens, output_tokens)
            return Serving(tp, pp, steady.output_tokens_per_s * (1 + input_tokens / output_tokens))
    raise PlanError(f"a {params / 1e9:.3g}B model does not fit 128 {acc.name} with room for its KV cache")


def candidate_sizes(optimal_params: float) -> list[float]:
    """The sizes compared: geometric in steps of 1/STEPS_PER_OCTAVE octave around the compute-optimal size, which
    is one of them exactly (k = 0)."""
    steps = range(-OCTAVES_BELOW * STEPS_PER_OCTAVE, OCTAVES_ABOVE * STEPS_PER_OCTAVE + 1)
    return [optimal_params * 2.0 ** (k / STEPS_PER_OCTAVE) for k in steps]


def plan_lifetime(request: LifetimeRequest) -> LifetimeReport:
    """Train-once-serve-for-life cost of every candidate size at the target quality; PlanError on bad input."""
    compute = parse_count(request.compute, "--compute", 1e32)
    demand = parse_count(request.tokens_per_day, "--tokens-per-day", 1e18)
    if not 0 < request.days <= 36_500:
        raise PlanError(f"--days must be positive and at most 36,500, got {request.days:g}")
    if not (0 < request.input_tokens <= 1_000_000 and 0 < request.output_tokens <= 1_000_000):
        raise PlanError("--input-tokens and --output-tokens must be between 1 and 1,000,000")
    acc = catalog_accelerator(request.accelerator)
    price, price_source = on_demand_price(acc, request.gpu_hour_usd)
    if price is None:
        raise PlanError(price_source)
    law = chinchilla_approach3()
    optimal = law.for_compute(compute)
    target = chinchilla_loss(optimal.params, optimal.tokens)
    mfu_of = MfuSource(request.mfu)
    gpus = gpus_for_days(compute, request.training_days, acc.peak_bf16_flops, 0.4).gpus
    mfu = mfu_of(optimal.params, acc, gpus)  # the compute-optimal model's, for every size (stated)
    rows = []
    for params in candidate_sizes(optimal.params):
        tokens = tokens_for_loss(float(params), target)
        if not math.isfinite(tokens):
            continue
        try:
            serving = serving_layout(float(params), acc, request.input_tokens, request.output_tokens)
        except ValueError:
            continue  # too small for the Llama-style shape family, or too big to serve
        flops = FLOPS_PER_PARAM_TOKEN * params * tokens
        train_gpu_hours = flops / (acc.peak_bf16_flops * mfu) / 3600.0
        replica_gpus = serving.tp * serving.pp
        usd_per_token = price * replica_gpus / 3600.0 / serving.tokens_per_s
        serve_usd = demand * request.days * usd_per_token
        rows.append(LifetimeRow(
            params=float(params), tokens=tokens, tokens_per_param=tokens / params, training_flops=flops,
            training_gpu_hours=train_gpu_hours, training_usd=train_gpu_hours * price, serving_tp=serving.tp,
            serving_pp=serving.pp, serving_tokens_per_s_per_gpu=serving.tokens_per_s / replica_gpus,
            usd_per_million_tokens=usd_per_token * 1e6, serving_usd=serve_usd,
            total_usd=train_gpu_hours * price + serve_usd,
        ))
    if not rows:
        raise PlanError("no candidate size reaches the target loss and can be served")
    best = min(range(len(rows)), key=lambda i: rows[i].total_usd)
    chinchilla = min(range(len(rows)), key=lambda i: abs(math.log(rows[i].params / optimal.params)))  # N* if served
    return LifetimeReport(
        compute_flops=compute, target_loss_nats=target, chinchilla_params=optimal.params,
        chinchilla_tokens=optimal.tokens, tokens_per_day=demand, days=request.days,
        serving_tokens=demand * request.days, input_tokens=request.input_tokens,
        output_tokens=request.output_tokens, accelerator=acc.name, gpu_hour_usd=price, price_source=price_source,
        mfu=mfu, mfu_source=mfu_of.source + " (at the compute-optimal size, used for every size)",
        rows=rows, optimal_index=best, chinchilla_index=chinchilla,
        notes=[
            "Quality: Chinchilla approach 3's fitted loss L(N, D) = E + A/N^a + B/D^b (Hoffmann et al. 2022); a size "
            "below the compute-optimal one reaches the same loss on more tokens (Sardana & Frankle 2023).",
            "Serving: offline maximum throughput of a Llama-3-style model of each size in bf16 on the fewest GPUs "
            f"whose KV cache holds {MIN_RESIDENT_SEQUENCES} requests of {request.input_tokens} + "
            f"{request.output_tokens} tokens; real services run below it, so serving costs are lower bounds.",
            "Not counted: hardware for peak demand, idle capacity, data and people.",
        ],
    )
