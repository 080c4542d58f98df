"""The run page's interactive figures of the cluster, the workloads' progress and failures, costs, energy, the
network, tenants and batch jobs (serving figures: report/plots_serving.py), as plotly figure dicts."""

from __future__ import annotations

from typing import Any

from simulator.report.interactive import Figure, figure, time_axis, trace
from simulator.report.model import CostBreakdown, Report, TrainingReport
from simulator.report.series import TimelineEvent
from simulator.report.text import duration_text

COST_PARTS = (("useful_usd", "useful work", "#2b8a3e"), ("checkpoint_usd", "checkpoints", "#f59f00"),
              ("failure_usd", "failures", "#e03131"), ("idle_usd", "idle", "#adb5bd"),
              ("energy_usd", "energy", "#1c7ed6"))
EVENT_COLORS = {"failure": "#e03131", "checkpoint": "#f59f00"}
SUFFIX = {"days": "d", "hours": "h", "minutes": "min"}
PALETTE = ("#1c7ed6", "#2b8a3e", "#845ef7", "#f76707", "#0c8599", "#d6336c", "#5c940d", "#495057")
SIDE_LEGEND = {"orientation": "v", "x": 1.02, "y": 1.0, "yanchor": "top"}


def when(unit: str) -> str:
    """The hover text of a simulated time on the x axis, in `unit` (days, hours or minutes)."""
    return f"%{{x:.2f}} {SUFFIX[unit]}"


def step(x: list[float], y: list[float], name: str, hover: str, color: str, width: float = 1.5,
         window: bool = False, **style: object) -> dict[str, Any]:
    """A sampled gauge as a step line, held from each sample to the next; a `window` series (a value over the
    time since the previous sample) is drawn over that time instead."""
    return trace(x, y, name, hover, line={"shape": "vh" if window else "hv", "color": color, "width": width},
                 **style)


def cluster_figure(report: Report) -> Figure:
    """Allocated and computing GPUs against the cluster's size; GPUs on failed nodes and queued workloads on a
    right axis of their own (they are few next to the cluster)."""
    s = report.series
    x, unit = time_axis(s.time_s)
    gpus = report.cluster.gpus
    traces = [step(x, s.allocated_gpus, "allocated GPUs", f"{when(unit)}: %{{y:,.0f}} GPUs", "#1c7ed6"),
              step(x, s.busy_gpus, "computing GPUs", f"{when(unit)}: %{{y:,.0f}} GPUs", "#2b8a3e"),
              trace([x[0], x[-1]] if x else [], [gpus, gpus] if x else [], f"cluster ({gpus:,} GPUs)",
                    "%{y:,.0f} GPUs", line={"dash": "dot", "color": "#868e96"}),
              step(x, s.down_gpus, "GPUs on failed nodes (right)", f"{when(unit)}: %{{y:,.0f}} GPUs down",
                   "#e03131", yaxis="y2")]
    if max(s.waiting_workloads, default=0.0) > 0:
        traces.append(step(x, s.waiting_workloads, "workloads queued (right)", f"{when(unit)}: %{{y:,.0f}} queued",
                           "#f59f00", yaxis="y2"))
    right = max(8.0, 1.5 * max([*s.down_gpus, *s.waiting_workloads], default=0.0))
    return figure("Cluster use, failed nodes and queue over time", traces, f"simulated time ({unit})", "GPUs",
                  yaxis={"range": [0, gpus * 1.08]},
                  yaxis2={"title": {"text": "failed-node GPUs, queued workloads"}, "overlaying": "y", "side": "right",
                          "range": [0, right], "showgrid": False})


def goodput(report: Report, name: str, x: list[float], unit: str, color: str) -> dict[str, Any] | None:
    """A training job's goodput over time: its progress between samples as a share of the progress it makes
    running steps without interruption (the step time without contention), %."""
    job = report.workloads[name]
    times, progress = report.series.time_s, report.series.workloads[name].progress
    if not isinstance(job, TrainingReport) or job.steps_total == 0 or job.step_time_s <= 0 or len(times) < 2:
        return None
    ideal_s = job.steps_total * job.step_time_s  # seconds from 0 to 100 % without interruptions
    rate = [0.0] + [100 * (p - q) * ideal_s / (t - u) if t > u else 0.0
                    for p, q, t, u in zip(progress[1:], progress, times[1:], times, strict=False)]
    return step(x, rate, f"{name}: goodput", f"{when(unit)}: %{{y:.1f}} % of the uninterrupted step rate",
                color, width=1, window=True, opacity=0.6)


