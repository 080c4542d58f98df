"""Conservation laws a run's report must obey, checked on the finished Report alone (pure: no engine state): GPU
time and energy are never paid twice or out of thin air, cost breakdowns add up, and no request or job goes
missing. The tests run it on every shipped scenario and on generated shared clusters (docs/costs.md)."""

from __future__ import annotations

from simulator.report.model import CostBreakdown, InferenceReport, Report, TrainingReport
from simulator.units import SECONDS_PER_HOUR

REL_TOL = 1e-9  # relative: float sums over millions of events stay far inside it
ABS_TOL = 1e-9  # absolute floor, in the figure's own unit, for figures that are (near) zero


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b)) + ABS_TOL


def _at_most(a: float, b: float) -> bool:
    return a <= b + REL_TOL * max(abs(a), abs(b)) + ABS_TOL


def _parts(cost: CostBreakdown) -> list[float]:
    return [cost.useful_usd, cost.checkpoint_usd, cost.failure_usd, cost.idle_usd, cost.energy_usd]


def _cost_adds_up(who: str, cost_usd: float, cost: CostBreakdown) -> list[str]:
    """Useful + checkpoint + failure + idle + energy = the cost, no part negative."""
    found = [f"{who}: a cost part is negative ({cost})"] if min(_parts(cost)) < 0.0 else []
    if not _close(sum(_parts(cost)), cost_usd):
        found.append(f"{who}: cost breakdown sums to {sum(_parts(cost))} USD, cost is {cost_usd} USD")
    return found


def _held_gpu_hours(report: Report, w: TrainingReport | InferenceReport) -> float:
    """The most GPU-hours workload `w` can have held: its GPUs for the time it held any."""
    if w.started_s is None:
        return 0.0
    if isinstance(w, TrainingReport):  # waits for GPUs (first, and again after preemptions or requeues) excluded
        return w.held_gpus * (w.wall_clock_s - w.queued_s - w.requeued_s) / SECONDS_PER_HOUR
    end = w.finished_s if w.finished_s is not None else report.simulated_s
    return w.gpus * (end - w.started_s) / SECONDS_PER_HOUR


def _gpu_time(report: Report) -> list[str]:
    """Tenants pay exactly what the cluster allocated, within what it has; no workload pays beyond its GPUs."""
    cluster, found = report.cluster, []
    allocated_h = cluster.allocation * cluster.gpu_hours
    tenants_h = sum(t.gpu_hours for t in report.tenants.values())
    if not _close(tenants_h, allocated_h):
        found.append(f"tenants hold {tenants_h} GPU-hours, the cluster allocated {allocated_h}")
    if not _at_most(tenants_h, cluster.gpu_hours):
        found.append(f"tenants hold {tenants_h} GPU-hours of the cluster's {cluster.gpu_hours}")
    workloads_h = sum(w.gpu_hours for w in report.workloads.values())
    jobs_h = report.jobs.gpu_hours if report.jobs is not None else 0.0
    if not _close(tenants_h, workloads_h + jobs_h):
        found.append(f"tenants hold {tenants_h} GPU-hours, workloads and batch jobs {workloads_h + jobs_h}")
    if not _at_most(sum(t.cost_usd for t in report.tenants.values()), cluster.rental_usd):
        found.append(f"tenants pay more than the cluster's GPU time ({cluster.rental_usd} USD)")
    for name, w in report.workloads.items():
        if not _at_most(w.gpu_hours, _held_gpu_hours(report, w)):
            found.append(f"{name}: {w.gpu_hours} GPU-hours, but held at most {_held_gpu_hours(report, w)}")
    if report.jobs is not None:
        held_h = sum(r.gpus * (r.completion_s - r.queued_s) for r in report.jobs.rows) / SECONDS_PER_HOUR
        if not _at_most(jobs_h, held_h):
            found.append(f"batch jobs: {jobs_h} GPU-hours, but held at most {held_h}")
    if not _at_most(cluster.utilization, cluster.allocation) or not _at_most(cluster.allocation, 1.0):
        found.append(f"utilization {cluster.utilization} <= allocation {cluster.allocation} <= 1 fails")
    return found


def _energy_and_cost(report: Report) -> list[str]:
    """Workloads use no more GPU energy than the cluster's GPUs did; every cost breakdown adds up."""
    cluster = report.cluster
    found = _cost_adds_up("cluster", cluster.cost_usd, cluster.cost_breakdown)
    kwh = sum(w.energy_kwh for w in report.workloads.values())
    if not _at_most(kwh, cluster.gpu_energy_kwh):
        found.append(f"workloads use {kwh} kWh, the cluster's GPUs {cluster.gpu_energy_kwh} kWh")
    for name, w in report.workloads.items():
        found += _cost_adds_up(name, w.cost_usd, w.cost_breakdown)
    return found


def _counts(report: Report) -> list[str]:
    """Every request, step and batch job is somewhere."""
    found = []
    for name, w in report.workloads.items():
        if isinstance(w, InferenceReport):
            r = w.requests
            if r.arrived != r.completed + r.failed + r.queued_at_end + r.in_flight_at_end:
                found.append(f"{name}: {r.arrived} requests arrived, {r.completed} completed + {r.failed} failed "
                             f"+ {r.queued_at_end} queued + {r.in_flight_at_end} in flight")
            if r.total != r.arrived + r.not_arrived:
                found.append(f"{name}: {r.total} requests, {r.arrived} arrived + {r.not_arrived} not arrived")
        elif w.steps + w.steps_remaining != w.steps_total or w.steps > w.steps_total:
            found.append(f"{name}: {w.steps} steps done + {w.steps_remaining} left != {w.steps_total}")
    jobs = report.jobs
    if jobs is not None:
        by_status = {s: sum(r.status == s for r in jobs.rows) for s in ("completed", "running", "queued")}
        if (jobs.count != len(jobs.rows) or jobs.count != jobs.completed + jobs.running + jobs.queued
                or by_status != {"completed": jobs.completed, "running": jobs.running, "queued": jobs.queued}):
            found.append(f"batch jobs: {jobs.count} jobs, {len(jobs.rows)} rows, {jobs.completed} completed + "
                         f"{jobs.running} running + {jobs.queued} queued (rows say {by_status})")
    return found


def _spot(report: Report) -> list[str]:
    """Reclaimed capacity is part of the cluster's down time; an event takes at least one node; nothing negative."""
    found = []
    for name, spot in report.spot.items():
        if not _at_most(spot.reclaimed_gpu_hours, report.cluster.down_gpu_hours):
            found.append(f"spot pool {name}: {spot.reclaimed_gpu_hours} GPU-hours reclaimed, but the cluster was "
                         f"down {report.cluster.down_gpu_hours}")
        if spot.nodes_reclaimed < spot.reclaims or min(spot.lost_gpu_hours, spot.reclaimed_gpu_hours) < 0:
            found.append(f"spot pool {name}: {spot.reclaims} reclaims took {spot.nodes_reclaimed} nodes, lost "
                         f"{spot.lost_gpu_hours} and reclaimed {spot.reclaimed_gpu_hours} GPU-hours")
    return found


def violations(report: Report) -> list[str]:
    """Every accounting invariant `report` breaks, one sentence each (empty: it all adds up)."""
    return _gpu_time(report) + _energy_and_cost(report) + _counts(report) + _spot(report)
