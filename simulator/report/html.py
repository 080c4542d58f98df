"""Render reports as one self-contained HTML page: summary tables as text and interactive plotly.js figures
(zoom, pan, hover with units), plotly.js inlined so the page needs no network. `clustersim run S --html F` and
`clustersim compare ... --html F`."""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from itertools import count
from typing import Any

from simulator.report.experiments import Comparison
from simulator.report.figures import figure_value
from simulator.report.interactive import Figure, figure, figure_div, page, time_axis
from simulator.report.model import InferenceReport, Report, TrainingReport
from simulator.report.plots import (
    cluster_figure,
    cost_figure,
    energy_figure,
    jobs_figure,
    link_figure,
    power_figure,
    progress_figure,
    tenant_figure,
)
from simulator.report.plots_serving import serving_figures
from simulator.report.render import (
    NOT_SET,
    carbon_text,
    comparison_figure_rows,
    energy_cost_text,
    format_figure,
    jobs_rows,
    latency_text,
    pool_rows,
    site_power_text,
    step_parts_text,
    tenant_table,
    usd_text,
)
from simulator.report.text import duration_text
from simulator.units import format_count

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1280px; color: #212529; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #dee2e6; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
td, th { border: 1px solid #dee2e6; padding: 0.25em 0.6em; text-align: right; }
th { background: #f1f3f5; } td:first-child, th:first-child { text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; } .plot { flex: 0 0 calc(50% - 0.5em); min-width: 480px; }
.wide { flex: 0 0 100%; } .note { color: #495057; font-size: 0.9em; }
"""
COMPARED_BARS = (("cluster.cost_usd", "cost"), ("simulated_s", "simulated time"),
                 ("cluster.utilization", "utilization"), ("cluster.energy_kwh", "energy"))


def _table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...] | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _plots(figures: Sequence[Figure], ids: Iterator[int], css_class: str = "plot") -> str:
    """Figures side by side, each in its own div with the page's next id."""
    divs = "".join(figure_div(f, f"plot-{next(ids)}", css_class) for f in figures)
    return f'<div class="plots">{divs}</div>'


def _workload_rows(w: TrainingReport | InferenceReport) -> list[tuple[str, str]]:
    carbon = ("carbon", carbon_text(w.carbon_tco2e))
    if isinstance(w, TrainingReport):
        return [("status", w.status), ("model", f"{w.model} on {w.gpus:,} {w.accelerator}"),
                ("wall clock", duration_text(w.wall_clock_s)), ("steps", f"{w.steps:,} / {w.steps_total:,}"),
                ("step time", f"{latency_text(w.step_time_s)}: {step_parts_text(w.step_breakdown)}"),
                ("MFU", f"{w.mfu:.1%}"), ("ETTR", f"{w.ettr:.1%}"), ("interruptions", f"{w.interruptions:,}"),
                ("lost GPU-hours", f"{w.lost_gpu_hours:,.0f}"),
                ("preempted / requeued", f"{w.preemptions:,} / {w.requeues:,}"), ("cost", usd_text(w.cost_usd)),
                ("per million tokens trained", usd_text(w.cost_per_million_tokens_usd)),
                ("energy", f"{w.energy_kwh:,.1f} kWh"), carbon]
    r = w.requests
    return [("status", w.status), ("model", f"{w.model}, {w.replicas} x TP{w.tp} on {w.gpus:,} {w.accelerator}"),
            ("requests", f"{r.completed:,} completed of {r.total:,} ({r.failed:,} failed, {r.retried:,} retried)"),
            ("TTFT p50 / p99", f"{latency_text(w.ttft_s.p50)} / {latency_text(w.ttft_s.p99)}"),
            ("TPOT p50 / p99", f"{latency_text(w.tpot_s.p50)} / {latency_text(w.tpot_s.p99)}"),
            ("end-to-end p50 / p99", f"{latency_text(w.e2e_s.p50)} / {latency_text(w.e2e_s.p99)}"),
            ("SLO attainment", "-" if w.slo_attainment is None else f"{w.slo_attainment:.1%}"),
            ("throughput", f"{format_count(w.throughput_tokens_per_s)} output tokens/s"),
            ("replicas busy / KV cache used", f"{w.replica_busy_fraction:.1%} / {w.kv_cache_utilization:.1%}"),
            ("cost", usd_text(w.cost_usd)), ("per million output tokens", usd_text(w.usd_per_million_output_tokens)),
            ("energy", f"{w.energy_kwh:,.1f} kWh"), carbon]


def _tenants_section(report: Report, ids: Iterator[int]) -> str:
    columns, rows = tenant_table(report)
    parts = ["<h2>Tenants</h2>" + _table(rows, columns)]
    if report.jobs is not None:
        parts.append("<h2>Batch jobs</h2>" + _table(jobs_rows(report.jobs)))
    figures = [tenant_figure(report)] if report.series.tenant_gpus else []
    if report.jobs is not None and report.jobs.rows:
        figures.append(jobs_figure(report))
    if figures:
        parts.append(_plots(figures, ids, "wide"))
    return "".join(parts)


def _report_body(report: Report, ids: Iterator[int]) -> str:
    c = report.cluster
    summary = [("simulated time", duration_text(report.simulated_s)), ("GPUs", f"{c.gpus:,}"),
               ("utilization (productive)", f"{c.utilization:.1%}"), ("GPU-hours", f"{c.gpu_hours:,.0f}"),
               ("price", f"${c.gpu_hour_usd:,.2f} per GPU-hour ({c.price_source})"),
               ("electricity price", NOT_SET if c.electricity_usd_per_kwh is None
                else f"${c.electricity_usd_per_kwh:,.3f} per kWh"),
               ("cost", f"{usd_text(c.cost_usd)} (GPU time {usd_text(c.rental_usd)}, energy {energy_cost_text(c)})"),
               ("energy", f"{c.energy_kwh:,.0f} kWh"), ("carbon", carbon_text(c.carbon_tco2e)),
               ("node failures", f"{c.node_failures:,}")]
    if c.site_power is not None:
        summary.append(("site power", site_power_text(c.site_power)))
    figures = [cluster_figure(report), progress_figure(report), cost_figure(report),
               energy_figure(report, carbon_text(c.carbon_tco2e))]
    if report.series.facility_power_w:
        figures.append(power_figure(report))
    if report.series.link_load:
        figures.append(link_figure(report))
    parts = [f"<h2>Cluster</h2>{_table(summary)}", _plots(figures, ids)]
    if c.pools:
        columns = [pool_rows(pool) for pool in c.pools.values()]
        rows = [(label, *(column[index][1] for column in columns)) for index, (label, _) in enumerate(columns[0])]
        parts.insert(1, "<h2>Pools</h2>" + _table(rows, ("", *c.pools)))
    if len(report.tenants) > 1 or report.jobs is not None:
        parts.append(_tenants_section(report, ids))
    for name, w in report.workloads.items():
        parts.append(f"<h2>Workload {html.escape(name)} ({w.kind})</h2>{_table(_workload_rows(w))}")
        if isinstance(w, InferenceReport):
            parts.append(_plots(serving_figures(report, name, w), ids))
    if report.notes:
        parts.append("<h2>Notes</h2>" + "".join(f'<p class="note">{html.escape(n)}</p>' for n in report.notes))
    return "".join(parts)


def _document(title: str, body: str) -> str:
    return page(title, f"<h1>{html.escape(title)}</h1>{body}", STYLE)


def report_html(report: Report) -> str:
    """One run as a self-contained HTML page; the same report gives the same bytes (the simulation's wall time,
    the report's one non-deterministic figure, is left out)."""
    return _document(f"clustersim: {report.scenario} (seed {report.seed})", _report_body(report, count()) + (
        f'<p class="note">clustersim {html.escape(report.clustersim_version)}. Plots sample the run at most 512 '
        "times; drag to zoom, double-click to reset, hover for values.</p>"))


def _bars_figure(comparison: Comparison) -> Figure:
    """Cost, simulated time, utilization and energy of each run, one panel each, hover in their units."""
    labels = [run.label for run in comparison.runs]
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {}
    width = 1 / len(COMPARED_BARS)
    for index, (key, title) in enumerate(COMPARED_BARS):
        values = [figure_value(run.report, key) for run in comparison.runs]
        lengths = [v or 0.0 for v in values]
        if key == "simulated_s":  # the axis in the days, hours or minutes the bars' text uses
            lengths, unit = time_axis(lengths)
            title = f"{title} ({unit})"
        suffix = "" if index == 0 else str(index + 1)
        traces.append({"type": "bar", "orientation": "h", "y": labels, "x": lengths,
                       "name": title, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "showlegend": False,
                       "text": ["-" if v is None else format_figure(key, v) for v in values],
                       "textposition": "auto", "hovertemplate": f"%{{y}}: {title} %{{text}}<extra></extra>",
                       "marker": {"color": "#1c7ed6"}})
        layout[f"xaxis{suffix}"] = {"domain": [index * width + 0.02, (index + 1) * width - 0.02],
                                    "anchor": f"y{suffix}", "title": {"text": title}}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "autorange": "reversed", "automargin": True,
                                    "showticklabels": index == 0}
    return figure("Runs side by side", traces, "cost", "", height_px=140 + 36 * len(labels), **layout)


def _ratios_figure(comparison: Comparison) -> Figure:
    """Every headline figure of each run divided by the baseline's (1 = the same), grouped by figure."""
    keys = list(dict.fromkeys(key for run in comparison.runs for key in run.ratios))
    traces = [{"type": "bar", "orientation": "h", "name": run.label, "y": keys,
               "x": [run.ratios.get(key) for key in keys],
               "hovertemplate": f"%{{y}}: %{{x:.3f}}x the baseline<extra>{html.escape(run.label)}</extra>"}
              for run in comparison.runs if run.label != comparison.baseline]
    return figure(f"Headline figures relative to {comparison.baseline}", traces,
                  f"ratio to {comparison.baseline}", "", height_px=160 + 18 * len(keys) * max(1, len(traces)),
                  barmode="group", yaxis={"autorange": "reversed", "automargin": True},
                  shapes=[{"type": "line", "x0": 1, "x1": 1, "yref": "paper", "y0": 0, "y1": 1,
                           "line": {"dash": "dot", "color": "#868e96"}}])


def comparison_html(comparison: Comparison) -> str:
    """Several runs: their headline figures side by side as bars and ratios to the baseline, the terminal's
    comparison table (step breakdowns included), then each run's own page body."""
    ids = count()
    figures = [_bars_figure(comparison)]
    if len(comparison.runs) > 1:
        figures.append(_ratios_figure(comparison))
    header = ("figure", *(run.label for run in comparison.runs))
    body = (_plots(figures, ids, "wide")
            + f'<h2>Headline figures</h2><p class="note">In parentheses: the ratio to '
              f"{html.escape(comparison.baseline)}.</p>" + _table(comparison_figure_rows(comparison), header))
    body += "".join(f"<h2>{html.escape(run.label)}</h2>{_report_body(run.report, ids)}" for run in comparison.runs)
    return _document("clustersim: comparison", body)