def _event_hover(event: TimelineEvent) -> str:
    """What hovering a failure or checkpoint marker says: time, kind, cause, and (where the model has them) the
    GPUs it took down and how long it lasted."""
    parts = [f"{duration_text(event.time_s)}: {event.kind}" + (f" ({event.cause})" if event.cause else "")]
    gpus, duration_s = getattr(event, "gpus", None), getattr(event, "duration_s", None)
    if gpus:
        parts.append(f"{gpus:,} GPUs")
    if duration_s:
        parts.append(f"lasted {duration_text(duration_s)}")
    return "<br>".join(parts)


def progress_figure(report: Report) -> Figure:
    """Each workload's progress (and a training job's goodput) on top; below, a row per workload and kind of
    event (failures, checkpoints) with a marker per event: readable at hundreds of events, zoomable, each with
    its hover text."""
    s = report.series
    x, unit = time_axis(s.time_s)
    scale = x[-1] / s.time_s[-1] if s.time_s and s.time_s[-1] else 1.0
    traces: list[dict[str, Any]] = []
    rows: list[str] = []
    for index, (name, series) in enumerate(s.workloads.items()):
        color = PALETTE[index % len(PALETTE)]
        traces.append(trace(x, [100 * p for p in series.progress], f"{name}: work done",
                            f"{when(unit)}: %{{y:.1f}} % done", line={"color": color, "width": 2}))
        rate = goodput(report, name, x, unit, color)
        if rate is not None:
            traces.append(rate)
        for kind in ("failure", "checkpoint"):
            events = [e for e in series.events if e.kind == kind]
            if not events:
                continue
            row = f"{name}: {kind}s ({len(events):,})"
            rows.append(row)
            traces.append({"type": "scatter", "mode": "markers", "name": row, "yaxis": "y2",
                           "x": [e.time_s * scale for e in events], "y": [row] * len(events),
                           "text": [_event_hover(e) for e in events], "hovertemplate": "%{text}<extra></extra>",
                           "marker": {"symbol": "line-ns-open", "size": 14, "color": EVENT_COLORS[kind],
                                      "line": {"width": 1, "color": EVENT_COLORS[kind]}}})
    split = min(0.52, 0.1 + 0.1 * len(rows))
    layout: dict[str, Any] = {"yaxis": {"domain": [split + 0.08 if rows else 0.0, 1.0], "range": [0, 105]}}
    if rows:
        layout["xaxis"] = {"anchor": "y2"}  # the time axis under the events' rows
        layout["yaxis2"] = {"domain": [0.0, split], "type": "category", "categoryorder": "array",
                            "categoryarray": rows, "automargin": True, "showgrid": False}
    return figure("Workload progress" + (", failures and checkpoints" if rows else ""), traces,
                  f"simulated time ({unit})", "work done, goodput (%)", height_px=380 + 40 * len(rows), **layout)


def cost_figure(report: Report) -> Figure:
    """Where the money went, for the cluster and each workload: stacked bars by use."""
    parts: list[tuple[str, CostBreakdown]] = [("cluster", report.cluster.cost_breakdown)]
    parts += [(name, w.cost_breakdown) for name, w in report.workloads.items()]
    names = [name for name, _ in parts]
    traces = [{"type": "bar", "orientation": "h", "name": label, "y": names,
               "x": [getattr(b, key) for _, b in parts], "marker": {"color": color},
               "hovertemplate": f"%{{y}}: {label} $%{{x:,.2f}}<extra></extra>"} for key, label, color in COST_PARTS]
    return figure("Where the money went", traces, "USD", "", height_px=180 + 40 * len(parts), barmode="stack",
                  legend=SIDE_LEGEND,
                  xaxis={"tickprefix": "$"}, yaxis={"autorange": "reversed", "automargin": True})


def energy_figure(report: Report, carbon: str) -> Figure:
    """Facility energy of the GPUs and servers and of the network; `carbon` (its CO2e, or 'not set') in the
    title."""
    c = report.cluster
    traces = [{"type": "bar", "orientation": "h", "name": label, "y": ["energy"], "x": [kwh],
               "marker": {"color": color}, "hovertemplate": f"{label}: %{{x:,.1f}} kWh<extra></extra>"}
              for label, kwh, color in (("GPUs and servers", c.gpu_energy_kwh, "#2b8a3e"),
                                        ("network", c.network_energy_kwh, "#845ef7"))]
    return figure(f"Energy: {c.energy_kwh:,.0f} kWh, carbon {carbon}", traces, "kWh at the meter (PUE included)", "",
                  height_px=220, barmode="stack", xaxis={"ticksuffix": " kWh"}, legend=SIDE_LEGEND)


