"""Render reports as one self-contained HTML file: summary tables and matplotlib plots embedded as inline SVG
(no network needed to view it). `clustersim run S --html F` and `clustersim compare ... --html F`."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: render to SVG only
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from simulator.report.experiments import Comparison
from simulator.report.model import CostBreakdown, InferenceReport, Report, TrainingReport
from simulator.report.render import (
    comparison_rows,
    duration_text,
    jobs_rows,
    latency_text,
    step_parts_text,
    tenant_table,
    usd_text,
)
from simulator.units import format_count

COST_PARTS = (("useful_usd", "useful work", "#2b8a3e"), ("checkpoint_usd", "checkpoints", "#f59f00"),
              ("failure_usd", "failures", "#e03131"), ("idle_usd", "idle", "#adb5bd"),
              ("energy_usd", "energy", "#1c7ed6"))
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #212529; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #dee2e6; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
td, th { border: 1px solid #dee2e6; padding: 0.25em 0.6em; text-align: right; }
th { background: #f1f3f5; } td:first-child, th:first-child { text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; } .plot { flex: 0 1 48%; min-width: 480px; }
.wide { flex: 1 1 100%; } .plot svg, .wide svg { width: 100%; height: auto; }
.note { color: #495057; font-size: 0.9em; }
"""


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.tight_layout()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog: the SVG sits inline in HTML


def _days_or_hours(seconds: Sequence[float]) -> tuple[list[float], str]:
    span = max(seconds) if seconds else 0.0
    if span >= 2 * 86400:
        return [t / 86400 for t in seconds], "days"
    if span >= 2 * 3600:
        return [t / 3600 for t in seconds], "hours"
    return [t / 60 for t in seconds], "minutes"


def _table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...] | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _usd_tick(value: float, _: object) -> str:
    return f"${format_count(value)}"


def _cluster_plot(report: Report) -> str:
    s = report.series
    x, unit = _days_or_hours(s.time_s)
    figure, axis = plt.subplots(figsize=(7, 3.2))
    axis.step(x, s.allocated_gpus, where="post", label="allocated GPUs", color="#1c7ed6")
    axis.step(x, s.busy_gpus, where="post", label="computing GPUs", color="#2b8a3e", linewidth=0.8)
    axis.axhline(report.cluster.gpus, color="#868e96", linestyle=":", label=f"cluster ({report.cluster.gpus:,})")
    axis.set_xlabel(f"simulated time ({unit})")
    axis.set_ylabel("GPUs")
    axis.set_ylim(0, report.cluster.gpus * 1.08)
    down = axis.twinx()  # failed nodes are few next to the cluster: their own scale
    down.step(x, s.down_gpus, where="post", label="GPUs on failed nodes (right)", color="#e03131", linewidth=0.8)
    if max(s.waiting_workloads, default=0.0) > 0:
        down.step(x, s.waiting_workloads, where="post", label="workloads queued (right)", color="#f59f00",
                  linewidth=0.8)
    down.set_ylabel("failed-node GPUs, queued workloads")
    down.set_ylim(0, max(8.0, 1.5 * max([*s.down_gpus, *s.waiting_workloads], default=0.0)))
    axis.set_title("Cluster use, failed nodes and queue over time")
    (handles, labels), (more, names) = axis.get_legend_handles_labels(), down.get_legend_handles_labels()
    axis.legend(handles + more, labels + names, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8,
                frameon=False)
    return _svg(figure)


def _link_plot(report: Report) -> str:
    """Mean load of each network tier by the training traffic over time (steps at each job start and stop)."""
    s = report.series
    x, unit = _days_or_hours([*s.link_time_s, report.simulated_s])
    figure, axis = plt.subplots(figsize=(7, 3.2))
    for tier, load in s.link_load.items():
        axis.step(x, [*load, load[-1]], where="post", label=tier)
    axis.set_xlabel(f"simulated time ({unit})")
    axis.set_ylabel("mean channel utilization")
    axis.set_ylim(0, 1.05)
    axis.set_title("Network load by tier (training traffic)")
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=8, frameon=False)
    return _svg(figure)


