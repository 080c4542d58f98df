"""Batch job streams in a run: expand each `jobs:` source (generated or a CSV trace) into BatchJob processes,
and report what happened to them: queueing, completion, slowdown, interruptions and lost work."""

from __future__ import annotations

import math

import numpy as np

from simulator.engine.batch import BatchJob
from simulator.models.workload import arrivals as arr
from simulator.plan.job_pricing import trace_durations
from simulator.report.model import BatchJobRow, BatchJobsReport
from simulator.scenario.jobs import (
    ChoiceGpus,
    ExponentialDuration,
    GeneratedJobs,
    JobSource,
    LognormalDuration,
    PowerOfTwoGpus,
    TraceJobs,
)
from simulator.scenario.schema import ClusterSpec
from simulator.units import SECONDS_PER_HOUR


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


def generate(source: GeneratedJobs, rng: np.random.Generator, power_w: float) -> list[BatchJob]:
    """A synthetic stream: Poisson submissions, then sizes, run times and tenants, in that order from `rng`."""
    submit = source.start_at_s + arr.poisson_arrivals_s(source.rate_per_s, source.count, rng)
    gpus = _gpus(source.gpus, source.count, rng)
    durations = _durations(source.duration, source.count, rng)
    names = list(source.tenants)
    shares = np.asarray([source.tenants[n] for n in names], dtype=np.float64)
    tenants = rng.choice(len(names), size=source.count, p=shares / shares.sum())
    return [BatchJob(f"{source.name}-{i}", names[int(tenants[i])], int(gpus[i]), float(durations[i]),
                     float(submit[i]), source.priority, source.checkpoint_interval_s, power_w, source.preemptible,
                     source.on_preempt == "checkpoint")
            for i in range(source.count)]


def replay(source: TraceJobs, power_w: float, cluster: ClusterSpec) -> list[BatchJob]:
    """The jobs of a trace, in submission order (TraceError if it cannot be read or priced)."""
    trace = arr.load_job_trace(source.path, source.columns())
    durations = trace_durations(source, trace, cluster)
    return [BatchJob(f"{source.name}-{i}", trace.tenants[i], int(trace.gpus[i]), durations[i],
                     source.start_at_s + float(trace.submit_s[i]), int(trace.priority[i]),
                     source.checkpoint_interval_s, power_w,
                     source.preemptible if trace.preemptible[i] is None else bool(trace.preemptible[i]),
                     source.on_preempt == "checkpoint", model=_model_name(trace, source, i),
                     tokens=None if math.isnan(trace.tokens[i]) else float(trace.tokens[i]))
            for i in range(len(trace.tenants))]


def _model_name(trace: arr.JobTrace, source: TraceJobs, index: int) -> str | None:
    if math.isnan(trace.tokens[index]):
        return None
    return trace.models[index] or (source.model.name if source.model is not None else None)


def make_jobs(sources: list[JobSource], seed: int, power_w: float, cluster: ClusterSpec) -> list[BatchJob]:
    """Every source's jobs; generated ones draw from their own stream of the scenario's seed tree."""
    jobs: list[BatchJob] = []
    for index, source in enumerate(sources):
        if isinstance(source, GeneratedJobs):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, index)))
            jobs += generate(source, rng, power_w)
        else:
            jobs += replay(source, power_w, cluster)
    return jobs


def _row(job: BatchJob, now: float) -> BatchJobRow:
    end = job.finished_s if job.finished_s is not None else now
    return BatchJobRow(
        name=job.name, tenant=job.tenant, gpus=job.gpus, model=job.model, tokens=job.tokens, status=job.status,
        submitted_s=job.submitted_s, started_s=job.started_s, finished_s=job.finished_s, queued_s=job.queued_s,
        duration_s=job.duration_s, completion_s=max(0.0, end - job.submitted_s),
        slowdown=(job.finished_s - job.submitted_s) / job.duration_s if job.finished_s is not None else None,
        interruptions=job.interruptions, preemptions=job.preemptions,
        lost_gpu_hours=job.lost_s * job.gpus / SECONDS_PER_HOUR,
    )


def jobs_report(jobs: list[BatchJob], now: float) -> BatchJobsReport:
    """Totals and percentiles over the jobs, and one row each."""
    rows = [_row(job, now) for job in jobs]
    queued = np.array([r.queued_s for r in rows]) if rows else np.zeros(1)
    slowdowns = np.array([r.slowdown for r in rows if r.slowdown is not None])

    def pct(values: np.ndarray, q: float) -> float | None:
        return float(np.percentile(values, q)) if values.size else None

    return BatchJobsReport(
        count=len(rows), completed=sum(r.status == "completed" for r in rows),
        running=sum(r.status == "running" for r in rows), queued=sum(r.status == "queued" for r in rows),
        mean_queued_s=float(queued.mean()), p50_queued_s=float(np.percentile(queued, 50)),
        p99_queued_s=float(np.percentile(queued, 99)),
        mean_slowdown=float(slowdowns.mean()) if slowdowns.size else None, p99_slowdown=pct(slowdowns, 99),
        interruptions=sum(r.interruptions for r in rows), preemptions=sum(r.preemptions for r in rows),
        lost_gpu_hours=sum(r.lost_gpu_hours for r in rows),
        gpu_hours=sum(job.held_s * job.gpus for job in jobs) / SECONDS_PER_HOUR,
        rows=rows,
    )
