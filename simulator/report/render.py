"""Render a run report, a comparison and replicates for people: rich tables on the terminal (the tools' outputs:
report/render_tools.py). JSON is the report model's own dump."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rich.console import Group
from rich.table import Table

from simulator.report.experiments import Comparison, ReplicatesReport
from simulator.report.figures import comparison_keys, figure_value
from simulator.report.fleet import PoolReport
from simulator.report.model import (
    BatchJobsReport,
    ClusterReport,
    InferenceReport,
    LatencyReport,
    Report,
    StepBreakdown,
    TrainingReport,
)
from simulator.report.power import SitePowerReport
from simulator.report.terminal import FittedTable, short_fields
from simulator.report.text import duration_text, pairs_table
from simulator.units import format_count, format_si

NOT_SET = "not set"


def carbon_text(tco2e: float | None) -> str:
    """Carbon in tonnes CO2e, or 'not set' where the scenario gives no carbon intensity."""
    return NOT_SET if tco2e is None else f"{tco2e:,.2f} tCO2e"


def energy_cost_text(cluster: ClusterReport) -> str:
    """The electricity bill, or 'not set' where the scenario gives no electricity price."""
    return NOT_SET if cluster.electricity_usd_per_kwh is None else f"${cluster.energy_usd:,.2f}"


def report_tables(report: Report) -> Group:
    """A cluster summary and one row per workload."""
    c = report.cluster
    head = pairs_table(f"clustersim: {report.scenario} (seed {report.seed})", [
        ("simulated time", duration_text(report.simulated_s)),
        ("GPUs", f"{c.gpus:,}"),
        ("utilization (productive)", f"{c.utilization:.1%}"),
        ("allocation", f"{c.allocation:.1%}"),
        ("GPU-hours", f"{c.gpu_hours:,.1f}"),
        ("energy", f"{c.energy_kwh:,.1f} kWh (GPUs and servers {c.gpu_energy_kwh:,.1f}, network "
                   f"{c.network_energy_kwh:,.1f}), carbon {carbon_text(c.carbon_tco2e)}"),
        ("price", f"${c.gpu_hour_usd:,.2f} per GPU-hour ({c.price_source})"),
        ("cost", f"${c.cost_usd:,.2f} (GPU time ${c.rental_usd:,.2f} + energy {energy_cost_text(c)})"),
        ("cost by use", _breakdown_text(c)),
        *_link_rows(report),
        *([("site power", site_power_text(c.site_power))] if c.site_power is not None else []),
        ("simulation wall time", f"{report.wall_s:.3f} s"),
    ])
    parts: list[Table | FittedTable | str] = [head]
    if c.pools:
        parts.append(_columns_table("pools", c.pools, pool_rows))
    training = {n: w for n, w in report.workloads.items() if isinstance(w, TrainingReport)}
    serving = {n: w for n, w in report.workloads.items() if isinstance(w, InferenceReport)}
    if training:
        parts.append(_columns_table("training workloads", training, _training_rows))
    if serving:
        parts.append(_columns_table("inference workloads", serving, _serving_rows))
    if report.spot:
        parts.append(rows_table("spot pools", [
            {"pool": name, "nodes": f"{p.nodes:,}", "notice": duration_text(p.notice_s), "reclaims": f"{p.reclaims:,}",
             "nodes taken": f"{p.nodes_reclaimed:,}", "notices acted on": f"{p.notices_acted:,}",
             "GPU-hours away": f"{p.reclaimed_gpu_hours:,.1f}", "GPU-hours rolled back": f"{p.lost_gpu_hours:,.1f}"}
            for name, p in report.spot.items()]))
    if report.jobs is not None:
        parts.append(pairs_table("batch jobs", jobs_rows(report.jobs)))
    if len(report.tenants) > 1 or any(t.quota_gpus for t in report.tenants.values()):
        columns, rows = tenant_table(report)
        parts.append(rows_table("tenants", [dict(zip(columns, row, strict=True)) for row in rows]))
    parts += [f"note: {n}" for n in report.notes]
    return Group(*parts)


def site_power_text(site: SitePowerReport) -> str:
    """Facility power drawn, against the budget and the cap chosen where there are, in one line."""
    drawn = f"peak {site.peak_facility_w / 1e6:,.2f} MW, mean {site.mean_facility_w / 1e6:,.2f} MW at the meter"
    budget = "" if site.budget_w is None else f"; budget {site.budget_w / 1e6:,.3g} MW, policy {site.policy}"
    cap = "" if site.cap_fraction is None else f", GPUs capped at {site.cap_fraction:.1%} of TDP"
    waits = (f", {site.power_waits:,} waited for power (mean {duration_text(site.mean_power_wait_s)})"
             if site.power_waits else "")
    return drawn + budget + cap + waits


def _link_rows(report: Report) -> list[tuple[str, str]]:
    """Training traffic's time-weighted link load by tier and the hottest links, where there is any."""
    c = report.cluster
    if not c.hottest_links:
        return []
    tiers = ", ".join(f"{tier} {share:.1%}" for tier, share in c.link_utilization.items() if share > 0)
    hottest = ", ".join(f"{link.name} {link.utilization:.0%}" for link in c.hottest_links[:3])
    return [("link load by tier", tiers), ("hottest links", hottest)]


