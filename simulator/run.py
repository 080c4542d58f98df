"""Run a validated scenario: ask plan/ for every workload's plan, build the SimPy environment (cluster, failure
processes, training jobs, services, batch jobs, sampler), run it, close the accounts and build the Report."""

from __future__ import annotations

import functools
import time

import numpy as np
import simpy

from simulator import __version__
from simulator.engine.batch import BatchJob
from simulator.engine.cluster import Cluster, GpuIds
from simulator.engine.fabric import Fabric
from simulator.engine.failures import failure_process, network_links
from simulator.engine.fairshare import FairShare
from simulator.engine.links import LinkState
from simulator.engine.probes import run_probes
from simulator.engine.reclaims import Reclaims
from simulator.engine.sampler import Samples, sampler
from simulator.engine.serving.service import Service, deploy, settle
from simulator.engine.training import TrainingJob
from simulator.models.reliability import Scope
from simulator.models.topology.network import Network
from simulator.models.workload.step_time import StepTime, StepTimeModel
from simulator.models.workload.traffic import Placed, transfer_traffic
from simulator.plan.economy import Economy, economy_of
from simulator.plan.jobs import make_jobs
from simulator.plan.network import cached_network, topology_leaves
from simulator.plan.serving import service_plan
from simulator.plan.training import (
    DEFAULT_STEP_MODEL,
    placed_step_s,
    placed_training,
    priced_step,
    recovery_plan,
)
from simulator.report.build_jobs import jobs_report
from simulator.report.build_records import run_records
from simulator.report.build_run import EMPTY_SERIES, cluster_report, tenant_reports, time_series
from simulator.report.build_serving import inference_report
from simulator.report.build_spot import spot_reports
from simulator.report.build_training import TrainingRun, training_report
from simulator.report.model import InferenceReport, Report, TrainingReport
from simulator.scenario.schema import Scenario, TrainingWorkload


def simulate(scenario: Scenario, step_model: StepTimeModel | None = None, series: bool = True) -> Report:
    """Run `scenario` until every workload finishes (or to its horizon) and report, with the run's records
    attached (`Report.records`: per request and per span, for the exports and the trace); without `series` the
    report's time series are left empty and no records are attached (Monte Carlo replicates do not plot)."""
    started = time.perf_counter()
    env = simpy.Environment()
    economy = economy_of(scenario)
    batch = [BatchJob.of(d) for d in make_jobs(scenario.jobs, scenario.seed, economy.power.computing_w,
                                                scenario.cluster)]
    cluster = _cluster(env, scenario, [w.tenant for w in scenario.workloads] + [j.tenant for j in batch])
    links, reclaims = _failures(env, scenario, cluster)
    training = [w for w in scenario.workloads if isinstance(w, TrainingWorkload)]
    fabric = None
    network = cached_network(scenario.cluster)
    if training or any(j.traffic is not None for j in batch) or any(
            not isinstance(w, TrainingWorkload) and w.disaggregation is not None for w in scenario.workloads):
        fabric = Fabric(env, network, scenario.cluster.shared_links)
    runs: list[TrainingRun] = []
    services: list[Service] = []
    for index, workload in enumerate(scenario.workloads):
        if isinstance(workload, TrainingWorkload):
            runs.append(_training(env, cluster, scenario, workload, economy, step_model, links, fabric))
        else:  # its own stream, keyed apart from the failure components' so neither shifts the other
            rng = np.random.default_rng(np.random.SeedSequence(scenario.seed, spawn_key=(1, index)))
            service = deploy(env, cluster, service_plan(workload, scenario.cluster, rng), rng)
            services.append(service)
            if fabric is not None and service.plan.decode is not None:
                service.contention = fabric.join(service, functools.partial(_kv_traffic, service, network))
    for batch_job in batch:
        batch_job.start(env, cluster)
        if fabric is not None and batch_job.traffic is not None:
            batch_job.contention = fabric.join(batch_job, functools.partial(_placed, batch_job))
    gauges = run_probes(cluster, [r.job for r in runs], services, batch)
    samples = Samples()
    if series:
        env.process(sampler(env, gauges, samples))
    finished = env.all_of([r.job.process for r in runs] + [s.process for s in services if s.process is not None]
                          + [j.process for j in batch if j.process is not None])
    env.run(until=finished if scenario.horizon_s is None else env.any_of([finished, env.timeout(scenario.horizon_s)]))
    if series and (not samples.time_s or samples.time_s[-1] < env.now):
        samples.record(env.now, gauges)  # the state at the end, before accounts close
    if fabric is not None:
        fabric.settle()
    for run in runs:
        run.job.settle(env.now, cluster)
        cluster.productive_gpu_s += run.job.productive_s * run.job.gpus
    for batch_job in batch:
        batch_job.settle(env.now, cluster)
    outcomes = [settle(service, cluster, economy.power.computing_w) for service in services]
    reports: dict[str, TrainingReport | InferenceReport] = {
        r.workload.name: training_report(r, env.now, scenario, economy) for r in runs}
    inference = [w for w in scenario.workloads if not isinstance(w, TrainingWorkload)]
    reports |= {w.name: inference_report(w, s, outcome, scenario.cluster, economy)
                for w, s, outcome in zip(inference, services, outcomes, strict=True)}
    report = Report(
        scenario=scenario.name,
        seed=scenario.seed,
        clustersim_version=__version__,
        simulated_s=env.now,
        wall_s=time.perf_counter() - started,
        cluster=cluster_report(cluster, env.now, economy, [r.job for r in runs], batch,
                               sum(s.gpu_seconds(o.lost_s) for s, o in zip(services, outcomes, strict=True)),
                               links.link_failures if links else 0, fabric),
        jobs=jobs_report(batch, env.now) if scenario.jobs else None,
        tenants=tenant_reports(scenario, reports, batch, economy, cluster),
        workloads={w.name: reports[w.name] for w in scenario.workloads},
        notes=[note for r in runs for note in r.plan.notes],
        series=time_series(samples, runs, services, outcomes, env.now, fabric) if series else EMPTY_SERIES,
        spot=spot_reports(reclaims, [r.job for r in runs], env.now, scenario.cluster.gpus_per_node),
    )
    return report.attach(run_records([r.job for r in runs], services, outcomes, env.now)) if series else report


