"""Render the analytic tools' outputs for people as rich tables: network structure (`clustersim topology`),
scaling-law plans, reproductions of published runs, ranked layouts and lifetime cost."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from simulator.report.terminal import FittedTable, fitted
from simulator.report.text import duration_text, pairs_table
from simulator.report.tools import (
    LayoutReport,
    LifetimeReport,
    PlanReport,
    ReproductionReport,
    ServingReproductionReport,
    TopologyReport,
)
from simulator.units import format_count, format_si


def topology_tables(report: TopologyReport) -> Group:
    """Structure of the network, then bus bandwidth by operation, scope and size."""
    head = pairs_table(f"topology of {report.scenario}: {report.kind}", [
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
    return Group(head, fitted(table))


def reproduction_tables(report: ReproductionReport) -> Group:
    """Predicted against published throughput, one row per run, then the time estimate."""
    table = Table(title="training throughput: predicted vs published (TFLOP/s per GPU)")
    for column in ("case", "GPUs", "layout", "metric", "published", "predicted", "error", "memory/GPU"):
        table.add_column(column, justify="left" if column in {"case", "layout", "metric"} else "right")
    for run in report.runs:
        memory = format_si(run.memory_per_gpu_bytes, "B", binary=True) + ("" if run.fits else " (over)")
        predicted = "refused" if run.predicted_tflops_per_gpu is None else f"{run.predicted_tflops_per_gpu:.0f}"
        error = "-" if run.error is None else f"{run.error:+.1%}"
        table.add_row(run.id + (" (held out)" if run.held_out else ""), f"{run.gpus:,}", run.layout, run.metric,
                      f"{run.published_tflops_per_gpu:.0f}", predicted, error, memory)
    estimate = report.time_estimate
    lines = [f"shared reference runs: median |error| {report.median_abs_error:.1%}, worst {report.max_abs_error:.1%}"]
    if report.held_out_median_abs_error is not None and report.held_out_max_abs_error is not None:
        lines.append(f"held-out runs: median |error| {report.held_out_median_abs_error:.1%}, worst "
                     f"{report.held_out_max_abs_error:.1%}")
    if report.refused:
        lines.append(f"refused (the memory model says the published layout does not fit): {', '.join(report.refused)}")
    shipped = Table(title="shipped scenarios against their runs' published figures (failure-free)")
    for column in ("scenario", "metric", "published", "predicted", "error", "source"):
        shipped.add_column(column, justify="right" if column in {"published", "predicted", "error"} else "left")
    for row in report.scenarios:
        shipped.add_row(row.scenario, row.metric, f"{row.published:,.4g}", f"{row.predicted:,.4g}", f"{row.error:+.1%}",
                        row.source)
    lines += [
        f"{estimate.id}: {estimate.computed_days:.1f} days computed vs {estimate.published_days:.0f} published "
        f"({estimate.error:+.1%})",
        *dict.fromkeys(f"assumed for {run.source.split(',')[0]}: {run.assumed}" for run in report.runs if run.assumed),
    ]
    return Group(fitted(table), *lines, *([fitted(shipped)] if report.scenarios else []))


def plan_tables(report: PlanReport) -> Group:
    """The inputs of a scaling-law plan, then one column per law: size, compute, GPUs, days, cost."""
    given = {
        "compute": f"{report.compute_flops or 0:.3g} FLOPs",
        "params": f"{format_count(report.params_given or 0)} parameters",
        "budget": f"${report.budget_usd or 0:,.0f} ({report.budget_gpus or 0:,} GPUs, "
                  f"{report.compute_flops or 0:.3g} FLOPs)",
    }[report.given]
    price = "-" if report.gpu_hour_usd is None else f"${report.gpu_hour_usd:g}/GPU-hour"
    head = pairs_table("clustersim plan: compute-optimal training", [
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
        ("MFU", [_planned(r.mfu, "{:.1%}") for r in rows]),
        ("MFU searched on", [_planned(r.mfu_gpus, "{:,} GPUs") for r in rows]),
        ("fewest GPUs that fit", [_planned(r.fewest_gpus, "{:,}") for r in rows]),
        ("GPUs", [_planned(r.gpus, "{:,}") for r in rows]),
        ("training time", ["-" if r.days is None else duration_text(r.days * 86400) for r in rows]),
        ("GPU-hours", [_planned(r.gpu_hours, "{:,.0f}") for r in rows]),
        ("cost", [_planned(r.cost_usd, "${:,.0f}") for r in rows]),
    ]
    if any(r.reason is not None for r in rows):
        figures.append(("not planned", [r.reason or "" for r in rows]))
    for label, values in figures:
        table.add_row(label, *values)
    parts: list[Table | FittedTable | str] = [head, fitted(table)]
    parts += [f"{r.title}: {r.rule}; {r.source}" for r in rows]
    parts += [f"note: {n}" for n in report.notes]
    return Group(*parts)


def _planned(value: float | None, form: str) -> str:
    """`value` in `form`, or '-' where the law has none (not planned, no price, or not estimated)."""
    return "-" if value is None else form.format(value)


def layout_table(report: LayoutReport) -> Group:
    """The ranked layouts of `clustersim plan-layout`."""
    table = Table(title=f"fastest layouts for {report.workload} ({report.model}) on {report.gpus:,} GPUs")
    columns = ("#", "TP", "CP", "PP", "schedule", "DP", "EP", "mbs", "recompute", "ZeRO", "step", "TFLOP/s/GPU", "MFU",
               "memory/GPU", "days", "cost")
    for column in columns:
        table.add_column(column, justify="left" if column in {"recompute", "schedule"} else "right")
    for r in report.layouts:
        schedule = r.schedule + (f" x{r.virtual_stages}" if r.virtual_stages > 1 else "")
        table.add_row(str(r.rank), str(r.tp), str(r.cp), str(r.pp), schedule, str(r.dp), str(r.ep),
                      str(r.micro_batch_size), r.activation_recompute, str(r.zero_stage), f"{r.step_time_s:.3g} s",
                      f"{r.tflops_per_gpu:.0f}", f"{r.mfu:.1%}", format_si(r.memory_per_gpu_bytes, "B", binary=True),
                      f"{r.days:.1f}", f"${r.cost_usd:,.0f}")
    summary = (f"{report.enumerated:,} layouts enumerated, {report.fitting:,} fit in memory, {report.evaluated} "
               f"priced on the network; {report.wall_s:.1f} s")
    return Group(fitted(table), summary)


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
    return Group(fitted(table), *notes)


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
    # both lines quote table rows; the compute-optimal size is a row unless it cannot be served
    compute_optimal = ("compute-optimal (Chinchilla approach 3)" if chin.params == report.chinchilla_params else
                       f"nearest size served to the compute-optimal {format_count(report.chinchilla_params)} "
                       f"(Chinchilla approach 3)")
    lines = [
        f"cheapest: {format_count(best.params)} parameters on {format_count(best.tokens)} tokens "
        f"({best.tokens_per_param:,.0f} per parameter): ${best.total_usd / 1e6:,.2f}M = "
        f"${best.training_usd / 1e6:,.2f}M training + ${best.serving_usd / 1e6:,.2f}M serving",
        f"{compute_optimal}: {format_count(chin.params)} on {format_count(chin.tokens)} tokens: "
        f"${chin.total_usd / 1e6:,.2f}M ({chin.total_usd / best.total_usd:.2f}x the cheapest)",
        f"{report.accelerator} at ${report.gpu_hour_usd:g}/GPU-hour ({report.price_source}); training MFU "
        f"{report.mfu:.1%} ({report.mfu_source})",
        *report.notes,
    ]
    return Group(fitted(table), *lines)
