"""Inference workloads inside a scenario run: each service asks the cluster for its GPUs (after training jobs
submitted before it, in order), places its replicas on them, serves its requests as SimPy processes in the
run's environment, loses replicas to the failures of their nodes, and is reported in the JSON contract."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import cast

import numpy as np
import simpy

from simulator.engine.cluster import Cluster, GpuIds
from simulator.engine.serving import (
    Autoscaler,
    DecodePool,
    Deployment,
    FailurePolicy,
    ReplicaLimits,
    RouterPolicy,
    ServingOutcome,
    deploy_serving,
)
from simulator.engine.serving_summary import LatencyStats, summarize_serving
from simulator.models.topology.network import Network
from simulator.models.workload.serving_time import ReplicaIterations, ServingConfig
from simulator.plan.economy import Economy, breakdown
from simulator.plan.resolve import (
    RequestLoad,
    cluster_shape,
    network,
    prefix_slots,
    request_load,
    serving_config,
)
from simulator.report.model import InferenceReport, LatencyCdf, LatencyReport, RequestCounts, SloReport
from simulator.scenario.inference import InferenceWorkload
from simulator.scenario.schema import ClusterSpec
from simulator.units import SECONDS_PER_HOUR


@dataclass
class Service:
    """One inference workload in a run: its requests, its deployment, and where its GPUs are."""

    workload: InferenceWorkload
    load: RequestLoad
    deployment: Deployment
    replica_gpus: np.ndarray  # GPUs of each replica, by replica number
    started_s: float | None = None
    finished_s: float | None = None
    process: simpy.Process | None = None


@functools.lru_cache(maxsize=64)
def _iterations(cfg: ServingConfig, net: Network) -> ReplicaIterations:
    """Shared by replicas and replicates: its caches of decode lines fill once."""
    return ReplicaIterations(cfg, net)


def _limits(w: InferenceWorkload, cfg: ServingConfig, cache_prefixes: bool = True) -> ReplicaLimits:
    swap = cfg.kv_bytes_per_token / w.swap_bandwidth_bytes_per_s if w.preemption == "swap" else 0.0
    slots, blocks = prefix_slots(w, cfg) if cache_prefixes else (0, cfg.kv_capacity_tokens // w.kv_block_tokens)
    return ReplicaLimits(cfg.max_batch, cfg.max_num_tokens, blocks, w.kv_block_tokens, w.reserve_output, swap, slots)


def _kv_transfer_s_per_token(w: InferenceWorkload, cluster: ClusterSpec, prefill: ServingConfig) -> float:
    """Seconds to move one token's KV cache from a prefill to a decode replica: every prefill rank's shard
    goes out over its own link, received by as many decode ranks as there are."""
    d = w.disaggregation
    assert d is not None
    shape = cluster_shape(cluster)
    per_gpu = d.kv_transfer_bandwidth_bytes_per_s or (
        shape.nic_bandwidth_bytes_per_s if math.isfinite(shape.nic_bandwidth_bytes_per_s)
        else shape.scale_up_bandwidth_bytes_per_s)
    return prefill.kv_bytes_per_token * prefill.tp * prefill.pp / (
        min(prefill.tp * prefill.pp, w.decode_tp * w.decode_pp) * per_gpu)


def deploy(env: simpy.Environment, cluster: Cluster, w: InferenceWorkload, spec: ClusterSpec,
           rng: np.random.Generator) -> Service:
    """Build the service's processes; it takes its GPUs from `cluster` at `start_at` and frees them when
    every request is completed or failed."""
    net = network(spec)
    cfg = serving_config(w, spec)
    decode = None
    if w.disaggregation is not None:
        decoder = serving_config(w, spec, decode=True)
        decode = DecodePool(_iterations(decoder, net), _limits(w, decoder, False), w.disaggregation.decode_replicas,
                            _kv_transfer_s_per_token(w, spec, cfg))
    scaler = w.autoscaling
    autoscaler = Autoscaler(scaler.min_replicas, scaler.max_replicas, scaler.interval_s, scaler.scale_up_at,
                            scaler.scale_down_at, scaler.cold_start_s, scaler.metric == "busy") if scaler else None
    load = request_load(w, rng)
    deployment = deploy_serving(env, _iterations(cfg, net), _limits(w, cfg), w.replicas, load.arrival_s,
                                load.input_tokens, load.output_tokens, RouterPolicy(w.router), rng, decode,
                                FailurePolicy(w.on_failure), autoscaler, load.prefix_group,
                                w.prefix_caching.prefix_tokens if w.prefix_caching else 0)
    replica_gpus = np.array([w.tp * w.pp] * w.pool_replicas
                            + [w.decode_tp * w.decode_pp] * (decode.replicas if decode else 0))
    service = Service(w, load, deployment, replica_gpus)
    service.process = env.process(_serve(env, cluster, service))
    return service


def _hold(cluster: Cluster, service: Service, ids: GpuIds, replicas: list[int]) -> None:
    """Place `replicas` on `ids` in order and take each down when one of its nodes fails."""
    gpus, deployment = service.replica_gpus, service.deployment
    edges = np.concatenate(([0], np.cumsum(gpus[replicas])))
    on_node: dict[int, list[int]] = {}
    for at, replica in enumerate(replicas):
        for node in np.unique(ids[edges[at]:edges[at + 1]] // cluster.gpus_per_node).tolist():
            on_node.setdefault(node, []).append(replica)

    def failed(node: int, cause: str) -> None:
        for replica in on_node.get(node, []):
            deployment.crash(replica, cluster.repaired(node))

    def slowed(node: int, factor: float, detection_s: float, repair_s: float, cause: str) -> None:
        """A straggler slows the node's replicas until it is detected; then the node is taken out for repair
        like a failed one (unless a failure or another holder's eviction took it down first)."""
        for replica in on_node.get(node, []):
            deployment.slow(replica, factor)
        cluster.env.process(_evict(node, detection_s, repair_s, cause))

    def _evict(node: int, detection_s: float, repair_s: float, cause: str) -> Generator[simpy.Event, object, None]:
        yield cluster.env.timeout(detection_s)
        if cluster.up[node] and any(deployment.is_slowed(r) for r in on_node.get(node, [])):
            cluster.fail_node(node, repair_s, f"straggler:{cause}")

    cluster.hold(ids, failed, slowed)


def _serve(env: simpy.Environment, cluster: Cluster, service: Service) -> Generator[simpy.Event, object, None]:
    """Take GPUs for the first replicas and the decode pool, serve, and free them when every request is done;
    replicas the autoscaler starts ask the cluster for their GPUs then (at the service's priority, so with
    preemption they may stop preemptible work) and give them back when switched off."""
    w, deployment = service.workload, service.deployment
    yield env.timeout(w.start_at_s)  # even at 0: workloads submitted at one time ask for GPUs in scenario order
    # one allocation per main-pool replica (the autoscaler may give any back), one for the decode pool
    decoders = list(range(w.pool_replicas, len(service.replica_gpus)))
    asks = {r: cluster.request(int(service.replica_gpus[r]), w.priority, tenant=w.tenant) for r in range(w.replicas)}
    if decoders:
        asks[-1] = cluster.request(int(service.replica_gpus[decoders].sum()), w.priority, tenant=w.tenant)
    yield env.all_of(list(asks.values()))
    extra: dict[int, GpuIds] = {r: cast(GpuIds, event.value) for r, event in asks.items()}
    for r, granted in extra.items():
        _hold(cluster, service, granted, decoders if r < 0 else [r])
    pending: dict[int, simpy.Event] = {}

    def grab(replica: int) -> Generator[simpy.Event, object, None]:
        pending[replica] = cluster.request(int(service.replica_gpus[replica]), w.priority, tenant=w.tenant)
        granted: GpuIds = (yield pending[replica])  # type: ignore[assignment]
        del pending[replica]
        if service.finished_s is not None:
            return  # the service ended as they came: _serve has released them
        _hold(cluster, service, granted, [replica])
        extra[replica] = granted

    if w.autoscaling is not None:
        deployment.acquire = lambda replica: env.process(grab(replica))
        deployment.give_back = lambda replica: cluster.release(extra.pop(replica)) if replica in extra else None
    service.started_s = env.now
    deployment.bring_up()
    assert deployment.done is not None
    yield deployment.done
    service.finished_s = env.now
    for event in pending.values():  # replicas still waiting for GPUs: withdraw, or free what just came
        if not cluster.cancel(event):
            cluster.release(cast(GpuIds, event.value))
    for granted in extra.values():
        cluster.release(granted)
    extra.clear()  # nothing left to give back


def settle(service: Service, cluster: Cluster, busy_w: float) -> ServingOutcome:
    """Close the service's accounts at the end of the run and credit its work to the cluster."""
    outcome = service.deployment.close()
    busy_gpu_s = float(np.sum(outcome.busy_s * service.replica_gpus))
    cluster.record_busy(1, busy_gpu_s, busy_w)
    cluster.productive_gpu_s += busy_gpu_s
    return outcome


def probes(service: Service) -> dict[str, Callable[[], float]]:
    """What the run's sampler reads of a service: progress, queue and batch."""
    deployment = service.deployment
    total = max(1, len(service.load.arrival_s))
    everyone = deployment.pool + deployment.decoders
    name = service.workload.name
    return {
        f"{name}.progress": lambda: 1.0 - deployment.unsettled / total,
        f"{name}.queued": lambda: sum(len(r.waiting) for r in everyone) + len(deployment.stranded),
        f"{name}.running": lambda: sum(len(r.running) for r in everyone) + len(deployment.moving),
        f"{name}.busy_gpus": lambda: float(sum(gpus for r, gpus in zip(everyone, service.replica_gpus, strict=True)
                                               if r.iteration_start_s is not None)),
    }


CDF_POINTS = 101


def latency_cdf(service: Service, outcome: ServingOutcome) -> LatencyCdf:
    """TTFT, TPOT and end-to-end quantiles at 0, 1, ..., 100 %."""
    probabilities = np.linspace(0.0, 1.0, CDF_POINTS)
    outputs = service.load.output_tokens
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


def _latency(stats: LatencyStats) -> LatencyReport:
    def value(x: float) -> float | None:
        return x if math.isfinite(x) else None

    return LatencyReport(mean=value(stats.mean_s), p50=value(stats.p50_s), p90=value(stats.p90_s),
                         p99=value(stats.p99_s))


def inference_report(service: Service, outcome: ServingOutcome, spec: ClusterSpec,
                     economy: Economy) -> InferenceReport:
    """The workload's figures: request accounting, latency percentiles, throughput, SLO, KV use and cost."""
    w, load, prices, power = service.workload, service.load, economy.prices, economy.power
    gpus = service.replica_gpus
    busy_gpu_s = float(np.sum(outcome.busy_s * gpus))
    active_gpu_s = float(np.sum(outcome.active_s * gpus))
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
    return InferenceReport(
        kind="inference", status=status, model=w.model.name, accelerator=spec.accelerator.name, gpus=w.gpus,
        replicas=w.replicas, max_replicas=w.pool_replicas,
        decode_replicas=w.disaggregation.decode_replicas if w.disaggregation else 0, tp=w.tp, pp=w.pp,
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
        cost_breakdown=breakdown(economy, active_gpu_s, busy_gpu_s, 0.0, 0.0, kwh),
        prefix_cache_hit_rate=outcome.prefix_hits / outcome.prefix_lookups if outcome.prefix_lookups else None,
        gpu_hours=active_gpu_s / SECONDS_PER_HOUR, energy_kwh=kwh,
        cost_usd=summary.cost_usd, usd_per_million_output_tokens=optional(summary.usd_per_million_output_tokens),
        usd_per_million_tokens=optional(summary.usd_per_million_tokens),
    )