def _progress_plot(report: Report) -> str:
    s = report.series
    x, unit = _days_or_hours(s.time_s)
    scale = x[-1] / s.time_s[-1] if s.time_s and s.time_s[-1] else 1.0
    rows = [(name, e) for name, series in s.workloads.items() for e in ("checkpoint", "failure")
            if any(event.kind == e for event in series.events)]
    if rows:
        figure, (axis, marks) = plt.subplots(2, 1, figsize=(7, 3.6 + 0.25 * len(rows)), sharex=True,
                                             gridspec_kw={"height_ratios": [3, len(rows) * 0.5]})
    else:
        figure, axis = plt.subplots(figsize=(7, 3.2))
        marks = axis
    for name, series in s.workloads.items():
        axis.plot(x, [100 * p for p in series.progress], label=name)
    axis.set_ylabel("work done (%)")
    axis.set_ylim(0, 102)
    axis.set_title("Workload progress" + (", with failures and checkpoints below" if rows else ""))
    axis.legend(loc="upper left", fontsize=8)
    for row, (name, kind) in enumerate(rows):
        times = [e.time_s * scale for e in s.workloads[name].events if e.kind == kind]
        marks.eventplot(times, lineoffsets=row, linelengths=0.8, linewidths=0.6,
                        colors="#e03131" if kind == "failure" else "#f59f00")
    if rows:
        marks.set_yticks(range(len(rows)), [f"{name}: {kind}s" for name, kind in rows], fontsize=7)
        marks.set_ylim(-0.6, len(rows) - 0.4)
    marks.set_xlabel(f"simulated time ({unit})")
    return _svg(figure)


def _cost_plot(report: Report) -> str:
    parts: list[tuple[str, CostBreakdown]] = [("cluster", report.cluster.cost_breakdown)]
    parts += [(name, w.cost_breakdown) for name, w in report.workloads.items()]
    figure, axis = plt.subplots(figsize=(7, 0.6 + 0.55 * len(parts)))
    labels = [name for name, _ in parts]
    left = [0.0] * len(parts)
    for key, label, color in COST_PARTS:
        widths = [getattr(b, key) for _, b in parts]
        axis.barh(labels, widths, left=left, label=label, color=color)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axis.invert_yaxis()
    axis.xaxis.set_major_formatter(FuncFormatter(_usd_tick))
    axis.set_title("Where the money went")
    axis.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    return _svg(figure)


def _energy_plot(report: Report) -> str:
    c = report.cluster
    figure, axis = plt.subplots(figsize=(7, 2.2))
    axis.barh(["energy"], [c.gpu_energy_kwh], color="#2b8a3e", label="GPUs and servers")
    axis.barh(["energy"], [c.network_energy_kwh], left=[c.gpu_energy_kwh], color="#845ef7", label="network")
    axis.set_xlabel("kWh at the meter (PUE included)")
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: format_count(value)))
    axis.set_title(f"Energy: {c.energy_kwh:,.0f} kWh, {c.carbon_tco2e:,.1f} tCO2e")
    axis.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    return _svg(figure)


def _tenant_plot(report: Report) -> str:
    s = report.series
    x, unit = _days_or_hours(s.time_s)
    figure, axis = plt.subplots(figsize=(11, 3.4))
    names = list(s.tenant_gpus)
    axis.stackplot(x, *[s.tenant_gpus[n] for n in names], labels=names, step="post", alpha=0.85)
    axis.set_ylim(0, report.cluster.gpus * 1.05)
    axis.set_ylabel("GPUs held")
    axis.set_xlabel(f"simulated time ({unit})")
    fragments = axis.twinx()
    fragments.plot(x, [100 * f for f in s.fragmentation], color="#212529", linewidth=0.8, linestyle="--",
                   label="fragmentation (right)")
    fragments.set_ylim(0, 100)
    fragments.set_ylabel("free GPUs on partly used nodes (%)")
    axis.set_title("GPUs by tenant over time, and fragmentation")
    (handles, labels), (more, names_) = axis.get_legend_handles_labels(), fragments.get_legend_handles_labels()
    axis.legend(handles + more, labels + names_, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                ncol=min(6, len(labels) + 1), fontsize=8, frameon=False)
    return _svg(figure)