def jobs_rows(jobs: BatchJobsReport) -> list[tuple[str, str]]:
    """The batch jobs' outcome, queueing, slowdown and losses, as label and text."""
    return [("jobs", f"{jobs.count:,}: {jobs.completed:,} completed, {jobs.running:,} running, "
                     f"{jobs.queued:,} queued"),
            ("queueing delay", f"mean {duration_text(jobs.mean_queued_s)}, median "
                               f"{duration_text(jobs.p50_queued_s)}, p99 {duration_text(jobs.p99_queued_s)}"),
            ("slowdown (completion / run time)", "-" if jobs.mean_slowdown is None else
             f"mean {jobs.mean_slowdown:.2f}, p99 {jobs.p99_slowdown or 0:.2f}"),
            ("interruptions / preemptions", f"{jobs.interruptions:,} / {jobs.preemptions:,}"),
            ("lost work", f"{jobs.lost_gpu_hours:,.0f} GPU-hours")]


def tenant_table(report: Report) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Column names and one row of texts per tenant; quota and fair-share columns only where the scheduler
    has them."""
    tenants = report.tenants.values()
    quotas, sharing = any(t.quota_gpus for t in tenants), any(t.fair_share_factor is not None for t in tenants)
    columns = ("tenant", "GPU-hours", "share", "GPU time cost", *(("quota (GPUs)",) if quotas else ()),
               *(("fair-share factor",) if sharing else ()), "batch jobs", "jobs' mean queueing", "workloads",
               "preemptions caused")
    rows = [(name, f"{t.gpu_hours:,.0f}", f"{t.share:.1%}", usd_text(t.cost_usd),
             *(("-" if t.quota_gpus is None else f"{t.quota_gpus:,}",) if quotas else ()),
             *((f"{t.fair_share_factor or 0:.2f}",) if sharing else ()), f"{t.batch_jobs:,}",
             "-" if t.batch_mean_queued_s is None else duration_text(t.batch_mean_queued_s),
             ", ".join(t.workloads) or "-", f"{t.preemptions_caused:,}") for name, t in report.tenants.items()]
    return columns, rows


W = TypeVar("W", TrainingReport, InferenceReport, PoolReport)


def pool_rows(p: PoolReport) -> list[tuple[str, str]]:
    """One pool's figures, labelled."""
    return [("accelerator", p.accelerator), ("GPUs", f"{p.gpus:,}"),
            ("scale-up domain", f"{p.scale_up_domain_gpus:,} GPUs"),
            ("NIC per GPU", "-" if p.nic_gbps is None else f"{p.nic_gbps:,.0f} Gb/s"),
            ("power cap", "-" if p.power_cap_w is None else f"{p.power_cap_w:,.0f} W"),
            ("utilization (productive)", f"{p.utilization:.1%}"), ("allocation", f"{p.allocation:.1%}"),
            ("GPU-hours", f"{p.gpu_hours:,.1f}"), ("energy (GPUs and servers)", f"{p.gpu_energy_kwh:,.1f} kWh"),
            ("price", f"${p.gpu_hour_usd:,.2f} per GPU-hour"), ("cost", f"${p.cost_usd:,.2f}")]


