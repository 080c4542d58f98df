"""Wire a validated scenario into a SimPy environment, run it, and return the Report (writes no files)."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy

from simulator import __version__
from simulator.engine.batch import BatchJob
from simulator.engine.cluster import Cluster, GpuIds, SchedulingPolicy
from simulator.engine.failures import failure_process, leaf_units, network_links
from simulator.engine.fairshare import FairShare
from simulator.engine.links import LinkState
from simulator.engine.sampler import Samples, sampler
from simulator.engine.serving import ServingOutcome
from simulator.engine.training import RecoveryPlan, TrainingJob
from simulator.models.reliability import CheckpointPolicy, Effect, Scope, daly_interval_s, young_interval_s
from simulator.models.topology import stats
from simulator.models.topology.fat_tree import switch_ports
from simulator.models.topology.network import Network
from simulator.models.topology.specs import FatTreeTopology, OcsTorusTopology
from simulator.models.workload.memory import training_memory
from simulator.models.workload.step_time import OperatorStepModel, StepTime, StepTimeModel
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import parameter_counts
from simulator.plan.batch_jobs import jobs_report, make_jobs
from simulator.plan.economy import Economy, breakdown, economy_of
from simulator.plan.resolve import TrainingPlan, cached_network, network, training_plan
from simulator.report.model import (
    BusBandwidthRow,
    ClusterReport,
    InferenceReport,
    LossReport,
    MemoryReport,
    Report,
    StepBreakdown,
    TenantReport,
    TimelineEvent,
    TimeSeries,
    TopologyReport,
    TrainingReport,
    WorkloadSeries,
)
from simulator.scenario.schema import ClusterSpec, Scenario, TrainingWorkload
from simulator.serve import Service, deploy, inference_report, latency_cdf, probes, settle
from simulator.units import SECONDS_PER_HOUR

DEFAULT_STEP_MODEL = OperatorStepModel()  # stateless; one instance so that caches keyed on it hit


@dataclass(frozen=True)
class _Training:
    workload: TrainingWorkload
    plan: TrainingPlan
    step: StepTime
    job: TrainingJob


def simulate(scenario: Scenario, step_model: StepTimeModel | None = None, series: bool = True) -> Report:
    """Run `scenario` until every workload finishes (or to its horizon) and report; without `series` the
    report's time series are left empty (Monte Carlo replicates do not plot)."""
    started = time.perf_counter()
    env = simpy.Environment()
    gpn = scenario.cluster.gpus_per_node
    economy = economy_of(scenario)
    batch = make_jobs(scenario.jobs, scenario.seed, economy.power.computing_w, scenario.cluster)
    sharing = scenario.scheduler.fair_share
    cluster = Cluster(env, scenario.cluster.nodes, gpn, SchedulingPolicy(scenario.scheduler.policy),
                      scenario.scheduler.preemption, max(1, cached_network(scenario.cluster).unit_gpus // gpn),
                      scenario.scheduler.quotas,
                      None if sharing is None else FairShare(
                          [w.tenant for w in scenario.workloads] + [j.tenant for j in batch], sharing.shares,
                          sharing.half_life_s, sharing.weight))
    # One generator tree: a child stream per failure component, so adding a workload never shifts them.
    failures = scenario.failures
    components = failures.components if failures else []
    links = None
    if any(c.scope is Scope.LINK for c in components):
        base_network = cached_network(scenario.cluster)
        links = LinkState(env, base_network, network_links(base_network))
    for component, seed in zip(components, np.random.SeedSequence(scenario.seed).spawn(len(components)),
                               strict=True):
        assert failures is not None
        env.process(failure_process(env, cluster, component, failures, np.random.default_rng(seed), links,
                                    topology_leaves(scenario.cluster)))
    runs: list[_Training] = []
    services: list[Service] = []
    for index, workload in enumerate(scenario.workloads):
        if not isinstance(workload, TrainingWorkload):
            # its own stream, keyed apart from the failure components' so neither shifts the other
            rng = np.random.default_rng(np.random.SeedSequence(scenario.seed, spawn_key=(1, index)))
            services.append(deploy(env, cluster, workload, scenario.cluster, rng))
            continue
        plan, step = (_priced(workload, scenario.cluster) if step_model is None
                      else _priced_with(step_model, workload, scenario.cluster))
        job = TrainingJob(
            name=workload.name, gpus=workload.parallelism.world, steps_total=plan.steps,
            step_s=step.total_s, power_w=economy.power.step_w(step.compute_s, step.total_s),
            submitted_s=workload.start_at_s,
            recovery=recovery_plan(workload, scenario, step.total_s), priority=workload.priority,
            tenant=workload.tenant, preemptible=workload.preemptible,
            checkpoint_on_preempt=workload.on_preempt == "checkpoint",
        )
        job.start(env, cluster)
        if links is not None:
            links.watch(job, functools.partial(_placed_step_s, step_model or DEFAULT_STEP_MODEL, plan.step))
        runs.append(_Training(workload, plan, step, job))
    for batch_job in batch:
        batch_job.start(env, cluster)
    gauges = _probes(cluster, runs, services, batch)
    samples = Samples()
    if series:
        env.process(sampler(env, gauges, samples))
    finished = env.all_of([r.job.process for r in runs] + [s.process for s in services if s.process is not None]
                          + [j.process for j in batch if j.process is not None])
    env.run(until=finished if scenario.horizon_s is None else env.any_of([finished, env.timeout(scenario.horizon_s)]))
    if series and (not samples.time_s or samples.time_s[-1] < env.now):
        samples.record(env.now, gauges)  # the state at the end, before accounts close
    for run in runs:
        run.job.settle(env.now, cluster)
        cluster.productive_gpu_s += run.job.productive_s * run.job.gpus
    for batch_job in batch:
        batch_job.settle(env.now, cluster)
    outcomes = [settle(service, cluster, economy.power.computing_w) for service in services]
    reports: dict[str, TrainingReport | InferenceReport] = {
        r.workload.name: _training_report(r, env.now, scenario, economy) for r in runs}
    reports |= {s.workload.name: inference_report(s, outcome, scenario.cluster, economy)
                for s, outcome in zip(services, outcomes, strict=True)}
    return Report(
        scenario=scenario.name,
        seed=scenario.seed,
        clustersim_version=__version__,
        simulated_s=env.now,
        wall_s=time.perf_counter() - started,
        cluster=_cluster_report(cluster, env.now, economy, [r.job for r in runs], batch,
                                links.link_failures if links else 0),
        jobs=jobs_report(batch, env.now) if scenario.jobs else None,
        tenants=_tenants(scenario, reports, batch, economy, cluster),
        workloads={w.name: reports[w.name] for w in scenario.workloads},
        notes=[note for r in runs for note in r.plan.notes],
        series=_series(samples, runs, services, outcomes) if series else TimeSeries(
            time_s=[], allocated_gpus=[], busy_gpus=[], down_gpus=[], waiting_workloads=[], fragmentation=[],
            batch_running=[], tenant_gpus={}, workloads={}, latency_cdf={}),
    )


def _tenants(scenario: Scenario, reports: dict[str, TrainingReport | InferenceReport], batch: list[BatchJob],
             economy: Economy, cluster: Cluster) -> dict[str, TenantReport]:
    """GPU-hours and GPU-time cost by tenant, from the workloads' reports and the batch jobs."""
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
                                 cost_usd=h * economy.prices.gpu_hour_usd, workloads=names.get(tenant, []),
                                 batch_jobs=counts.get(tenant, 0),
                                 preemptions_caused=cluster.preemptions.get(tenant, 0),
                                 batch_mean_queued_s=waited[tenant] / counts[tenant] if tenant in counts else None,
                                 quota_gpus=scenario.scheduler.quotas.get(tenant),
                                 fair_share_factor=None if cluster.fair_share is None
                                 else cluster.fair_share.factor(tenant))
            for tenant, h in sorted(hours.items())}