def _tenants_section(report: Report) -> str:
    columns, rows = tenant_table(report)
    parts = ["<h2>Tenants</h2>" + _table(rows, columns)]
    if report.jobs is not None:
        parts.append("<h2>Batch jobs</h2>" + _table(jobs_rows(report.jobs)))
    if report.series.tenant_gpus:
        parts.append(f'<div class="plots"><div class="wide">{_tenant_plot(report)}</div></div>')
    return "".join(parts)


def _serving_plots(report: Report, name: str, w: InferenceReport) -> tuple[str, str]:
    cdf = report.series.latency_cdf[name]
    series = report.series.workloads[name]
    figure, axes = plt.subplots(1, 3, figsize=(11, 3))
    for axis, key, title, slo in ((axes[0], "ttft_s", "TTFT", w.slo.ttft_s), (axes[1], "tpot_s", "TPOT", w.slo.tpot_s),
                                  (axes[2], "e2e_s", "end-to-end", None)):
        values = getattr(cdf, key)
        points = [(v * 1e3, p) for v, p in zip(values, cdf.probabilities, strict=True) if v is not None]
        if points:
            axis.plot([v for v, _ in points], [100 * p for _, p in points], color="#1c7ed6")
            positive = [v for v, _ in points if v > 0]
            if positive and max(positive) > 30 * min(positive):
                axis.set_xscale("log")  # a long tail (queueing behind a cold start) would squash the rest
        if slo is not None:
            axis.axvline(slo * 1e3, color="#e03131", linestyle="--", label="SLO")
            axis.legend(fontsize=8, loc="lower right")
        axis.set_xlabel(f"{title} (ms)")
        axis.set_ylabel("requests (%)")
        axis.set_title(f"{name}: {title} CDF")
    cdfs = _svg(figure)
    x, unit = _days_or_hours(report.series.time_s)
    figure, axis = plt.subplots(figsize=(7, 3))
    axis.step(x, series.queued, where="post", label="queued", color="#e03131")
    axis.step(x, series.running, where="post", label="in a batch", color="#2b8a3e")
    axis.set_xlabel(f"simulated time ({unit})")
    axis.set_ylabel("requests")
    axis.set_title(f"{name}: queue and batch over time")
    axis.legend(fontsize=8)
    return cdfs, _svg(figure)


def _workload_rows(name: str, w: TrainingReport | InferenceReport) -> list[tuple[str, str]]:
    if isinstance(w, TrainingReport):
        return [("status", w.status), ("model", f"{w.model} on {w.gpus:,} {w.accelerator}"),
                ("wall clock", duration_text(w.wall_clock_s)), ("steps", f"{w.steps:,} / {w.steps_total:,}"),
                ("step time", f"{latency_text(w.step_time_s)}: {step_parts_text(w.step_breakdown)}"),
                ("MFU", f"{w.mfu:.1%}"), ("ETTR", f"{w.ettr:.1%}"), ("interruptions", f"{w.interruptions:,}"),
                ("lost GPU-hours", f"{w.lost_gpu_hours:,.0f}"),
                ("preempted / requeued", f"{w.preemptions:,} / {w.requeues:,}"), ("cost", usd_text(w.cost_usd)),
                ("per million tokens trained", usd_text(w.cost_per_million_tokens_usd))]
    r = w.requests
    return [("status", w.status), ("model", f"{w.model}, {w.replicas} x TP{w.tp} on {w.gpus:,} {w.accelerator}"),
            ("requests", f"{r.completed:,} completed of {r.total:,} ({r.failed:,} failed, {r.retried:,} retried)"),
            ("TTFT p50 / p99", f"{latency_text(w.ttft_s.p50)} / {latency_text(w.ttft_s.p99)}"),
            ("TPOT p50 / p99", f"{latency_text(w.tpot_s.p50)} / {latency_text(w.tpot_s.p99)}"),
            ("SLO attainment", "-" if w.slo_attainment is None else f"{w.slo_attainment:.1%}"),
            ("throughput", f"{format_count(w.throughput_tokens_per_s)} output tokens/s"),
            ("cost", usd_text(w.cost_usd)), ("per million output tokens", usd_text(w.usd_per_million_output_tokens))]