def _breakdown_text(c: ClusterReport) -> str:
    b = c.cost_breakdown
    energy = NOT_SET if c.electricity_usd_per_kwh is None else f"${b.energy_usd:,.0f}"
    return (f"useful ${b.useful_usd:,.0f}, checkpoints ${b.checkpoint_usd:,.0f}, failures ${b.failure_usd:,.0f}, "
            f"idle ${b.idle_usd:,.0f}, energy {energy}")


def _columns_table(title: str, workloads: dict[str, W], rows: Callable[[W], list[tuple[str, str]]]) -> FittedTable:
    """One column per workload, one row per figure."""
    columns = [rows(w) for w in workloads.values()]
    return FittedTable(title, "", list(workloads), [(label, [column[index][1] for column in columns])
                                                    for index, (label, _) in enumerate(columns[0])])


def _training_rows(w: TrainingReport) -> list[tuple[str, str]]:
    return [
        ("status", w.status),
        ("model", w.model),
        ("GPUs", f"{w.gpus:,} x {w.accelerator}"),
        ("wall clock", duration_text(w.wall_clock_s)),
        ("steps", f"{w.steps:,} / {w.steps_total:,}"),
        ("step time", f"{w.step_time_s:.3g} s"),
        ("tokens", format_count(w.tokens)),
        ("throughput", f"{format_count(w.tokens_per_s)} tokens/s"),
        ("MFU", f"{w.mfu:.1%}"),
        ("model TFLOP/s per GPU", f"{w.achieved_tflops_per_gpu:.0f}"),
        ("memory per GPU", f"{format_si(w.memory_per_gpu_bytes, 'B', binary=True)} of "
                           f"{format_si(w.memory.capacity_bytes, 'B', binary=True)}"),
        ("GPU-hours", f"{w.gpu_hours:,.1f}"),
        ("energy", f"{w.energy_kwh:,.1f} kWh"),
        ("cost", f"${w.cost_usd:,.2f}"),
        *_reliability_rows(w),
    ]


def _reliability_rows(w: TrainingReport) -> list[tuple[str, str]]:
    """Failures, checkpoints and queueing again, for a job that met any of them."""
    if not (w.interruptions or w.checkpoints or w.preemptions or w.requeues):
        return []
    causes = sorted(((n, cause) for cause, n in w.interruptions_by_cause.items() if n), reverse=True)[:3]
    rows = [("interruptions", f"{w.interruptions:,}" + (
                " (" + ", ".join(f"{cause} {n:,}" for n, cause in causes) + ")" if causes else "")),
            ("checkpoints", f"{w.checkpoints:,}" + (f" (skipped {w.checkpoints_skipped:,})"
                                                     if w.checkpoints_skipped else "")),
            ("lost GPU-hours", f"{w.lost_gpu_hours:,.0f}"),
            ("ETTR", f"{w.ettr:.1%}")]
    if w.preemptions or w.requeues:
        rows.append(("preempted / requeued", f"{w.preemptions:,} / {w.requeues:,}, "
                                             f"{duration_text(w.requeued_s)} waiting for GPUs again"))
    return rows


def latency_text(seconds: float | None) -> str:
    """A latency: milliseconds below a second, else a duration; '-' for none."""
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else duration_text(seconds)


def _latency(stats: LatencyReport) -> str:
    return f"{latency_text(stats.p50)} / {latency_text(stats.p90)} / {latency_text(stats.p99)}"


def usd_text(value: float | None) -> str:
    """Dollars with cents; '-' for none."""
    return "-" if value is None else f"${value:,.2f}"


