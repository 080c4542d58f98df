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
from simulator.engine.job_pools import JobPools
from simulator.engine.links import LinkState
from simulator.engine.probes import it_power_probe, run_probes
from simulator.engine.reclaims import Reclaims
from simulator.engine.sampler import Gauge, GaugeKind, Samples, sampler
from simulator.engine.serving.service import Service, deploy, settle
from simulator.engine.site_power import SiteAdmission
from simulator.engine.training import TrainingJob
from simulator.models.reliability import Scope
from simulator.models.topology.network import Network
from simulator.models.workload.step_time import StepTime, StepTimeModel
from simulator.models.workload.traffic import Placed, transfer_traffic
from simulator.plan.economy import Economy
from simulator.plan.jobs import make_jobs
from simulator.plan.network import cached_network, pool_links, topology_leaves
from simulator.plan.pools import PoolEconomy, allocation_options, pool_economy, shared_units
from simulator.plan.serving import service_plan, serving_pools
from simulator.plan.site_power import SitePlan, site_plan
from simulator.plan.training import (
    DEFAULT_STEP_MODEL,
    PlacedTraining,
    TrainingPlan,
    fits_memory,
    placed_step_s,
    placed_training,
    priced_step,
    recovery_plan,
    split_step,
)
from simulator.report.build_jobs import jobs_report
from simulator.report.build_power import with_site_power
from simulator.report.build_records import run_records
from simulator.report.build_run import EMPTY_SERIES, cluster_report, tenant_reports, time_series
from simulator.report.build_serving import inference_report
from simulator.report.build_spot import spot_reports
from simulator.report.build_training import TrainingRun, training_report
from simulator.report.model import InferenceReport, Report, TrainingReport
from simulator.scenario.schema import Scenario, TrainingWorkload
from simulator.units import SECONDS_PER_HOUR


def simulate(scenario: Scenario, step_model: StepTimeModel | None = None, series: bool = True) -> Report:
    """Run `scenario` until every workload finishes (or to its horizon) and report, with the run's records
    attached (`Report.records`: per request and per span, for the exports and the trace); without `series` the
    report's time series are left empty and no records are attached (Monte Carlo replicates do not plot)."""
    started = time.perf_counter()
    site = site_plan(scenario)
    scenario = scenario if site is None else site.scenario  # under policy cap, with the caps it chose
    env = simpy.Environment()
    economies = pool_economy(scenario)
    economy = economies.of(np.array([p.gpus for p in scenario.cluster.pool_specs]) / scenario.cluster.gpus)
    batch = [BatchJob.of(d) for d in make_jobs(scenario.jobs, scenario.seed, economy.power.computing_w,
                                                scenario.cluster)]
    cluster = _cluster(env, scenario, [w.tenant for w in scenario.workloads] + [j.tenant for j in batch],
                       site_admission(site, economy))
    cluster.pool_full_w = tuple(e.power.computing_w for e in economies.pools)
    for batch_job in batch if scenario.cluster.pools else ():  # any one pool, at that pool's power
        batch_job.options = allocation_options(scenario.cluster, batch_job.gpus)
        batch_job.pool_power_w = tuple(e.power.computing_w for e in economies.pools)
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
            runs.append(_training(env, cluster, scenario, workload, economies, step_model, links, fabric))
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
    if site is not None:
        power = economy.power
        gauges[Gauge(GaugeKind.IT_POWER)] = it_power_probe(cluster, [r.job for r in runs], services, batch, gauges, (
            power.computing_w, power.idle_w, power.down_w, economy.network_w))
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
        cluster.record_productive(run.job.productive_s * run.job.gpus, run.job.shares)
    for batch_job in batch:
        batch_job.settle(env.now, cluster)
    outcomes = [settle(service, cluster, *_service_watts(service, economies)) for service in services]
    paying = {r.workload.name: economies.of(_final_shares(r.job, cluster)) for r in runs}
    reports: dict[str, TrainingReport | InferenceReport] = {
        r.workload.name: training_report(r, env.now, scenario, paying[r.workload.name]) for r in runs}
    inference = [w for w in scenario.workloads if not isinstance(w, TrainingWorkload)]
    paying |= {w.name: economies.of(_service_shares(s, cluster)) for w, s in zip(inference, services, strict=True)}
    reports |= {w.name: inference_report(w, s, outcome, scenario.cluster.view(serving_pools(w, scenario.cluster)[0]),
                                         paying[w.name])
                for w, s, outcome in zip(inference, services, outcomes, strict=True)}
    cluster_part = cluster_report(cluster, env.now, economies, [r.job for r in runs], batch,
                                  sum(s.gpu_seconds(o.lost_s) for s, o in zip(services, outcomes, strict=True)),
                                  links.link_failures if links else 0, fabric, scenario.cluster.pools,
                                  _unpaid_gpu_s(scenario, reclaims, env.now), pool_links(scenario.cluster))
    series_part = time_series(samples, runs, services, outcomes, env.now, fabric) if series else EMPTY_SERIES
    if site is not None:
        cluster_part, series_part = with_site_power(cluster_part, series_part, site, samples, env.now,
                                                    cluster.site_power)
    report = Report(
        scenario=scenario.name,
        seed=scenario.seed,
        clustersim_version=__version__,
        simulated_s=env.now,
        wall_s=time.perf_counter() - started,
        cluster=cluster_part,
        jobs=jobs_report(batch, env.now) if scenario.jobs else None,
        tenants=tenant_reports(scenario, reports, batch, economies, cluster,
                               {name: e.prices.gpu_hour_usd for name, e in paying.items()},
                               {r.workload.name: r.job.unpaid_gpu_s / SECONDS_PER_HOUR for r in runs}),
        workloads={w.name: reports[w.name] for w in scenario.workloads},
        notes=[note for r in runs for note in r.plan.notes] + shared_units(scenario.cluster, network.unit_gpus),
        series=series_part,
        spot=spot_reports(reclaims, [r.job for r in runs], env.now, scenario.cluster.gpus_per_node),
    )
    return report.attach(run_records([r.job for r in runs], services, outcomes, env.now)) if series else report


