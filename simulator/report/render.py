"""Render a Report for people: rich tables on the terminal. JSON is the report model's own dump."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from simulator.report.model import Report
from simulator.units import format_count, format_si


def _duration(seconds: float) -> str:
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
    head = Table(title=f"clustersim: {report.scenario} (seed {report.seed})", show_header=False)
    head.add_column(style="bold")
    head.add_column(justify="right")
    for label, value in [
        ("simulated time", _duration(report.simulated_s)),
        ("GPUs", f"{c.gpus:,}"),
        ("utilization (productive)", f"{c.utilization:.1%}"),
        ("allocation", f"{c.allocation:.1%}"),
        ("GPU-hours", f"{c.gpu_hours:,.1f}"),
        ("energy", f"{c.energy_kwh:,.1f} kWh"),
        ("cost", f"${c.cost_usd:,.2f} (rental ${c.rental_usd:,.2f} + energy ${c.energy_usd:,.2f})"),
        ("simulation wall time", f"{report.wall_s:.3f} s"),
    ]:
        head.add_row(label, value)
    jobs = Table(title="training workloads")
    jobs.add_column("", style="bold")
    for name in report.workloads:
        jobs.add_column(name, justify="right")
    rows: list[tuple[str, list[str]]] = [
        ("status", [w.status for w in report.workloads.values()]),
        ("model", [w.model for w in report.workloads.values()]),
        ("GPUs", [f"{w.gpus:,} x {w.accelerator}" for w in report.workloads.values()]),
        ("wall clock", [_duration(w.wall_clock_s) for w in report.workloads.values()]),
        ("steps", [f"{w.steps:,} / {w.steps_total:,}" for w in report.workloads.values()]),
        ("step time", [f"{w.step_time_s:.3g} s" for w in report.workloads.values()]),
        ("tokens", [format_count(w.tokens) for w in report.workloads.values()]),
        ("throughput", [f"{format_count(w.tokens_per_s)} tokens/s" for w in report.workloads.values()]),
        ("MFU", [f"{w.mfu:.1%}" for w in report.workloads.values()]),
        ("model TFLOP/s per GPU", [f"{w.achieved_tflops_per_gpu:.0f}" for w in report.workloads.values()]),
        ("memory per GPU", [
            f"{format_si(w.memory_per_gpu_bytes, 'B', binary=True)} of "
            f"{format_si(w.memory.capacity_bytes, 'B', binary=True)}" for w in report.workloads.values()
        ]),
        ("GPU-hours", [f"{w.gpu_hours:,.1f}" for w in report.workloads.values()]),
        ("energy", [f"{w.energy_kwh:,.1f} kWh" for w in report.workloads.values()]),
        ("cost", [f"${w.cost_usd:,.2f}" for w in report.workloads.values()]),
    ]
    for label, values in rows:
        jobs.add_row(label, *values)
    parts: list[Table | str] = [head, jobs]
    parts += [f"note: {n}" for n in report.notes]
    return Group(*parts)


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