def _report_body(report: Report) -> str:
    c = report.cluster
    summary = [("simulated time", duration_text(report.simulated_s)), ("GPUs", f"{c.gpus:,}"),
               ("utilization (productive)", f"{c.utilization:.1%}"), ("GPU-hours", f"{c.gpu_hours:,.0f}"),
               ("price", f"${c.gpu_hour_usd:,.2f} per GPU-hour ({c.price_source})"),
               ("cost", f"{usd_text(c.cost_usd)} (GPU time {usd_text(c.rental_usd)}, energy {usd_text(c.energy_usd)})"),
               ("energy", f"{c.energy_kwh:,.0f} kWh, {c.carbon_tco2e:,.1f} tCO2e"),
               ("node failures", f"{c.node_failures:,}")]
    plots = [_cluster_plot(report), _progress_plot(report), _cost_plot(report), _energy_plot(report)]
    if report.series.link_load:
        plots.append(_link_plot(report))
    parts = [f"<h2>Cluster</h2>{_table(summary)}",
             '<div class="plots">' + "".join(f'<div class="plot">{svg}</div>' for svg in plots) + "</div>"]
    if len(report.tenants) > 1 or report.jobs is not None:
        parts.append(_tenants_section(report))
    for name, w in report.workloads.items():
        parts.append(f"<h2>Workload {html.escape(name)} ({w.kind})</h2>{_table(_workload_rows(name, w))}")
        if isinstance(w, InferenceReport):
            cdfs, queue = _serving_plots(report, name, w)
            parts.append(f'<div class="plots"><div class="wide">{cdfs}</div><div class="plot">{queue}</div></div>')
    if report.notes:
        parts.append("<h2>Notes</h2>" + "".join(f'<p class="note">{html.escape(n)}</p>' for n in report.notes))
    return "".join(parts)


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>\n")


def report_html(report: Report) -> str:
    """One run as a self-contained HTML page."""
    return _page(f"clustersim: {report.scenario} (seed {report.seed})", _report_body(report) + (
        f'<p class="note">clustersim {html.escape(report.clustersim_version)}; simulation wall time '
        f"{report.wall_s:.3f} s. Plots sample the run at most 512 times.</p>"))


def _comparison_table(comparison: Comparison) -> str:
    """Headline figures of every run, with the ratio to the first run."""
    rows = comparison_rows(comparison, lambda _, value: f"{value:,.4g}")
    return _table(rows, ("figure", *(run.label for run in comparison.runs)))


def comparison_html(comparison: Comparison) -> str:
    """Several runs: their headline figures side by side as bars, then each run's own page body."""
    labels = [run.label for run in comparison.runs]
    figure, axes = plt.subplots(1, 3, figsize=(12, 0.8 + 0.5 * len(labels)))
    for axis, title, values in (
        (axes[0], "cost (USD)", [run.report.cluster.cost_usd for run in comparison.runs]),
        (axes[1], "simulated time (days)", [run.report.simulated_s / 86400 for run in comparison.runs]),
        (axes[2], "utilization (%)", [100 * run.report.cluster.utilization for run in comparison.runs]),
    ):
        axis.barh(labels, values, color="#1c7ed6")
        axis.invert_yaxis()
        axis.set_title(title)
    axes[1].set_yticklabels([])
    axes[2].set_yticklabels([])
    body = f'<div class="plots"><div class="wide">{_svg(figure)}</div></div>' + _comparison_table(comparison)
    body += "".join(f"<h2>{html.escape(run.label)}</h2>{_report_body(run.report)}" for run in comparison.runs)
    return _page("clustersim: comparison", body)
