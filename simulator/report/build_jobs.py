"""The batch jobs' part of the report: queueing, completion, slowdown, interruptions and lost work, with totals,
percentiles and one row per job."""

from __future__ import annotations

import numpy as np

from simulator.engine.batch import BatchJob
from simulator.engine.fabric import Contention
from simulator.report.model import BatchJobRow, BatchJobsReport
from simulator.units import SECONDS_PER_HOUR


def _row(job: BatchJob, now: float) -> BatchJobRow:
    end = job.finished_s if job.finished_s is not None else now
    contention = job.contention or Contention()
    return BatchJobRow(
        name=job.name, tenant=job.tenant, gpus=job.gpus, model=job.model, tokens=job.tokens, status=job.status,
        submitted_s=job.submitted_s, started_s=job.started_s, finished_s=job.finished_s, queued_s=job.queued_s,
        duration_s=job.duration_s, completion_s=max(0.0, end - job.submitted_s),
        slowdown=(job.finished_s - job.submitted_s) / job.duration_s if job.finished_s is not None else None,
        interruptions=job.interruptions, preemptions=job.preemptions,
        lost_gpu_hours=job.lost_s * job.gpus / SECONDS_PER_HOUR, gpu_hours=job.held_s * job.gpus / SECONDS_PER_HOUR,
        placement_factor=job.placed.pace if job.placed is not None else 1.0,
        contention_factor=contention.mean_factor(), contention_links=contention.links,
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
        contention_factor=_weighted_factor(jobs),
        rows=rows,
    )


def _weighted_factor(jobs: list[BatchJob]) -> float:
    """Mean contention factor over the GPU-time the jobs held on the fabric (1 where none were on it)."""
    held = sum(j.contention.held_s * j.gpus for j in jobs if j.contention is not None)
    extra = sum(j.contention.weighted_s * j.gpus for j in jobs if j.contention is not None)
    return 1.0 + extra / held if held > 0 else 1.0