def _probes(cluster: Cluster, runs: list[_Training], services: list[Service],
            batch: list[BatchJob]) -> dict[str, Callable[[], float]]:
    """What the sampler reads: allocation, failed nodes, and each workload's progress (and serving queues)."""
    gauges: dict[str, Callable[[], float]] = {
        "allocated_gpus": lambda: float(cluster.gpus - np.count_nonzero(cluster.free)),
        "down_gpus": lambda: float((cluster.nodes - np.count_nonzero(cluster.up)) * cluster.gpus_per_node),
        "waiting_workloads": lambda: float(cluster.waiting_requests),
    }
    for run in runs:
        gauges[f"{run.workload.name}.progress"] = functools.partial(_progress, run.job, cluster)
    for service in services:
        gauges |= probes(service)
    jobs = [r.job for r in runs]
    serving = [gauges[f"{s.workload.name}.busy_gpus"] for s in services]
    gauges["busy_gpus"] = lambda: float(sum(j.gpus for j in jobs if j.computing) + sum(g() for g in serving)
                                        + sum(j.gpus for j in batch if j.running))
    if batch:
        gauges["batch.running"] = lambda: float(sum(j.running for j in batch))
    gauges["fragmentation"] = functools.partial(_fragmentation, cluster)
    tenants = sorted({w.tenant for w in (r.workload for r in runs)} | {s.workload.tenant for s in services}
                     | {j.tenant for j in batch})
    for tenant in tenants:
        gauges[f"tenant:{tenant}"] = functools.partial(_tenant_gpus, cluster, tenant)
    return gauges


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