def _kv_traffic(service: Service, network: Network) -> Placed:
    """A service's KV transfers from the main pool's replicas to the decode pool's, on the GPUs they hold."""
    senders, receivers = service.pools()
    assert service.plan.decode is not None
    return transfer_traffic(network, senders, receivers, service.plan.decode.kv_bytes_per_s)


def _placed(job: BatchJob) -> Placed:
    """A batch job's traffic on the GPUs it holds (it has traffic: only those join the fabric)."""
    assert job.placed is not None
    return job.placed


def _cluster(env: simpy.Environment, scenario: Scenario, tenants: list[str]) -> Cluster:
    """The GPU pool under the scenario's scheduler (policy, preemption, quotas, fair share)."""
    gpn = scenario.cluster.gpus_per_node
    sharing = scenario.scheduler.fair_share
    return Cluster(env, scenario.cluster.nodes, gpn, scenario.scheduler.policy,
                   scenario.scheduler.preemption, max(1, cached_network(scenario.cluster).unit_gpus // gpn),
                   scenario.scheduler.quotas,
                   None if sharing is None else FairShare(tenants, sharing.shares, sharing.half_life_s, sharing.weight),
                   scenario.scheduler.placement,  # its own stream: keyed apart from failures' and services'
                   np.random.default_rng(np.random.SeedSequence(scenario.seed, spawn_key=(2,))))


def _failures(env: simpy.Environment, scenario: Scenario,
              cluster: Cluster) -> tuple[LinkState | None, list[Reclaims]]:
    """One failure process per component, each on its own child stream of the seed (so adding a workload never
    shifts them), and one reclaim process per spot pool (its stream keyed by the pool's place); the links'
    state where a component fails links, and the reclaims' counts."""
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
    reclaims = [Reclaims(pool.name, scenario.cluster.first_node(index), pool.nodes, pool.spot)
                for index, pool in enumerate(scenario.cluster.pool_specs) if pool.spot is not None]
    for reclaim in reclaims:  # keyed apart from the components' (i,), services' (1, i) and placement's (2,)
        index = scenario.cluster.pool_index(reclaim.pool)
        rng = np.random.default_rng(np.random.SeedSequence(scenario.seed, spawn_key=(4, index)))
        env.process(reclaim.run(env, cluster, rng))
    return links, reclaims


def _training(env: simpy.Environment, cluster: Cluster, scenario: Scenario, workload: TrainingWorkload,
              economy: Economy, step_model: StepTimeModel | None, links: LinkState | None,
              fabric: Fabric | None) -> TrainingRun:
    """A training job submitted to `cluster`, priced on the GPUs it is given (re-priced by `links` when they fail,
    and by `fabric` against the other jobs on shared links)."""
    plan, step = priced_step(workload, scenario.cluster, step_model)
    model = step_model or DEFAULT_STEP_MODEL
    network = cached_network(scenario.cluster)
    reference = np.arange(plan.step.layout.world, dtype=np.int64).tobytes()

    def pricer(gpus: GpuIds) -> StepTime:  # the same GPUs cost the same, however often the job gets them
        return step if gpus.tobytes() == reference else placed_training(model, plan.step, network, gpus).timed

    job = TrainingJob(
        name=workload.name, gpus=workload.parallelism.world, steps_total=plan.steps,
        step_s=step.total_s, power_w=economy.power.step_w(step.compute_s, step.total_s),
        submitted_s=workload.start_at_s,
        recovery=recovery_plan(workload, scenario, step.total_s), priority=workload.priority,
        tenant=workload.tenant, preemptible=workload.preemptible,
        checkpoint_on_preempt=workload.on_preempt == "checkpoint", pricer=pricer,
    )
    job.start(env, cluster)
    if links is not None:
        links.watch(job, functools.partial(placed_step_s, model, plan.step))
    contention = None
    if fabric is not None:
        contention = fabric.join(job, lambda: placed_training(model, plan.step, network, job.placed_gpus))
    return TrainingRun(workload, plan, step, job, contention)

