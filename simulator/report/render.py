"""Render a Report for people: rich tables on the terminal. JSON is the report model's own dump."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rich.console import Group, JustifyMethod
from rich.table import Table

from simulator.report.model import (
    BatchJobsReport,
    Comparison,
    CostBreakdown,
    InferenceReport,
    LatencyReport,
    LayoutReport,
    LifetimeReport,
    PlanReport,
    ReplicatesReport,
    Report,
    ReproductionReport,
    ServingReproductionReport,
    TopologyReport,
    TrainingReport,
    comparison_keys,
    figure_value,
)
from simulator.units import format_count, format_si


def duration_text(seconds: float) -> str:
    """Seconds as people read them: '12.3 s', '45.0 min', '10.26 h', '54.00 d'."""
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.2f} d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.3g} s"


def report_tables(report: Report) -> Group:
    """A cluster summary and one row per workload."""
    c = report.cluster
    head = _pairs_table(f"clustersim: {report.scenario} (seed {report.seed})", [
        ("simulated time", duration_text(report.simulated_s)),
        ("GPUs", f"{c.gpus:,}"),
        ("utilization (productive)", f"{c.utilization:.1%}"),
        ("allocation", f"{c.allocation:.1%}"),
        ("GPU-hours", f"{c.gpu_hours:,.1f}"),
        ("energy", f"{c.energy_kwh:,.1f} kWh (GPUs and servers {c.gpu_energy_kwh:,.1f}, network "
                   f"{c.network_energy_kwh:,.1f}), {c.carbon_tco2e:,.2f} tCO2e"),
        ("price", f"${c.gpu_hour_usd:,.2f} per GPU-hour ({c.price_source})"),
        ("cost", f"${c.cost_usd:,.2f} (GPU time ${c.rental_usd:,.2f} + energy ${c.energy_usd:,.2f})"),
        ("cost by use", _breakdown_text(c.cost_breakdown)),
        ("simulation wall time", f"{report.wall_s:.3f} s"),
    ])
    parts: list[Table | str] = [head]
    training = {n: w for n, w in report.workloads.items() if isinstance(w, TrainingReport)}
    serving = {n: w for n, w in report.workloads.items() if isinstance(w, InferenceReport)}
    if training:
        parts.append(_columns_table("training workloads", training, _training_rows))
    if serving:
        parts.append(_columns_table("inference workloads", serving, _serving_rows))
    if report.jobs is not None:
        parts.append(_pairs_table("batch jobs", jobs_rows(report.jobs)))
    if len(report.tenants) > 1 or any(t.quota_gpus for t in report.tenants.values()):
        columns, rows = tenant_table(report)
        parts.append(rows_table("tenants", [dict(zip(columns, row, strict=True)) for row in rows]))
    parts += [f"note: {n}" for n in report.notes]
    return Group(*parts)


def _pairs_table(title: str, rows: list[tuple[str, str]], justify: JustifyMethod = "right") -> Table:
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify=justify)
    for label, value in rows:
        table.add_row(label, value)
    return table


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


W = TypeVar("W", TrainingReport, InferenceReport)


def _breakdown_text(b: CostBreakdown) -> str:
    return (f"useful ${b.useful_usd:,.0f}, checkpoints ${b.checkpoint_usd:,.0f}, failures ${b.failure_usd:,.0f}, "
            f"idle ${b.idle_usd:,.0f}, energy ${b.energy_usd:,.0f}")


def _columns_table(title: str, workloads: dict[str, W], rows: Callable[[W], list[tuple[str, str]]]) -> Table:
    """One column per workload, one row per figure."""
    table = Table(title=title)
    table.add_column("", style="bold")
    for name in workloads:
        table.add_column(name, justify="right")
    columns = [rows(w) for w in workloads.values()]
    for index, (label, _) in enumerate(columns[0]):
        table.add_row(label, *(column[index][1] for column in columns))
    return table


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


def rows_table(title: str, rows: list[dict[str, object]]) -> Table:
    """A table of homogeneous rows (dicts with the same keys); None shows as '-'."""
    table = Table(title=title)
    if not rows:
        return table
    for key in rows[0]:
        table.add_column(key, justify="right" if isinstance(rows[0][key], int | float) else "left")
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row.values()))
    return table


def topology_tables(report: TopologyReport) -> Group:
    """Structure of the network, then bus bandwidth by operation, scope and size."""
    head = _pairs_table(f"topology of {report.scenario}: {report.kind}", [
        ("GPUs", f"{report.gpus:,} (unit of {report.unit_gpus:,})"),
        ("parts", ", ".join(f"{n:,} {role}" for role, n in report.parts.items())),
        ("links", ", ".join(f"{n:,} {kind}" for kind, n in report.links.items())),
        ("bisection bandwidth", f"{report.bisection_bandwidth_bytes_per_s / 1e12:,.2f} TB/s"),
        ("diameter", f"{report.diameter_hops} hops"),
        ("oversubscription", " / ".join(f"{o:g}:1" for o in report.oversubscription) or "-"),
        *((key, str(value)) for key, value in report.details.items()),
    ], justify="left")
    table = Table(title="bus bandwidth (GB/s, NCCL-tests convention)")
    for column in ("op", "scope", "GPUs", "size", "time", "bus GB/s", "algorithm", "bottleneck"):
        table.add_column(column, justify="right" if column in {"GPUs", "time", "bus GB/s"} else "left")
    for row in report.bus_bandwidth:
        table.add_row(row.op, row.scope, f"{row.gpus:,}", format_si(row.size_bytes, "B", binary=True),
                      f"{row.time_s * 1e3:.3g} ms", f"{row.bus_bandwidth_gb_per_s:,.1f}", row.algorithm,
                      row.bottleneck)
    return Group(head, table)


def comparison_table(comparison: Comparison) -> Table:
    """Headline figures of each run side by side; after the first, the ratio to it in parentheses."""
    table = Table(title="comparison (ratio to the first column)")
    table.add_column("figure", style="bold")
    for run in comparison.runs:
        table.add_column(run.label, justify="right")
    first = comparison.runs[0].report
    for key in comparison_keys(first):
        cells = []
        for index, run in enumerate(comparison.runs):
            value = figure_value(run.report, key)
            ratio = run.ratios.get(key)
            text = "-" if value is None else _format_figure(key, value)
            cells.append(text if index == 0 or ratio is None else f"{text} ({ratio:.2f}x)")
        table.add_row(key, *cells)
    for name in (n for n, w in first.workloads.items() if isinstance(w, TrainingReport)):
        for key in ("compute_s", "tp_comm_s", "ep_comm_s", "dp_exposed_s", "tp_bottleneck", "ep_bottleneck",
                    "dp_bottleneck"):
            table.add_row(f"workloads.{name}.step.{key}", *(
                _breakdown(run.report, name, key) for run in comparison.runs
            ))
    return table


def _breakdown(report: Report, workload: str, key: str) -> str:
    job = report.workloads.get(workload)
    if not isinstance(job, TrainingReport):
        return "-"
    value = getattr(job.step_breakdown, key)
    return f"{value:.3g} s" if isinstance(value, float) else str(value)


def _format_figure(key: str, value: float, precise: bool = False) -> str:
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


def reproduction_tables(report: ReproductionReport) -> Group:
    """Predicted against published throughput, one row per run, then the time estimate."""
    table = Table(title="training throughput: predicted vs published (TFLOP/s per GPU)")
    for column in ("case", "GPUs", "layout", "metric", "published", "predicted", "error", "memory/GPU"):
        table.add_column(column, justify="left" if column in {"case", "layout", "metric"} else "right")
    for run in report.runs:
        memory = format_si(run.memory_per_gpu_bytes, "B", binary=True) + ("" if run.fits else " (over)")
        table.add_row(run.id, f"{run.gpus:,}", run.layout, run.metric, f"{run.published_tflops_per_gpu:.0f}",
                      f"{run.predicted_tflops_per_gpu:.0f}", f"{run.error:+.1%}", memory)
    estimate = report.time_estimate
    lines = [
        f"median |error| {report.median_abs_error:.1%}, worst {report.max_abs_error:.1%}",
        f"{estimate.id}: {estimate.computed_days:.1f} days computed vs {estimate.published_days:.0f} published "
        f"({estimate.error:+.1%})",
        *dict.fromkeys(f"assumed for {run.source.split(',')[0]}: {run.assumed}" for run in report.runs if run.assumed),
    ]
    return Group(table, *lines)


def plan_tables(report: PlanReport) -> Group:
    """The inputs of a scaling-law plan, then one column per law: size, compute, GPUs, days, cost."""
    given = {
        "compute": f"{report.compute_flops or 0:.3g} FLOPs",
        "params": f"{format_count(report.params_given or 0)} parameters",
        "budget": f"${report.budget_usd or 0:,.0f} ({report.budget_gpus or 0:,} GPUs, "
                  f"{report.compute_flops or 0:.3g} FLOPs)",
    }[report.given]
    price = "-" if report.gpu_hour_usd is None else f"${report.gpu_hour_usd:g}/GPU-hour"
    head = _pairs_table("clustersim plan: compute-optimal training", [
        ("planned from", given),
        ("accelerator", f"{report.accelerator} ({report.peak_bf16_flops_per_s / 1e12:,.0f} TFLOP/s dense BF16)"),
        ("price", f"{price} ({report.price_source})"),
        ("sized for", f"{report.gpus_given:,} GPUs" if report.gpus_given is not None
         else f"{report.target_days or 0:g} days"),
        ("MFU", report.mfu_source),
    ], justify="left")
    table = Table(title="per scaling law (C = 6 N D)")
    table.add_column("", style="bold")
    rows = list(report.laws.values())
    for row in rows:
        table.add_column(row.title, justify="right")
    figures: list[tuple[str, list[str]]] = [
        ("parameters N", [format_count(r.params) for r in rows]),
        ("tokens D", [format_count(r.tokens) for r in rows]),
        ("tokens per parameter", [f"{r.tokens_per_param:.3g}" for r in rows]),
        ("compute C", [f"{r.flops:.3g} FLOPs" for r in rows]),
        ("Gopher units", [f"{r.gopher_units:,.4g}" for r in rows]),
        ("Chinchilla loss", [f"{r.chinchilla_loss_nats:.3f} nats" for r in rows]),
        ("MFU", [f"{r.mfu:.1%}" for r in rows]),
        ("GPUs", [f"{r.gpus:,}" for r in rows]),
        ("training time", [duration_text(r.days * 86400) for r in rows]),
        ("GPU-hours", [f"{r.gpu_hours:,.0f}" for r in rows]),
        ("cost", ["-" if r.cost_usd is None else f"${r.cost_usd:,.0f}" for r in rows]),
    ]
    for label, values in figures:
        table.add_row(label, *values)
    parts: list[Table | str] = [head, table]
    parts += [f"{r.title}: {r.rule}; {r.source}" for r in rows]
    parts += [f"note: {n}" for n in report.notes]
    return Group(*parts)


def layout_table(report: LayoutReport) -> Group:
    """The ranked layouts of `clustersim plan-layout`."""
    table = Table(title=f"fastest layouts for {report.workload} ({report.model}) on {report.gpus:,} GPUs")
    columns = ("#", "TP", "CP", "PP", "v", "DP", "EP", "mbs", "recompute", "ZeRO", "step", "TFLOP/s/GPU", "MFU",
               "memory/GPU", "days", "cost")
    for column in columns:
        table.add_column(column, justify="left" if column == "recompute" else "right")
    for r in report.layouts:
        table.add_row(str(r.rank), str(r.tp), str(r.cp), str(r.pp), str(r.virtual_stages), str(r.dp), str(r.ep),
                      str(r.micro_batch_size), r.activation_recompute, str(r.zero_stage), f"{r.step_time_s:.3g} s",
                      f"{r.tflops_per_gpu:.0f}", f"{r.mfu:.1%}", format_si(r.memory_per_gpu_bytes, "B", binary=True),
                      f"{r.days:.1f}", f"${r.cost_usd:,.0f}")
    summary = (f"{report.enumerated:,} layouts enumerated, {report.fitting:,} fit in memory, {report.evaluated} "
               f"priced on the network; {report.wall_s:.1f} s")
    return Group(table, summary)


# `run --replicates` (simulator/experiments/montecarlo.py), imported here to keep this section self-contained.


def replicates_table(report: ReplicatesReport) -> Group:
    """Headline figures of `run --replicates`: mean +- 95 % CI half-width, std, min and max."""
    table = Table(title=f"clustersim: {report.scenario}, {report.replicates:,} replicates "
                        f"(seeds from SeedSequence({report.seed}))")
    for column in ("figure", "mean", "± 95% CI", "std", "min", "max"):
        table.add_column(column, justify="left" if column == "figure" else "right", style="bold" * (column == "figure"))
    for path in report.headline:
        stats = report.figures.get(path)
        if stats is None:
            table.add_row(path, "-", "", "", "", "")
            continue
        half = (stats.ci95_high - stats.ci95_low) / 2
        table.add_row(path, _format_figure(path, stats.mean, True), f"± {_format_figure(path, half, True)}",
                      _format_figure(path, stats.std, True), _format_figure(path, stats.min, True),
                      _format_figure(path, stats.max, True))
    lines = [
        "95% CI: normal approximation, mean ± 1.96 std / sqrt(n); std is the sample standard deviation (n - 1). "
        f"All {len(report.figures):,} numeric figures are in the JSON (-o / --json).",
    ]
    for name in report.workloads:
        status = report.modes.get(f"workloads.{name}.status")
        if status is not None:
            lines.append(f"workloads.{name}.status: {status.mode} in {status.count:,} of {report.replicates:,}")
    lines.append(f"simulation wall time: {report.wall_s:.3f} s (summed over replicates)")
    return Group(table, *lines)


def serving_reproduction_table(report: ServingReproductionReport) -> Group:
    """Predicted against published offline serving throughput."""
    table = Table(title="offline serving throughput: predicted vs published (output tokens/s)")
    for column in ("case", "in", "out", "published", "predicted", "error", "sequences", "limited by", "iteration"):
        table.add_column(column, justify="left" if column in {"case", "limited by"} else "right")
    for run in report.runs:
        table.add_row(run.id, str(run.input_tokens), str(run.output_tokens), f"{run.published_tokens_per_s:,.0f}",
                      f"{run.predicted_tokens_per_s:,.0f}", f"{run.error:+.1%}", f"{run.concurrency:,}",
                      run.limited_by, f"{run.iteration_s * 1e3:.1f} ms")
    notes = [f"median |error| {report.median_abs_error:.1%}, worst {report.max_abs_error:.1%}",
             "assumed: " + ", ".join(f"{k} {v}" for k, v in report.assumptions.items())]
    return Group(table, *notes)


def lifetime_tables(report: LifetimeReport) -> Group:
    """Training plus lifetime serving cost by model size, the cheapest and the compute-optimal marked."""
    table = Table(title=(f"train once, serve {format_count(report.tokens_per_day)} tokens/day for "
                         f"{report.days / 365.25:g} years, at the quality of {report.compute_flops:.3g} FLOPs "
                         f"(loss {report.target_loss_nats:.3f} nats/token)"))
    for column in ("", "params", "tokens", "tokens/param", "training", "serving layout", "$/M tokens", "serving",
                   "total"):
        table.add_column(column, justify="left" if column in {"", "serving layout"} else "right")
    for index, row in enumerate(report.rows):
        mark = " ".join(m for m, i in (("cheapest", report.optimal_index),
                                       ("compute-optimal", report.chinchilla_index)) if i == index)
        table.add_row(mark, format_count(row.params), format_count(row.tokens), f"{row.tokens_per_param:,.0f}",
                      f"${row.training_usd / 1e6:,.2f}M", f"TP{row.serving_tp}" + (
                          f" PP{row.serving_pp}" if row.serving_pp > 1 else ""),
                      f"${row.usd_per_million_tokens:.3f}", f"${row.serving_usd / 1e6:,.2f}M",
                      f"${row.total_usd / 1e6:,.2f}M")
    best, chin = report.rows[report.optimal_index], report.rows[report.chinchilla_index]
    lines = [
        f"cheapest: {format_count(best.params)} parameters on {format_count(best.tokens)} tokens "
        f"({best.tokens_per_param:,.0f} per parameter): ${best.total_usd / 1e6:,.2f}M = "
        f"${best.training_usd / 1e6:,.2f}M training + ${best.serving_usd / 1e6:,.2f}M serving",
        f"compute-optimal (Chinchilla approach 3): {format_count(report.chinchilla_params)} on "
        f"{format_count(report.chinchilla_tokens)} tokens: ${chin.total_usd / 1e6:,.2f}M "
        f"({chin.total_usd / best.total_usd:.2f}x the cheapest)",
        f"{report.accelerator} at ${report.gpu_hour_usd:g}/GPU-hour ({report.price_source}); training MFU "
        f"{report.mfu:.1%} ({report.mfu_source})",
        *report.notes,
    ]
    return Group(table, *lines)