def _unpaid_gpu_s(scenario: Scenario, reclaims: list[Reclaims], now: float) -> list[float]:
    """By pool, the GPU-seconds its spot capacity was away (reclaimed, not paid for)."""
    cluster = scenario.cluster
    unpaid = [0.0] * len(cluster.pool_specs)
    for reclaim in reclaims:
        unpaid[cluster.pool_index(reclaim.pool)] += reclaim.away_node_seconds(now) * cluster.gpus_per_node
    return unpaid


def _service_watts(service: Service, economies: PoolEconomy) -> tuple[float, float]:
    """Busy wall power per GPU of a service's main and decode replicas, each at its pool's."""
    plan = service.plan
    return (economies.pools[max(0, plan.pool)].power.computing_w,
            economies.pools[max(0, plan.decode_pool)].power.computing_w)


def _service_shares(service: Service, cluster: Cluster) -> np.ndarray:
    """Fraction of a service's GPUs (all its replicas, main and decode) in each pool."""
    shares = np.zeros(len(cluster.pool_nodes))
    gpus = service.replica_gpus
    decoding = np.arange(len(gpus)) >= service.plan.pool_replicas
    shares[max(0, service.plan.pool)] += float(gpus[~decoding].sum())
    shares[max(0, service.plan.decode_pool)] += float(gpus[decoding].sum())
    return shares / max(1.0, float(shares.sum()))


def _final_shares(job: TrainingJob, cluster: Cluster) -> np.ndarray:
    """Fraction of a training job's GPUs in each pool, as last placed (the first pool if it never started)."""
    if job.shares is not None:
        return job.shares.gpus
    shares = np.zeros(len(cluster.pool_nodes))
    shares[0] = 1.0
    return shares


def _kv_traffic(service: Service, network: Network) -> Placed:
    """A service's KV transfers from the main pool's replicas to the decode pool's, on the GPUs they hold."""
    senders, receivers = service.pools()
    assert service.plan.decode is not None
    return transfer_traffic(network, senders, receivers, service.plan.decode.kv_bytes_per_s)


def _placed(job: BatchJob) -> Placed:
    """A batch job's traffic on the GPUs it holds (it has traffic: only those join the fabric)."""
    assert job.placed is not None
    return job.placed


def site_admission(site: SitePlan | None, economy: Economy) -> SiteAdmission | None:
    """Admission against the site budget under policy queue (None otherwise): the network and every GPU idle as the
    base, a request's GPUs at full load (docs/fleets.md)."""
    if site is None or site.spec.policy != "queue" or site.spec.budget_w is None:
        return None
    gpus = site.scenario.cluster.gpus
    return SiteAdmission(site.spec.budget_w, site.pue, site.network_w + gpus * economy.power.idle_w,
                         economy.power.idle_w, economy.power.computing_w)