def _serving_rows(w: InferenceReport) -> list[tuple[str, str]]:
    r = w.requests
    pools = f"{w.replicas} x TP{w.tp}" + (f" PP{w.pp}" if w.pp > 1 else "") + (
        f" (max {w.max_replicas})" if w.max_replicas != w.replicas else "")
    if w.decode_replicas:
        pools += f" prefill + {w.decode_replicas} decode"
    slo = "-" if w.slo_attainment is None else f"{w.slo_attainment:.1%}"
    return [
        ("status", w.status),
        ("model", w.model),
        ("replicas", f"{pools} = {w.gpus:,} x {w.accelerator}"),
        ("requests", f"{r.completed:,} completed of {r.total:,}"),
        ("failed / queued / in flight", f"{r.failed:,} / {r.queued_at_end:,} / {r.in_flight_at_end:,}"),
        ("retried / preempted", f"{r.retried:,} / {r.preemptions:,}"),
        ("TTFT p50 / p90 / p99", _latency(w.ttft_s)),
        ("TPOT p50 / p90 / p99", _latency(w.tpot_s)),
        ("end-to-end p50 / p90 / p99", _latency(w.e2e_s)),
        (f"SLO (TTFT {latency_text(w.slo.ttft_s)}, TPOT {latency_text(w.slo.tpot_s)})", slo),
        ("throughput", f"{format_count(w.throughput_tokens_per_s)} output, "
                       f"{format_count(w.input_tokens_per_s)} input tokens/s"),
        ("replica busy / KV cache used", f"{w.replica_busy_fraction:.1%} / {w.kv_cache_utilization:.1%}"),
        ("replica failures", f"{w.replica_failures:,}"),
        ("prefix cache hits", "-" if w.prefix_cache_hit_rate is None else f"{w.prefix_cache_hit_rate:.1%}"),
        ("GPU-hours", f"{w.gpu_hours:,.1f}"),
        ("cost", f"${w.cost_usd:,.2f}"),
        ("per million output / all tokens", f"{usd_text(w.usd_per_million_output_tokens)} / "
                                            f"{usd_text(w.usd_per_million_tokens)}"),
    ]


def rows_table(title: str, rows: list[dict[str, object]]) -> FittedTable:
    """A table of homogeneous rows (dicts with the same keys), the first key labelling them; None shows as '-'."""
    keys = list(rows[0]) if rows else [""]
    return FittedTable(title, keys[0], keys[1:], [(str(row[keys[0]]), ["-" if v is None else str(v) for v in
                                                                        list(row.values())[1:]]) for row in rows],
                       left={i for i, key in enumerate(keys[1:]) if not isinstance(rows[0][key], int | float)})


def comparison_table(comparison: Comparison) -> FittedTable:
    """Headline figures of each run side by side; beside each but the baseline's, the ratio to it in
    parentheses; then the training step breakdowns. Figures are grouped by their dotted prefix, and `--vary`
    fields named by their last part (the caption names them)."""
    labels, caption = short_fields([run.label for run in comparison.runs])
    rows = [(row[0], list(row[1:])) for row in comparison_figure_rows(comparison)]
    return FittedTable(f"comparison (ratio to {comparison.baseline})", "figure", labels, rows,
                       sections=True, caption=caption)


def comparison_figure_rows(comparison: Comparison) -> list[tuple[str, ...]]:
    """The comparison table's rows as text: each headline figure in its unit (ratios to the baseline beside),
    then each training workload's step breakdown."""
    rows = comparison_rows(comparison, format_figure)
    bottlenecks = [key for key in StepBreakdown.model_fields if key.endswith("_bottleneck")]
    for name, job in comparison.baseline_run().report.workloads.items():
        for key in [*job.step_breakdown.parts_s, *bottlenecks] if isinstance(job, TrainingReport) else []:
            rows.append((f"workloads.{name}.step.{key}", *(
                _breakdown(run.report, name, key) for run in comparison.runs
            )))
    return rows


