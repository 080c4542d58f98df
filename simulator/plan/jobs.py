"""Batch job streams of a scenario: each `jobs:` source (generated from its seed stream, or a CSV trace priced
by the fastest layout of its model) expanded into the jobs' demands, in submission order per source."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.models.workload import arrivals as arr
from simulator.models.workload.layout_search import RankedLayout
from simulator.models.workload.traffic import Pattern, PatternTraffic, Placed
from simulator.plan.job_pricing import trace_runs
from simulator.plan.network import cached_network
from simulator.plan.training import DEFAULT_STEP_MODEL, placed_training
from simulator.scenario.jobs import (
    ChoiceGpus,
    ExponentialDuration,
    GeneratedJobs,
    JobCommunication,
    JobSource,
    LognormalDuration,
    PowerOfTwoGpus,
    TraceJobs,
)
from simulator.scenario.schema import ClusterSpec

Placement = Callable[[NDArray[np.int64]], Placed]  # a job's traffic with its ranks on these GPUs


@dataclass
class JobDemand:
    """What one batch job asks for: GPUs, run time, when, at what priority, and how it survives interruptions."""

    name: str
    tenant: str
    gpus: int
    duration_s: float  # run time on its GPUs without interruptions
    submitted_s: float
    priority: int = 0
    checkpoint_interval_s: float = 0.0  # 0: an interrupted job starts over
    power_w: float = 0.0  # wall power per GPU while running
    preemptible: bool = False  # higher-priority work may stop it
    checkpoint_on_preempt: bool = True  # a preempted job saves its work (else loses it since its last checkpoint)
    model: str | None = None  # for a job given as tokens to train: its model (for the report)
    tokens: float | None = None  # and its tokens; its duration is their training time
    traffic: Placement | None = None  # its communication on the GPUs it is given (None: it uses no network)


def pattern_traffic(spec: JobCommunication | None, cluster: ClusterSpec) -> Placement | None:
    """A job's collective on the cluster's network, or None where it names none."""
    if spec is None:
        return None
    return PatternTraffic(cached_network(cluster), Pattern(spec.pattern), spec.fraction).place


def layout_traffic(layout: RankedLayout, cluster: ClusterSpec) -> Placement:
    """A job trained with `layout`: its step's traffic on the cluster's network."""
    return functools.partial(placed_training, DEFAULT_STEP_MODEL, layout.step, cached_network(cluster))


def _gpus(spec: ChoiceGpus | PowerOfTwoGpus, count: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(spec, ChoiceGpus):
        weights = np.asarray(spec.weights or [1.0] * len(spec.values), dtype=np.float64)
        return np.asarray(rng.choice(spec.values, size=count, p=weights / weights.sum()), dtype=np.int64)
    exponents = np.arange(int(math.log2(spec.max)) + 1)
    weights = np.asarray(spec.share ** exponents, dtype=np.float64)
    return np.asarray(2 ** rng.choice(exponents, size=count, p=weights / weights.sum()), dtype=np.int64)


def _durations(spec: ExponentialDuration | LognormalDuration, count: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(spec, ExponentialDuration):
        return np.asarray(rng.exponential(spec.mean_s, size=count))
    values = rng.lognormal(math.log(spec.median_s), spec.sigma, size=count)
    return np.asarray(np.minimum(values, spec.max_s) if spec.max_s else values)


def generate(source: GeneratedJobs, rng: np.random.Generator, power_w: float, cluster: ClusterSpec) -> list[JobDemand]:
    """A synthetic stream: Poisson submissions, then sizes, run times and tenants, in that order from `rng`."""
    submit = source.start_at_s + arr.poisson_arrivals_s(source.rate_per_s, source.count, rng)
    gpus = _gpus(source.gpus, source.count, rng)
    durations = _durations(source.duration, source.count, rng)
    names = list(source.tenants)
    shares = np.asarray([source.tenants[n] for n in names], dtype=np.float64)
    tenants = rng.choice(len(names), size=source.count, p=shares / shares.sum())
    traffic = pattern_traffic(source.communication, cluster)
    return [JobDemand(f"{source.name}-{i}", names[int(tenants[i])], int(gpus[i]), float(durations[i]),
                     float(submit[i]), source.priority, source.checkpoint_interval_s, power_w, source.preemptible,
                     source.on_preempt == "checkpoint", traffic=traffic)
            for i in range(source.count)]


def replay(source: TraceJobs, power_w: float, cluster: ClusterSpec) -> list[JobDemand]:
    """The jobs of a trace, in submission order (TraceError if it cannot be read or priced)."""
    trace = arr.load_job_trace(source.path, source.columns())
    runs = trace_runs(source, trace, cluster)
    given = pattern_traffic(source.communication, cluster)
    traffic = [given if layout is None else layout_traffic(layout, cluster) for _, layout in runs]
    return [JobDemand(f"{source.name}-{i}", trace.tenants[i], int(trace.gpus[i]), runs[i][0],
                     source.start_at_s + float(trace.submit_s[i]), int(trace.priority[i]),
                     source.checkpoint_interval_s, power_w,
                     source.preemptible if trace.preemptible[i] is None else bool(trace.preemptible[i]),
                     source.on_preempt == "checkpoint", model=_model_name(trace, source, i),
                     tokens=None if math.isnan(trace.tokens[i]) else float(trace.tokens[i]), traffic=traffic[i])
            for i in range(len(trace.tenants))]


def _model_name(trace: arr.JobTrace, source: TraceJobs, index: int) -> str | None:
    if math.isnan(trace.tokens[index]):
        return None
    return trace.models[index] or (source.model.name if source.model is not None else None)


def make_jobs(sources: list[JobSource], seed: int, power_w: float, cluster: ClusterSpec) -> list[JobDemand]:
    """Every source's jobs; generated ones draw from their own stream of the scenario's seed tree."""
    jobs: list[JobDemand] = []
    for index, source in enumerate(sources):
        if isinstance(source, GeneratedJobs):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, index)))
            jobs += generate(source, rng, power_w, cluster)
        else:
            jobs += replay(source, power_w, cluster)
    return jobs