def _cluster(env: simpy.Environment, scenario: Scenario, tenants: list[str],
             site_power: SiteAdmission | None = None) -> Cluster:
    """The GPU pool under the scenario's scheduler (policy, preemption, quotas, fair share) and site budget."""
    gpn = scenario.cluster.gpus_per_node
    sharing = scenario.scheduler.fair_share
    pools = scenario.cluster.pools
    return Cluster(env, scenario.cluster.nodes, gpn, scenario.scheduler.policy,
                   scenario.scheduler.preemption, max(1, cached_network(scenario.cluster).unit_gpus // gpn),
                   scenario.scheduler.quotas,
                   None if sharing is None else FairShare(tenants, sharing.shares, sharing.half_life_s, sharing.weight),
                   scenario.scheduler.placement,  # its own stream: keyed apart from failures' and services'
                   np.random.default_rng(np.random.SeedSequence(scenario.seed, spawn_key=(2,))), site_power,
                   tuple(p.nodes for p in pools) if pools else ())


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
              economies: PoolEconomy, step_model: StepTimeModel | None, links: LinkState | None,
              fabric: Fabric | None) -> TrainingRun:
    """A training job submitted to `cluster`, priced on the GPUs it is given with the accelerator of their pool
    (several pools: split between them, plan/training.py split_step), re-priced by `links` when they fail, and by
    `fabric` against the other jobs on shared links."""
    spec = scenario.cluster
    # an unpinned job goes only to pools whose chip holds its layout, and is first planned on the first of them
    fitting = tuple(p.name for p in spec.pool_specs if fits_memory(workload, spec.view(p.name)))
    first = workload.pool or next(iter(workload.pools or {fitting[0] if fitting else spec.pool_specs[0].name: 0}))
    plan, step = priced_step(workload, spec.view(first), step_model, spec.first_gpu(first))
    economy = economies.pools[spec.pool_index(first)]
    model = step_model or DEFAULT_STEP_MODEL
    network = cached_network(spec)
    reference = np.arange(plan.step.layout.world, dtype=np.int64).tobytes()  # where the old form's step is priced

    def on_pool(gpus: GpuIds) -> tuple[TrainingPlan, StepTime, Network]:
        """Plan, step and network (links at its chip's bandwidths) of the pool of `gpus` (of a split job: the first
        GPU's)."""
        if spec.pools is None:
            return plan, step, network
        name = spec.pool_specs[cluster.pool_of(gpus)].name
        view = spec.view(name)
        return (*priced_step(workload, view, step_model, spec.first_gpu(name)), cached_network(view))

    def pricer(gpus: GpuIds) -> StepTime:  # the same GPUs cost the same, however often the job gets them
        if workload.pools:
            return split_step(model, workload, spec, gpus, cluster.pool_of_gpu)
        pool_plan, pool_step, net = on_pool(gpus)
        return pool_step if gpus.tobytes() == reference else placed_training(model, pool_plan.step, net, gpus).timed

    def power_of(gpus: GpuIds) -> np.ndarray:  # per GPU in each pool, for the step as priced on `gpus`
        assert job.placed_step is not None
        timed = job.placed_step
        return np.array([e.power.step_w(timed.compute_s, timed.total_s) for e in economies.pools])

    job = TrainingJob(
        name=workload.name, gpus=workload.parallelism.world, steps_total=plan.steps,
        step_s=step.total_s, power_w=economy.power.step_w(step.compute_s, step.total_s),
        submitted_s=workload.start_at_s,
        recovery=recovery_plan(workload, scenario, step.total_s), priority=workload.priority,
        tenant=workload.tenant, preemptible=workload.preemptible,
        checkpoint_on_preempt=workload.on_preempt == "checkpoint", pricer=pricer,
        pools=JobPools(lambda count: allocation_options(spec, count, workload.pool, workload.pools, fitting),
                       power_of if spec.pools is not None else None),
    )
    job.start(env, cluster)
    if links is not None:
        links.watch(job, functools.partial(placed_step_s, model, plan.step))
    contention = None
    if fabric is not None:
        def placed() -> PlacedTraining:
            pool_plan, _, net = on_pool(job.placed_gpus)
            return placed_training(model, pool_plan.step, net, job.placed_gpus)

        contention = fabric.join(job, placed)
    return TrainingRun(workload, plan, step, job, contention)