def comparison_rows(comparison: Comparison, text: Callable[[str, float], str]) -> list[tuple[str, ...]]:
    """One row per headline figure: its key, then each run's value as `text(key, value)` writes it, beside each
    but the baseline run's the ratio to the baseline."""
    rows = []
    keys = dict.fromkeys(key for run in comparison.runs for key in comparison_keys(run.report))  # every run's tiers
    for key in keys:
        cells = [key]
        for run in comparison.runs:
            value = figure_value(run.report, key)
            ratio = run.ratios.get(key)
            shown = "-" if value is None else text(key, value)
            cells.append(shown if run.label == comparison.baseline or ratio is None else f"{shown} ({ratio:.2f}x)")
        rows.append(tuple(cells))
    return rows


def step_parts_text(breakdown: StepBreakdown) -> str:
    """The parts of a training step that take time, e.g. 'compute 20.1 s, cp comm 5.28 s, optimizer 12 ms'."""
    return ", ".join(f"{name.removesuffix('_s').replace('_', ' ')} {latency_text(seconds)}"
                     for name, seconds in breakdown.parts_s.items() if seconds > 0)


def _breakdown(report: Report, workload: str, key: str) -> str:
    job = report.workloads.get(workload)
    if not isinstance(job, TrainingReport):
        return "-"
    value = getattr(job.step_breakdown, key)
    return f"{value:.3g} s" if isinstance(value, float) else str(value)


def format_figure(key: str, value: float, precise: bool = False) -> str:
    """A headline figure in its unit, from the ending of its dotted name (more digits when `precise`)."""
    if key.endswith("per_s"):
        return f"{format_count(value)}/s"
    if key.split(".")[-1] in {"mean", "p50", "p90", "p99"}:
        return latency_text(value)
    if "usd_per_million" in key:
        return f"${value:,.3f}" if precise else f"${value:,.2f}"
    if key.endswith("attainment"):
        return f"{value:.2%}" if precise else f"{value:.1%}"
    if key.endswith("_s"):
        return duration_text(value)
    if key.endswith("usd"):
        return f"${value:,.2f}" if precise else f"${value:,.0f}"
    if key.endswith(("utilization", "mfu", "ettr")):
        return f"{value:.2%}" if precise else f"{value:.1%}"
    if key.endswith("kwh"):
        return f"{value:,.0f} kWh"
    if key.endswith("gpu_hours"):
        return f"{value:,.1f}"
    return f"{value:,.3g}" if precise else format_count(value)


def replicates_table(report: ReplicatesReport) -> Group:
    """Headline figures of `run --replicates`: mean +- 95 % CI half-width, std, min and max."""
    rows = []
    for path in report.headline:
        stats = report.figures.get(path)
        high = None if stats is None else stats.ci95_high
        half = "" if stats is None or high is None else f"± {format_figure(path, high - stats.mean, True)}"
        rows.append((path, ["-", "", "", "", ""] if stats is None else [
            format_figure(path, stats.mean, True), half,
            format_figure(path, stats.std, True), format_figure(path, stats.min, True),
            format_figure(path, stats.max, True)]))
    table = FittedTable(f"clustersim: {report.scenario}, {report.replicates:,} replicates (seeds from "
                        f"SeedSequence({report.seed}))", "figure", ["mean", "± 95 % CI", "std", "min", "max"], rows,
                        sections=True)
    lines = [
        "95 % CI: Student's t, mean ± t(0.975, n - 1) std / sqrt(n) (t = 2.365 for 8 replicates, 1.960 as n grows; "
        "none for one replicate); std is the sample standard deviation (n - 1). "
        f"All {len(report.figures):,} numeric figures are in the JSON (-o / --json).",
    ]
    for name in report.workloads:
        status = report.modes.get(f"workloads.{name}.status")
        if status is not None:
            lines.append(f"workloads.{name}.status: {status.mode} in {status.count:,} of {report.replicates:,}")
    lines.append(f"simulation wall time: {report.wall_s:.3f} s (summed over replicates)")
    return Group(table, *lines)
