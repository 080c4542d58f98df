"""What the run's sampler reads: allocation, failed and busy GPUs, fragmentation, each tenant's GPUs, and each
workload's progress (and a service's queue and batch), as typed gauges read at sample times only."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from simulator.engine.batch import BatchJob
from simulator.engine.cluster import Cluster
from simulator.engine.sampler import Gauge, GaugeKind
from simulator.engine.serving.deployment import Deployment
from simulator.engine.serving.replica import Replica
from simulator.engine.serving.service import Service
from simulator.engine.training import TrainingJob

Reading = Callable[[], float]


def run_probes(cluster: Cluster, jobs: list[TrainingJob], services: list[Service],
               batch: list[BatchJob]) -> dict[Gauge, Reading]:
    """Every gauge of a run: the cluster's, then each training job's, each service's, and each tenant's."""
    gauges: dict[Gauge, Reading] = {
        Gauge(GaugeKind.ALLOCATED_GPUS): lambda: float(cluster.gpus - np.count_nonzero(cluster.free)),
        Gauge(GaugeKind.DOWN_GPUS): lambda: float((cluster.nodes - np.count_nonzero(cluster.up))
                                                  * cluster.gpus_per_node),
        Gauge(GaugeKind.WAITING_WORKLOADS): lambda: float(cluster.waiting_requests),
    }
    for job in jobs:
        gauges[Gauge(GaugeKind.PROGRESS, job.name)] = functools.partial(_progress, job, cluster)
    for service in services:
        gauges |= service_probes(service)
    serving = [gauges[Gauge(GaugeKind.SERVICE_BUSY_GPUS, s.plan.name)] for s in services]
    gauges[Gauge(GaugeKind.BUSY_GPUS)] = lambda: float(sum(j.gpus for j in jobs if j.computing)
                                                       + sum(g() for g in serving)
                                                       + sum(j.gpus for j in batch if j.running))
    if batch:
        gauges[Gauge(GaugeKind.BATCH_RUNNING)] = lambda: float(sum(j.running for j in batch))
    gauges[Gauge(GaugeKind.FRAGMENTATION)] = functools.partial(_fragmentation, cluster)
    tenants = sorted({j.tenant for j in jobs} | {s.plan.tenant for s in services} | {j.tenant for j in batch})
    for tenant in tenants:
        gauges[Gauge(GaugeKind.TENANT_GPUS, tenant)] = functools.partial(_tenant_gpus, cluster, tenant)
    return gauges


def it_power_probe(cluster: Cluster, jobs: list[TrainingJob], services: list[Service], batch: list[BatchJob],
                   gauges: dict[Gauge, Reading], watts: tuple[float, float, float, float]) -> Reading:
    """IT power now (O(jobs)): computing training and batch jobs at their own wall power per GPU, serving GPUs
    iterating at `computing` W, GPUs on failed nodes at `down` W, every other GPU at `idle` W, plus the network;
    `watts` = (computing, idle, down, network), the figures the report's energy uses."""
    computing_w, idle_w, down_w, network_w = watts
    serving = [gauges[Gauge(GaugeKind.SERVICE_BUSY_GPUS, s.plan.name)] for s in services]

    def read() -> float:
        busy = [j for j in jobs if j.computing] + [j for j in batch if j.running]
        iterating = sum(g() for g in serving)
        down = float((cluster.nodes - np.count_nonzero(cluster.up)) * cluster.gpus_per_node)
        idle = max(0.0, cluster.gpus - sum(j.gpus for j in busy) - iterating - down)
        return (sum(j.gpus * j.power_w for j in busy) + iterating * computing_w + down * down_w + idle * idle_w
                + network_w)
    return read


def service_probes(service: Service) -> dict[Gauge, Reading]:
    """What the sampler reads of a service: progress, queue, batch, GPUs iterating, replicas up, KV-cache use, and
    its replicas' busy and provisioned time so far (O(replicas) per sample, nothing per request)."""
    deployment = service.deployment
    total = max(1, len(service.plan.load.arrival_s))
    everyone = deployment.everyone
    name = service.plan.name
    return {
        Gauge(GaugeKind.PROGRESS, name): lambda: 1.0 - deployment.unsettled / total,
        Gauge(GaugeKind.QUEUED, name): lambda: sum(len(r.waiting) for r in everyone) + len(deployment.stranded),
        Gauge(GaugeKind.RUNNING, name): lambda: sum(r.batch_size for r in everyone) + len(deployment.moving),
        Gauge(GaugeKind.SERVICE_BUSY_GPUS, name): lambda: float(sum(
            gpus for r, gpus in zip(everyone, service.replica_gpus, strict=True) if r.iteration_start_s is not None)),
        Gauge(GaugeKind.REPLICAS_UP, name): lambda: float(sum(not r.down for r in everyone)),
        Gauge(GaugeKind.KV_USE, name): functools.partial(_kv_use, everyone),
        Gauge(GaugeKind.BUSY_REPLICA_S, name): functools.partial(_busy_replica_s, deployment),
        Gauge(GaugeKind.PROVISIONED_REPLICA_S, name): functools.partial(_provisioned_replica_s, deployment),
    }


def _kv_use(replicas: list[Replica]) -> float:
    """KV-cache blocks the batches of the replicas up hold / those replicas' blocks (0 with none up)."""
    up = [r for r in replicas if not r.down]
    capacity = sum(r.limits.kv_blocks for r in up)
    return sum(r.used_blocks() for r in up) / capacity if capacity else 0.0


def _busy_replica_s(deployment: Deployment) -> float:
    """Seconds the replicas spent iterating so far, the iterations in flight up to now included."""
    now = deployment.env.now
    return sum(r.busy_s + (max(0.0, now - r.iteration_start_s) if r.iteration_start_s is not None else 0.0)
               for r in deployment.everyone)


def _provisioned_replica_s(deployment: Deployment) -> float:
    """Seconds the replicas were provisioned (paid for) so far, those provisioned now up to now included."""
    now = deployment.env.now
    return float(deployment.outcome.active_s.sum()) + sum(
        now - r.provisioned_since_s for r in deployment.everyone if r.provisioned_since_s is not None)


def _tenant_gpus(cluster: Cluster, tenant: str) -> float:
    return float(cluster.tenant_gpus.get(tenant, 0))


def _fragmentation(cluster: Cluster) -> float:
    """Free GPUs stranded on partly used nodes, as a fraction of the free GPUs on healthy nodes: what a
    whole-node job cannot use."""
    free = cluster.free.reshape(cluster.nodes, cluster.gpus_per_node)[cluster.up]
    free_gpus = int(free.sum())
    if free_gpus == 0:
        return 0.0
    whole = int(free.all(axis=1).sum()) * cluster.gpus_per_node
    return (free_gpus - whole) / free_gpus


def _progress(job: TrainingJob, cluster: Cluster) -> float:
    return job.progress(cluster.env.now)
