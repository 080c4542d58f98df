"""The report of an inference workload: request accounting, latency percentiles and CDFs, throughput, SLO
attainment, KV-cache use, energy and cost."""

from __future__ import annotations

import math

import numpy as np

from simulator.engine.fabric import Contention
from simulator.engine.serving.requests import ServingOutcome
from simulator.engine.serving.service import Service
from simulator.engine.serving.summary import LatencyStats, summarize_serving
from simulator.plan.economy import Economy
from simulator.plan.serving import serving_config
from simulator.report.costs import breakdown
from simulator.report.model import InferenceReport, LatencyReport, RequestCounts, SloReport
from simulator.report.series import LatencyCdf
from simulator.scenario.inference import InferenceWorkload
from simulator.scenario.schema import ClusterSpec
from simulator.units import SECONDS_PER_HOUR

CDF_POINTS = 101


def latency_cdf(service: Service, outcome: ServingOutcome) -> LatencyCdf:
    """TTFT, TPOT and end-to-end quantiles at 0, 1, ..., 100 %."""
    probabilities = np.linspace(0.0, 1.0, CDF_POINTS)
    outputs = service.plan.load.output_tokens
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(outputs > 1, (outcome.finish_s - outcome.first_token_s) / (outputs - 1), np.nan)

    def quantiles(values: np.ndarray) -> list[float | None]:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return [None] * CDF_POINTS
        return [float(q) for q in np.quantile(finite, probabilities)]

    return LatencyCdf(probabilities=[float(p) for p in probabilities],
                      ttft_s=quantiles(outcome.first_token_s - outcome.arrival_s), tpot_s=quantiles(tpot),
                      e2e_s=quantiles(outcome.finish_s - outcome.arrival_s))


def windowed_latency(outcome: ServingOutcome, time_s: list[float]) -> dict[str, list[float | None]]:
    """TTFT p50/p99 of the requests whose first token came, and end-to-end p50/p99 of those completed, between
    each sample time and the one before (null where none did): sorted once, one quantile call per window."""
    edges = np.asarray(time_s, dtype=float)
    series: dict[str, list[float | None]] = {}
    for name, mark in (("ttft", outcome.first_token_s), ("e2e", outcome.finish_s)):
        done = np.isfinite(mark)
        order = np.argsort(mark[done], kind="stable")
        at, latency = mark[done][order], (mark - outcome.arrival_s)[done][order]
        bounds = np.searchsorted(at, edges, side="right")
        windows = [latency[lo:hi] for lo, hi in zip([0, *bounds], bounds, strict=False)]
        for q in (50, 99):
            series[f"{name}_p{q}_s"] = [float(np.percentile(w, q)) if w.size else None for w in windows]
    return series


def _latency(stats: LatencyStats) -> LatencyReport:
    def value(x: float) -> float | None:
        return x if math.isfinite(x) else None

    return LatencyReport(mean=value(stats.mean_s), p50=value(stats.p50_s), p90=value(stats.p90_s),
                         p99=value(stats.p99_s))


def inference_report(w: InferenceWorkload, service: Service, outcome: ServingOutcome, spec: ClusterSpec,
                     economy: Economy) -> InferenceReport:
    """The workload's figures: request accounting, latency percentiles, throughput, SLO, KV use and cost."""
    load, prices, power = service.plan.load, economy.prices, economy.power
    gpus = service.replica_gpus
    busy_gpu_s = service.gpu_seconds(outcome.busy_s)
    lost_gpu_s = service.gpu_seconds(outcome.lost_s)  # iterations whose work replica failures threw away
    active_gpu_s = service.gpu_seconds(outcome.active_s)
    kwh = prices.facility_kwh(busy_gpu_s * power.computing_w + (active_gpu_s - busy_gpu_s) * power.idle_w)
    start = service.started_s if service.started_s is not None else w.start_at_s
    summary = summarize_serving(outcome, load.input_tokens, load.output_tokens, gpus, prices.gpu_hour_usd,
                                w.slo.ttft_s, w.slo.tpot_s, start_s=start,
                                energy_usd=prices.cost_usd(0.0, kwh))
    cfg = serving_config(w, spec)
    status = "queued" if service.started_s is None else "completed" if service.finished_s is not None else "running"

    def optional(x: float) -> float | None:
        return x if math.isfinite(x) else None

    duration_s = outcome.end_s - start
    contention = service.contention or Contention()
    return InferenceReport(
        kind="inference", status=status, model=w.model.name, accelerator=_chips(spec, service), gpus=w.gpus,
        replicas=w.replicas, max_replicas=w.pool_replicas,
        decode_replicas=w.disaggregation.decode_replicas if w.disaggregation else 0, tp=w.tp, pp=w.pp,
        contention_factor=contention.mean_factor(), contention_max_factor=contention.max_factor,
        contention_links=contention.links,
        weights_per_gpu_bytes=cfg.weight_bytes_per_gpu, kv_capacity_tokens=cfg.kv_capacity_tokens,
        started_s=service.started_s, finished_s=service.finished_s,
        requests=RequestCounts(
            total=len(load.arrival_s), arrived=summary.arrived, completed=summary.completed, failed=summary.failed,
            retried=summary.retried, queued_at_end=summary.queued_at_end, in_flight_at_end=summary.running_at_end,
            not_arrived=len(load.arrival_s) - summary.arrived, preemptions=summary.preemptions,
        ),
        ttft_s=_latency(summary.ttft), tpot_s=_latency(summary.tpot), e2e_s=_latency(summary.e2e),
        throughput_tokens_per_s=summary.output_tokens_per_s, input_tokens_per_s=summary.input_tokens_per_s,
        requests_per_s=summary.completed / duration_s if duration_s > 0 else 0.0,
        slo=SloReport(ttft_s=w.slo.ttft_s, tpot_s=w.slo.tpot_s), slo_attainment=optional(summary.slo_attainment),
        replica_busy_fraction=summary.busy_fraction, kv_cache_utilization=summary.kv_cache_utilization,
        replica_failures=outcome.outages, carbon_tco2e=prices.tco2e(kwh),
        cost_breakdown=breakdown(economy, active_gpu_s, busy_gpu_s - lost_gpu_s, 0.0, lost_gpu_s, kwh),
        prefix_cache_hit_rate=outcome.prefix_hits / outcome.prefix_lookups if outcome.prefix_lookups else None,
        gpu_hours=active_gpu_s / SECONDS_PER_HOUR, energy_kwh=kwh,
        cost_usd=summary.cost_usd, usd_per_million_output_tokens=optional(summary.usd_per_million_output_tokens),
        usd_per_million_tokens=optional(summary.usd_per_million_tokens),
    )


def _chips(cluster: ClusterSpec, service: Service) -> str:
    """The accelerator of its replicas; `A prefill + B decode` where its decode pool has another."""
    plan, pools = service.plan, cluster.pool_specs
    if plan.decode is None or plan.decode_pool == plan.pool or plan.pool < 0:
        return cluster.accelerator.name
    return f"{pools[plan.pool].accelerator.name} prefill + {pools[plan.decode_pool].accelerator.name} decode"
