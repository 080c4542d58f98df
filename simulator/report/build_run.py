"""The cluster-wide parts of a run's report: GPU time, energy and cost of the whole cluster, GPU-hours and cost by
tenant, and the time series and timeline the HTML report plots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simulator.engine.batch import BatchJob
from simulator.engine.cluster import Cluster
from simulator.engine.fabric import Fabric
from simulator.engine.sampler import Gauge, GaugeKind, Samples
from simulator.engine.serving.requests import ServingOutcome
from simulator.engine.serving.service import Service
from simulator.engine.training import TrainingJob
from simulator.plan.economy import Economy
from simulator.plan.pools import PoolEconomy
from simulator.report.build_records import failure_durations_s
from simulator.report.build_serving import latency_cdf, windowed_latency
from simulator.report.build_training import TrainingRun, lost_s
from simulator.report.costs import breakdown, paid_at
from simulator.report.fleet import PoolReport
from simulator.report.model import ClusterReport, InferenceReport, LinkLoad, TenantReport, TrainingReport
from simulator.report.series import TimelineEvent, TimeSeries, WorkloadSeries
from simulator.scenario.pools import PoolSpec
from simulator.scenario.schema import Scenario
from simulator.units import SECONDS_PER_HOUR


def cluster_report(cluster: Cluster, now: float, economies: PoolEconomy, jobs: list[TrainingJob],
                   batch: list[BatchJob], serving_lost_gpu_s: float, link_failures: int, fabric: Fabric | None = None,
                   pools: tuple[PoolSpec, ...] | None = None, unpaid_gpu_s: Sequence[float] = (),
                   links: Sequence[tuple[int, float | None]] = ()) -> ClusterReport:
    """The whole cluster's GPU time, energy and cost, summed over its pools (each at its own price and power);
    work lost to failures by training jobs, batch jobs and serving replicas (`serving_lost_gpu_s`) is costed
    as failure. `pools`: the scenario's, to report each (None: a cluster written without pools);
    `unpaid_gpu_s`: by pool, GPU time not paid for (spot capacity while reclaimed); `links`: by pool, its GPUs per
    scale-up domain and NIC bandwidth (bytes/s) as the network was built."""
    unpaid = list(unpaid_gpu_s) or [0.0] * len(cluster.pool_nodes)
    parts = _pool_parts(cluster, now, economies, unpaid)
    available = cluster.gpus * now
    down, gpu_kwh, rental_usd = (sum(p[key] for p in parts) for key in ("down", "kwh", "rental"))
    economy = economies.of(cluster.shares(np.arange(cluster.gpus)))
    full_usd = economy.prices.cost_usd(available, 0.0)
    if sum(unpaid) > 0 and full_usd > 0:  # the breakdown splits all GPU time at the rate it was paid at over it
        economy = paid_at(economy, rental_usd / full_usd)
    prices = economy.prices
    network_kwh = prices.facility_kwh(economy.network_w * now)
    kwh = gpu_kwh + network_kwh
    return ClusterReport(
        gpus=cluster.gpus,
        utilization=cluster.productive_gpu_s / available if available else 0.0,
        allocation=float(np.sum(cluster.allocated_seconds())) / available if available else 0.0,
        gpu_hours=available / SECONDS_PER_HOUR,
        energy_kwh=kwh,
        gpu_hour_usd=prices.gpu_hour_usd,
        price_source=economy.price_source,
        down_gpu_hours=down / SECONDS_PER_HOUR,
        gpu_energy_kwh=gpu_kwh,
        network_power_w=economy.network_w,
        network_energy_kwh=network_kwh,
        carbon_tco2e=prices.tco2e(kwh),
        electricity_usd_per_kwh=prices.electricity_usd_per_kwh,
        rental_usd=rental_usd,
        energy_usd=prices.cost_usd(0.0, kwh),
        cost_usd=rental_usd + prices.cost_usd(0.0, kwh),
        cost_breakdown=breakdown(economy, available, cluster.productive_gpu_s,
                                 sum(job.losses.checkpoint_s * job.gpus for job in jobs),
                                 sum(lost_s(job) * job.gpus for job in jobs) + sum(j.lost_s * j.gpus for j in batch)
                                 + serving_lost_gpu_s,
                                 kwh),
        node_failures=cluster.node_failures,
        link_failures=link_failures,
        storage_failures=cluster.storage_failures,
        **_link_loads(fabric, now),
        pools=None if pools is None else {
            spec.name: _pool_report(spec, part, economies.pools[index], links[index])
            for index, (spec, part) in enumerate(zip(pools, parts, strict=True))},
    )


def _pool_parts(cluster: Cluster, now: float, economies: PoolEconomy, unpaid: list[float]) -> list[dict[str, float]]:
    """Each pool's GPU-seconds (available, busy, down, productive, allocated), energy (kWh, PUE included) and GPU
    time's price (all but its `unpaid` GPU-seconds); a GPU neither busy nor down is idle."""
    down_s = cluster.down_gpu_seconds_by_pool()
    allocated = np.bincount(cluster.pool_of_gpu, weights=cluster.allocated_seconds(), minlength=len(cluster.pool_nodes))
    parts = []
    for index, nodes in enumerate(cluster.pool_nodes):
        economy = economies.pools[index]
        available = nodes * cluster.gpus_per_node * now
        busy = float(cluster.by_pool.busy_gpu_s[index])
        down = min(float(down_s[index]), available - busy)
        idle = available - busy - down
        power = economy.power
        energy_j = float(cluster.by_pool.busy_energy_j[index]) + idle * power.idle_w + down * power.down_w
        parts.append({"available": available, "down": down, "kwh": economy.prices.facility_kwh(energy_j),
                      "rental": economy.prices.cost_usd(available - unpaid[index], 0.0),
                      "productive": float(cluster.by_pool.productive_gpu_s[index]),
                      "allocated": float(allocated[index])})
    return parts