def power_figure(report: Report) -> Figure:
    """IT and facility power over time against the site's budget (a dotted line where there is one), MW."""
    s = report.series
    x, unit = time_axis(s.time_s)
    traces = [step(x, [w / 1e6 for w in s.facility_power_w or []], "facility power (PUE included)",
                   f"{when(unit)}: %{{y:,.2f}} MW", "#1c7ed6"),
              step(x, [w / 1e6 for w in s.it_power_w or []], "IT power (GPUs, servers, network)",
                   f"{when(unit)}: %{{y:,.2f}} MW", "#2b8a3e", width=1)]
    site = report.cluster.site_power
    if site is not None and site.budget_w is not None and x:
        budget_mw = site.budget_w / 1e6
        traces.append(trace([x[0], x[-1]], [budget_mw] * 2, f"site budget ({budget_mw:,.3g} MW)", "%{y:,.2f} MW",
                            line={"dash": "dot", "color": "#e03131"}))
    cap = "" if site is None or site.cap_fraction is None else f", GPUs capped at {site.cap_fraction:.0%} of TDP"
    return figure(f"Power over time{cap}", traces, f"simulated time ({unit})", "MW", yaxis={"rangemode": "tozero"})


def link_figure(report: Report) -> Figure:
    """Mean load of each network tier by the training traffic over time (a step at each job start and stop)."""
    s = report.series
    x, unit = time_axis([*s.link_time_s, report.simulated_s])
    traces = [trace(x, [100 * v for v in [*load, load[-1]]], tier, f"{when(unit)}: %{{y:.1f}} %",
                    line={"shape": "hv", "width": 1.5}) for tier, load in s.link_load.items()]
    return figure("Network load by tier (training traffic)", traces, f"simulated time ({unit})",
                  "mean channel utilization (%)", yaxis={"range": [0, 105]})


def tenant_figure(report: Report) -> Figure:
    """GPUs each tenant holds, stacked, and fragmentation of the free GPUs on a right axis."""
    s = report.series
    x, unit = time_axis(s.time_s)
    traces = [trace(x, gpus, tenant, f"{when(unit)}: %{{y:,.0f}} GPUs", stackgroup="tenants",
                    line={"shape": "hv", "width": 0.5}) for tenant, gpus in s.tenant_gpus.items()]
    traces.append(trace(x, [100 * f for f in s.fragmentation], "fragmentation (right)",
                        f"{when(unit)}: %{{y:.1f}} % of free GPUs on partly used nodes", yaxis="y2",
                        line={"dash": "dash", "width": 1, "color": "#212529"}))
    return figure("GPUs by tenant over time, and fragmentation", traces, f"simulated time ({unit})", "GPUs held",
                  yaxis={"range": [0, report.cluster.gpus * 1.05]},
                  yaxis2={"title": {"text": "free GPUs on partly used nodes (%)"}, "overlaying": "y",
                          "side": "right", "range": [0, 100], "showgrid": False})


def jobs_figure(report: Report) -> Figure:
    """Batch jobs: how long each waited for its GPUs against when it was submitted (hover: name, tenant, GPUs,
    slowdown), with the jobs running over time on a right axis."""
    assert report.jobs is not None
    rows = report.jobs.rows
    x, unit = time_axis([*report.series.time_s, *(r.submitted_s for r in rows)])
    times, submitted = x[:len(report.series.time_s)], x[len(report.series.time_s):]
    hover = [f"{r.name} ({r.tenant}, {r.gpus:,} GPUs, {r.status})<br>waited {duration_text(r.queued_s)}"
             + ("" if r.slowdown is None else f", slowdown {r.slowdown:.2f}") for r in rows]
    traces: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "markers", "name": "jobs: time queued", "x": submitted,
         "y": [r.queued_s / 3600 for r in rows], "text": hover, "hovertemplate": "%{text}<extra></extra>",
         "marker": {"size": 5, "color": "#1c7ed6", "opacity": 0.7}},
        step(times, report.series.batch_running, "jobs running (right)", f"{when(unit)}: %{{y:,.0f}} running",
             "#2b8a3e", yaxis="y2")]
    return figure("Batch jobs: queueing by submission time, and jobs running", traces,
                  f"simulated time ({unit})", "time queued (hours)",
                  yaxis2={"title": {"text": "jobs running"}, "overlaying": "y", "side": "right", "rangemode": "tozero",
                          "showgrid": False})
