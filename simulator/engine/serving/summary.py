"""What a serving run amounts to: request accounting, TTFT / TPOT / end-to-end percentiles, throughput, SLO
attainment, KV-cache use and cost per million tokens, from the engine's per-request times.

Accounting never drops a request: arrived = completed + failed + queued + running at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.engine.serving.requests import ServingOutcome


@dataclass(frozen=True)
class LatencyStats:
    """Mean and percentiles of one latency, seconds (NaN where no request has one)."""

    mean_s: float
    p50_s: float
    p90_s: float
    p99_s: float


def latency_stats(values_s: np.ndarray) -> LatencyStats:
    """Statistics of the finite values (requests that reached the point being measured)."""
    finite = values_s[np.isfinite(values_s)]
    if finite.size == 0:
        return LatencyStats(np.nan, np.nan, np.nan, np.nan)
    p50, p90, p99 = np.percentile(finite, [50, 90, 99])
    return LatencyStats(float(finite.mean()), float(p50), float(p90), float(p99))


@dataclass(frozen=True)
class ServingSummary:
    """One serving workload's figures over a run."""

    arrived: int
    completed: int
    failed: int  # could never fit in a replica's KV cache, or lost to a failure under the fail policy
    retried: int  # restarts on another replica after a failure
    queued_at_end: int
    running_at_end: int
    preemptions: int
    ttft: LatencyStats  # arrival to first token
    tpot: LatencyStats  # mean gap between later tokens, per request with two or more
    e2e: LatencyStats  # arrival to last token
    output_tokens_per_s: float  # generated tokens of completed requests over the simulated time
    input_tokens_per_s: float  # prompt tokens of completed requests over the simulated time
    slo_attainment: float  # of arrived requests: completed within both SLOs
    busy_fraction: float  # of replica time spent running iterations
    kv_cache_utilization: float  # mean fraction of KV blocks held
    gpu_hours: float
    cost_usd: float
    usd_per_million_output_tokens: float
    usd_per_million_tokens: float  # input and output


def summarize_serving(outcome: ServingOutcome, input_tokens: np.ndarray, output_tokens: np.ndarray,
                      gpus_per_replica: int | np.ndarray, usd_per_gpu_hour: float, slo_ttft_s: float,
                      slo_tpot_s: float, start_s: float = 0.0, energy_usd: float = 0.0) -> ServingSummary:
    """Summarize a run; the cost is every replica's GPUs (a count, or one per replica) for as long as the
    replica was provisioned, plus `energy_usd`; rates are over the time from `start_s` to the end."""
    arrived = outcome.arrived
    done = np.isfinite(outcome.finish_s)
    ttft = outcome.first_token_s - outcome.arrival_s
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(output_tokens > 1, (outcome.finish_s - outcome.first_token_s) / (output_tokens - 1),
                        np.nan)
    e2e = np.where(done, outcome.finish_s - outcome.arrival_s, np.nan)
    met = done & (ttft <= slo_ttft_s) & ((output_tokens <= 1) | (tpot <= slo_tpot_s))
    duration_s = outcome.end_s - start_s
    active_s = float(outcome.active_s.sum())
    gpu_hours = float(np.sum(gpus_per_replica * outcome.active_s)) / 3600.0
    cost = gpu_hours * usd_per_gpu_hour + energy_usd
    out_tokens, in_tokens = float(output_tokens[done].sum()), float(input_tokens[done].sum())

    def per_s(tokens: float) -> float:
        return tokens / duration_s if duration_s > 0 else 0.0

    def per_million(tokens: float) -> float:
        return cost / tokens * 1e6 if tokens > 0 else np.nan

    return ServingSummary(
        arrived=int(arrived.sum()), completed=int(done.sum()), failed=int(outcome.failed.sum()),
        retried=outcome.retried, queued_at_end=outcome.queued_at_end, running_at_end=outcome.running_at_end,
        preemptions=outcome.preemptions, ttft=latency_stats(ttft), tpot=latency_stats(tpot),
        e2e=latency_stats(e2e), output_tokens_per_s=per_s(out_tokens), input_tokens_per_s=per_s(in_tokens),
        slo_attainment=float(met.sum() / arrived.sum()) if arrived.any() else np.nan,
        busy_fraction=float(outcome.busy_s.sum() / active_s) if active_s > 0 else 0.0,
        kv_cache_utilization=(float(outcome.kv_block_s.sum() / np.sum(outcome.kv_capacity_blocks * outcome.active_s))
                              if active_s > 0 else 0.0),
        gpu_hours=gpu_hours, cost_usd=cost, usd_per_million_output_tokens=per_million(out_tokens),
        usd_per_million_tokens=per_million(out_tokens + in_tokens),
    )