def _pool_report(spec: PoolSpec, part: dict[str, float], economy: Economy,
                 links: tuple[int, float | None]) -> PoolReport:
    """One pool's figures from its parts."""
    available = part["available"]
    energy_usd = economy.prices.cost_usd(0.0, part["kwh"])
    domain, nic = links
    return PoolReport(
        accelerator=spec.accelerator.name, gpus=spec.gpus, scale_up_domain_gpus=domain,
        nic_gbps=None if nic is None else nic * 8 / 1e9, power_cap_w=spec.accelerator.power_cap_w,
        utilization=part["productive"] / available if available else 0.0,
        allocation=part["allocated"] / available if available else 0.0,
        gpu_hours=available / SECONDS_PER_HOUR, down_gpu_hours=part["down"] / SECONDS_PER_HOUR,
        gpu_energy_kwh=part["kwh"], gpu_hour_usd=economy.prices.gpu_hour_usd, price_source=economy.price_source,
        rental_usd=part["rental"], energy_usd=energy_usd, cost_usd=part["rental"] + energy_usd)


HOTTEST_LINKS = 5


def _link_loads(fabric: Fabric | None, now: float) -> dict[str, Any]:
    """Per-tier mean and the hottest channels of the training traffic's time-integrated load."""
    if fabric is None or now <= 0:
        return {"link_utilization": {}, "hottest_links": []}
    share = fabric.busy_s / now
    names, index = fabric.network.tiers()
    means = np.bincount(index, weights=share, minlength=len(names)) / np.bincount(index, minlength=len(names))
    count = min(HOTTEST_LINKS, share.size)
    candidates = np.argpartition(share, -count)[-count:]
    top = [int(i) for i in candidates[np.argsort(share[candidates])[::-1]] if share[i] > 0]
    return {"link_utilization": {name: float(mean) for name, mean in zip(names, means, strict=True)},
            "hottest_links": [LinkLoad(name=fabric.network.channel_names[i], tier=names[index[i]],
                                       utilization=float(share[i])) for i in top]}


def tenant_reports(scenario: Scenario, reports: dict[str, TrainingReport | InferenceReport], batch: list[BatchJob],
                   economies: PoolEconomy, cluster: Cluster, rates: dict[str, float],
                   unpaid_hours: dict[str, float]) -> dict[str, TenantReport]:
    """GPU-hours and GPU-time cost by tenant, from the workloads' reports (each at its GPU-hour price, `rates` by
    workload, less the hours it held spot capacity taken back, `unpaid_hours`) and the batch jobs (at their last
    pool's)."""
    priced: dict[str, dict[float, float]] = {}  # tenant -> GPU-hour price -> hours at it
    for workload in scenario.workloads:
        rate = rates[workload.name]
        priced.setdefault(workload.tenant, {})
        paid = reports[workload.name].gpu_hours - unpaid_hours.get(workload.name, 0.0)
        priced[workload.tenant][rate] = priced[workload.tenant].get(rate, 0.0) + paid
    for job in batch:
        rate = economies.pools[job.pool].prices.gpu_hour_usd
        priced.setdefault(job.tenant, {})
        priced[job.tenant][rate] = priced[job.tenant].get(rate, 0.0) + job.held_s * job.gpus / SECONDS_PER_HOUR
    hours: dict[str, float] = {}
    names: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    waited: dict[str, float] = {}
    for workload in scenario.workloads:
        hours[workload.tenant] = hours.get(workload.tenant, 0.0) + reports[workload.name].gpu_hours
        names.setdefault(workload.tenant, []).append(workload.name)
    for job in batch:
        hours[job.tenant] = hours.get(job.tenant, 0.0) + job.held_s * job.gpus / SECONDS_PER_HOUR
        counts[job.tenant] = counts.get(job.tenant, 0) + 1
        waited[job.tenant] = waited.get(job.tenant, 0.0) + job.queued_s
    total = sum(hours.values())
    if cluster.fair_share is not None:
        cluster.fair_share.advance(cluster.env.now, cluster.tenant_gpus)
    return {tenant: TenantReport(gpu_hours=h, share=h / total if total else 0.0,
                                 cost_usd=sum(at * rate for rate, at in priced[tenant].items()),
                                 workloads=names.get(tenant, []),
                                 batch_jobs=counts.get(tenant, 0),
                                 preemptions_caused=cluster.preemptions.get(tenant, 0),
                                 batch_mean_queued_s=waited[tenant] / counts[tenant] if tenant in counts else None,
                                 quota_gpus=scenario.scheduler.quotas.get(tenant),
                                 fair_share_factor=None if cluster.fair_share is None
                                 else cluster.fair_share.factor(tenant))
            for tenant, h in sorted(hours.items())}