def _series(samples: Samples, runs: list[_Training], services: list[Service],
            outcomes: list[ServingOutcome]) -> TimeSeries:
    values = samples.values
    workloads = {
        r.workload.name: WorkloadSeries(
            progress=values[f"{r.workload.name}.progress"], queued=[], running=[],
            events=sorted([TimelineEvent(time_s=t, kind="failure", cause=c) for t, c in r.job.failure_marks.kept]
                          + [TimelineEvent(time_s=t, kind="checkpoint", cause="") for t, _ in
                             r.job.checkpoint_marks.kept], key=lambda e: e.time_s))
        for r in runs
    }
    workloads |= {
        s.workload.name: WorkloadSeries(progress=values[f"{s.workload.name}.progress"],
                                        queued=values[f"{s.workload.name}.queued"],
                                        running=values[f"{s.workload.name}.running"], events=[])
        for s in services
    }
    return TimeSeries(time_s=samples.time_s, allocated_gpus=values["allocated_gpus"], busy_gpus=values["busy_gpus"],
                      down_gpus=values["down_gpus"], waiting_workloads=values["waiting_workloads"],
                      fragmentation=values["fragmentation"], batch_running=values.get("batch.running", []),
                      tenant_gpus={k.removeprefix("tenant:"): v for k, v in values.items() if k.startswith("tenant:")},
                      workloads=workloads,
                      latency_cdf={s.workload.name: latency_cdf(s, o) for s, o in zip(services, outcomes, strict=True)})


def _priced_with(model: StepTimeModel, workload: TrainingWorkload,
                 cluster: ClusterSpec) -> tuple[TrainingPlan, StepTime]:
    plan = training_plan(workload, cluster)
    return plan, model.step_time(plan.step, cached_network(cluster))


@functools.lru_cache(maxsize=256)
def _priced(workload: TrainingWorkload, cluster: ClusterSpec) -> tuple[TrainingPlan, StepTime]:
    """Batch plan and step time of a workload: pure functions of the (immutable) specs, so replicates and
    sweeps that only change seeds or failure settings reuse them."""
    return _priced_with(DEFAULT_STEP_MODEL, workload, cluster)