def time_series(samples: Samples, runs: list[TrainingRun], services: list[Service],
                outcomes: list[ServingOutcome], now: float, fabric: Fabric | None = None) -> TimeSeries:
    """The sampled gauges as plot series, each training job's failures and checkpoints as timeline events, and
    each service's latency CDFs."""
    values = samples.values

    def of(kind: GaugeKind, subject: str = "") -> list[float]:
        return values.get(Gauge(kind, subject), [])

    workloads = {
        r.workload.name: WorkloadSeries(
            progress=of(GaugeKind.PROGRESS, r.workload.name), queued=[], running=[], replicas_up=[], kv_cache_use=[],
            busy_fraction=[], ttft_p50_s=[], ttft_p99_s=[], e2e_p50_s=[], e2e_p99_s=[], events=_timeline(r.job, now))
        for r in runs
    }
    workloads |= {
        s.plan.name: WorkloadSeries(progress=of(GaugeKind.PROGRESS, s.plan.name),
                                    queued=of(GaugeKind.QUEUED, s.plan.name),
                                    running=of(GaugeKind.RUNNING, s.plan.name),
                                    replicas_up=of(GaugeKind.REPLICAS_UP, s.plan.name),
                                    kv_cache_use=of(GaugeKind.KV_USE, s.plan.name),
                                    busy_fraction=_window_ratio(of(GaugeKind.BUSY_REPLICA_S, s.plan.name),
                                                                of(GaugeKind.PROVISIONED_REPLICA_S, s.plan.name)),
                                    events=[], **windowed_latency(o, samples.time_s))
        for s, o in zip(services, outcomes, strict=True)
    }
    return TimeSeries(time_s=samples.time_s, allocated_gpus=of(GaugeKind.ALLOCATED_GPUS),
                      busy_gpus=of(GaugeKind.BUSY_GPUS), down_gpus=of(GaugeKind.DOWN_GPUS),
                      waiting_workloads=of(GaugeKind.WAITING_WORKLOADS), fragmentation=of(GaugeKind.FRAGMENTATION),
                      batch_running=of(GaugeKind.BATCH_RUNNING),
                      tenant_gpus={g.subject: v for g, v in values.items() if g.kind is GaugeKind.TENANT_GPUS},
                      workloads=workloads,
                      latency_cdf={s.plan.name: latency_cdf(s, o) for s, o in zip(services, outcomes, strict=True)},
                      **_link_series(fabric))


def _window_ratio(part: list[float], whole: list[float]) -> list[float]:
    """Two cumulative series as the ratio of their growth since the previous sample (0 where the whole did not
    grow)."""
    grown = zip(np.diff(np.asarray(part), prepend=0.0), np.diff(np.asarray(whole), prepend=0.0), strict=True)
    return [min(1.0, float(p / w)) if w > 0 else 0.0 for p, w in grown]


def _timeline(job: TrainingJob, now: float) -> list[TimelineEvent]:
    """A training job's kept failure and checkpoint marks, in time order, with their durations and GPUs."""
    failures = job.failure_marks.kept
    lasted = failure_durations_s(job.timeline, [t for t, _ in failures], now)
    return sorted([TimelineEvent(time_s=t, kind="failure", cause=c, duration_s=d, gpus=job.gpus)
                   for (t, c), d in zip(failures, lasted, strict=True)]
                  + [TimelineEvent(time_s=t, kind="checkpoint", cause="", duration_s=job.recovery.stall_s,
                                   gpus=job.gpus) for t, _ in job.checkpoint_marks.kept], key=lambda e: e.time_s)


def _link_series(fabric: Fabric | None) -> dict[str, Any]:
    """The fabric's per-tier load at each change, as plot series."""
    if fabric is None or not fabric.tier_series:
        return {"link_time_s": [], "link_load": {}}
    names, _ = fabric.network.tiers()
    loads = np.array([load for _, load in fabric.tier_series])
    return {"link_time_s": [t for t, _ in fabric.tier_series],
            "link_load": {name: loads[:, i].tolist() for i, name in enumerate(names) if loads[:, i].any()}}


EMPTY_SERIES = TimeSeries(time_s=[], allocated_gpus=[], busy_gpus=[], down_gpus=[], waiting_workloads=[],
                          fragmentation=[], batch_running=[], tenant_gpus={}, workloads={}, latency_cdf={},
                          link_time_s=[], link_load={})