def recovery_plan(workload: TrainingWorkload, scenario: Scenario, step_s: float) -> RecoveryPlan:
    """Checkpoint interval (in whole steps) and recovery times of a training job; Young and Daly use the
    job's mean time to failure from the failure model's rates over the nodes it runs on."""
    ckpt, recovery = workload.checkpoint, workload.recovery
    interval_s = 0.0
    if ckpt.policy is CheckpointPolicy.FIXED:
        interval_s = ckpt.interval_s
    elif ckpt.policy in (CheckpointPolicy.YOUNG, CheckpointPolicy.DALY):
        mttf = job_mttf_s(workload, scenario)
        rule = young_interval_s if ckpt.policy is CheckpointPolicy.YOUNG else daly_interval_s
        interval_s = rule(ckpt.stall_s, mttf) if math.isfinite(mttf) else 0.0
    steps = max(1, round(interval_s / step_s)) if interval_s > 0 else 0
    spares, swap, delay = recovery.spare_nodes, 1, 0.0
    topology = scenario.cluster.topology
    if isinstance(topology, OcsTorusTopology):  # spare cubes, swapped in by the OCS after its reconfiguration
        swap = max(1, math.prod(topology.cube) // scenario.cluster.gpus_per_node)
        spares, delay = topology.spare_cubes * swap, topology.reconfiguration_delay_s
    lay = workload.parallelism
    shrink = lay.dp if recovery.on_no_spare == "shrink" else 0
    per_node = max(1, scenario.cluster.gpus_per_node // (lay.tp * lay.cp * lay.pp))
    return RecoveryPlan(steps, ckpt.stall_s, max(ckpt.write_s, ckpt.stall_s), ckpt.restore_s, recovery.detection_s,
                        recovery.restart_s, spares, swap, delay, shrink, per_node,
                        requeue=recovery.on_no_spare == "requeue")


def topology_leaves(cluster: ClusterSpec) -> tuple[int, int]:
    """(nodes that lose their network when one leaf switch fails, leaves serving those same nodes): a rail-
    optimized fat tree's scalable unit with one leaf per rail (each node loses a rail, which stops a
    synchronous job), a plain fat tree's nodes per leaf, or one node and its own port elsewhere."""
    topology = cluster.topology
    if isinstance(topology, FatTreeTopology):
        if topology.rail_optimized:
            return min(cluster.nodes, topology.nodes_per_su), cluster.gpus_per_node
        down, _ = switch_ports(topology.radix, topology.tier_oversubscription(0))
        return max(1, down // cluster.gpus_per_node), 1
    return 1, 1


def job_mttf_s(workload: TrainingWorkload, scenario: Scenario) -> float:
    """Mean time between failures that stop the job: 1 / (sum over components of units it spans / MTBF)."""
    if scenario.failures is None:
        return math.inf
    nodes = math.ceil(workload.parallelism.world / scenario.cluster.gpus_per_node)
    rate = 0.0
    for c in scenario.failures.components:
        if c.scope in (Scope.LINK, Scope.STORAGE):
            continue  # they slow jobs or block checkpoints; they do not stop them
        units = {Scope.GPU: workload.parallelism.world, Scope.NODE: nodes,
                 Scope.LEAF: leaf_units(nodes, scenario.failures, topology_leaves(scenario.cluster)),
                 Scope.RACK: math.ceil(nodes / scenario.failures.nodes_per_rack)}[c.scope]
        offenders = 1 - c.repeat_offender_fraction + c.repeat_offender_fraction * c.repeat_offender_factor
        rate += units * offenders / c.unit_mtbf_s
    return 1.0 / rate if rate else math.inf


def _causes(scenario: Scenario) -> list[str]:
    """Every cause label the failure model can produce (so replicates average zeros too)."""
    components = scenario.failures.components if scenario.failures else []
    labels: set[str] = set()
    for c in components:
        for cause in c.causes or {c.name: 1.0}:
            if c.scope is Scope.STORAGE:
                continue
            if c.scope is Scope.LINK:
                labels.add(f"partitioned:{cause}")
            elif c.effect is Effect.SLOWDOWN:
                labels.add(f"straggler:{cause}")
            else:
                labels.add(cause)
    return sorted(labels)


def _placed_step_s(model: StepTimeModel, step: TrainingStep, net: Network, gpus: GpuIds) -> float:
    """Step time with the job's ranks on `gpus` of `net` (an OCS torus re-forms its slice round a spare cube,
    so there the ranks keep their slice positions)."""
    inside = gpus.size == step.layout.world and int(gpus.max()) < net.gpus
    return model.step_time(step, net, gpus if inside else None).total_s


def _lost_s(job: TrainingJob) -> float:
    """Wall-clock seconds a job lost to failures (redone work, detection, waiting, restart, restore)."""
    lost = job.losses
    return lost.redone_s + lost.detection_s + lost.waiting_s + lost.restart_s + lost.restore_s


def _cluster_report(cluster: Cluster, now: float, economy: Economy, jobs: list[TrainingJob], batch: list[BatchJob],
                    link_failures: int) -> ClusterReport:
    prices, power = economy.prices, economy.power
    available = cluster.gpus * now
    down = min(cluster.down_gpu_seconds(), available - cluster.busy_gpu_s)
    idle = available - cluster.busy_gpu_s - down
    gpu_kwh = prices.facility_kwh(cluster.busy_energy_j + idle * power.idle_w + down * power.down_w)
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
        rental_usd=prices.cost_usd(available, 0.0),
        energy_usd=prices.cost_usd(0.0, kwh),
        cost_usd=prices.cost_usd(available, kwh),
        cost_breakdown=breakdown(economy, available, cluster.productive_gpu_s,
                                 sum(job.losses.checkpoint_s * job.gpus for job in jobs),
                                 sum(_lost_s(job) * job.gpus for job in jobs) + sum(j.lost_s * j.gpus for j in batch),
                                 kwh),
        node_failures=cluster.node_failures,
        link_failures=link_failures,
        storage_failures=cluster.storage_failures,
    )


def _training_report(run: _Training, now: float, scenario: Scenario, economy: Economy) -> TrainingReport:
    job, step, plan, w = run.job, run.step, run.plan, run.workload
    peak = scenario.cluster.accelerator.peak_flops(w.precision) or 0.0
    counts = parameter_counts(w.model)
    memory = training_memory(plan.step, w.memory_reserve_bytes)
    end = job.finished_s if job.finished_s is not None else now
    held_s = job.holding_s(end)
    productive_s = job.productive_s
    held_gpu_s = held_s * job.held_gpus
    idle_gpu_s = held_gpu_s - job.busy_s * job.gpus
    prices = economy.prices
    it_energy_j = job.busy_s * job.gpus * job.power_w + idle_gpu_s * economy.power.idle_w
    kwh = prices.facility_kwh(it_energy_j)
    cost = prices.cost_usd(held_gpu_s, kwh)
    tokens = job.steps_done * plan.step.tokens_per_step
    lost = job.losses

    def gpu_h(seconds: float) -> float:
        return seconds * job.gpus / SECONDS_PER_HOUR

    per_gpu_model = step.model_flops / step.total_s / job.gpus
    per_gpu_hardware = step.hardware_flops / step.total_s / job.gpus
    return TrainingReport(
        kind="training",
        status=job.status,
        model=w.model.name,
        accelerator=scenario.cluster.accelerator.name,
        gpus=job.gpus,
        parameters=counts.total,
        active_parameters=counts.active,
        submitted_s=job.submitted_s,
        started_s=job.started_s,
        finished_s=job.finished_s,
        queued_s=max(0.0, (job.started_s if job.started_s is not None else now) - job.submitted_s),
        wall_clock_s=max(0.0, end - job.submitted_s),
        steps=job.steps_done,
        steps_total=job.steps_total,
        steps_remaining=job.steps_total - job.steps_done,
        step_time_s=step.total_s,
        step_breakdown=StepBreakdown(
            compute_s=step.compute_s, tp_comm_s=step.tp_comm_s, ep_comm_s=step.ep_comm_s,
            pp_bubble_s=step.pp_bubble_s,
            pp_p2p_s=step.pp_p2p_s, dp_exposed_s=step.dp_exposed_s, optimizer_s=step.optimizer_s,
            dp_comm_s=step.dp_comm_s, tp_bottleneck=step.tp_bottleneck, ep_bottleneck=step.ep_bottleneck,
            dp_bottleneck=step.dp_bottleneck,
        ),
        tokens_per_step=plan.step.tokens_per_step,
        micro_batches=plan.step.micro_batches,
        tokens=tokens,
        tokens_target=w.tokens,
        tokens_per_s=plan.step.tokens_per_step / step.total_s,
        model_flops=step.model_flops * job.steps_done,
        mfu=per_gpu_model / peak,
        hfu=per_gpu_hardware / peak,
        achieved_tflops_per_gpu=per_gpu_model / 1e12,
        hardware_tflops_per_gpu=per_gpu_hardware / 1e12,
        memory_per_gpu_bytes=memory.total_bytes,
        memory=MemoryReport(
            weights_bytes=memory.weights_bytes, gradients_bytes=memory.gradients_bytes,
            optimizer_bytes=memory.optimizer_bytes, activations_bytes=memory.activations_bytes,
            reserve_bytes=memory.reserve_bytes, total_bytes=memory.total_bytes,
            capacity_bytes=memory.capacity_bytes,
        ),
        gpu_hours=held_gpu_s / SECONDS_PER_HOUR,
        energy_kwh=kwh,
        carbon_tco2e=prices.tco2e(kwh),
        cost_usd=cost,
        cost_breakdown=breakdown(economy, held_gpu_s, productive_s * job.gpus, lost.checkpoint_s * job.gpus,
                                 _lost_s(job) * job.gpus, kwh),
        cost_per_million_tokens_usd=cost / tokens * 1e6 if tokens else 0.0,
        interruptions=job.interruptions,
        preemptions=job.preemptions,
        requeues=job.requeues,
        requeued_s=job.requeued_s,
        interruptions_by_cause={cause: job.causes.get(cause, 0) for cause in _causes(scenario)},
        checkpoints=job.checkpoints,
        checkpoints_skipped=job.checkpoints_skipped,
        checkpoint_interval_s=job.recovery.interval_steps * step.total_s or None,
        lost_gpu_hours=gpu_h(_lost_s(job)),
        losses=LossReport(
            redone_work_gpu_hours=gpu_h(lost.redone_s), detection_gpu_hours=gpu_h(lost.detection_s),
            waiting_gpu_hours=gpu_h(lost.waiting_s), restart_gpu_hours=gpu_h(lost.restart_s),
            restore_gpu_hours=gpu_h(lost.restore_s), checkpoint_gpu_hours=gpu_h(lost.checkpoint_s),
            slowdown_gpu_hours=gpu_h(lost.slowdown_s),
        ),
        ettr=min(1.0, productive_s / held_s) if held_s else 0.0,
    )


def describe_topology(scenario: Scenario) -> TopologyReport:
    """Structure, bisection, diameter and collective bus bandwidths of the scenario's network."""
    net = network(scenario.cluster)
    spec = scenario.cluster.topology
    tiers = []
    if isinstance(spec, FatTreeTopology):
        tiers = [spec.tier_oversubscription(t) for t in range(spec.tiers - 1)]
    return TopologyReport(
        scenario=scenario.name,
        kind=net.kind,
        gpus=net.gpus,
        parts=stats.part_counts(net),
        links=stats.link_counts(net),
        bisection_bandwidth_bytes_per_s=stats.bisection_bandwidth(net),
        diameter_hops=stats.diameter_hops(net),
        oversubscription=tiers,
        unit_gpus=net.unit_gpus,
        details=net.notes,
        bus_bandwidth=[BusBandwidthRow.model_validate(row) for row in stats.bus_bandwidth_rows(net)],
    )
