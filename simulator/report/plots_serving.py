"""The run page's interactive figures of one serving workload: requests queued and running with the replicas
up, replica busy time and KV-cache use, latency percentiles over time, and latency CDFs."""

from __future__ import annotations

from typing import Any

from simulator.report.interactive import Figure, figure, time_axis, trace
from simulator.report.model import InferenceReport, Report
from simulator.report.plots import step, when

SECONDS_AXIS = {"type": "log", "exponentformat": "SI", "ticksuffix": "s"}  # 10ms, 100ms, 1s, 10s


def requests_figure(report: Report, name: str) -> Figure:
    """Requests waiting for a replica and in a batch, and the replicas up (right axis)."""
    series = report.series.workloads[name]
    x, unit = time_axis(report.series.time_s)
    traces = [step(x, series.queued, "queued", f"{when(unit)}: %{{y:,.0f}} requests queued", "#e03131"),
              step(x, series.running, "in a batch", f"{when(unit)}: %{{y:,.0f}} requests in a batch", "#2b8a3e"),
              step(x, series.replicas_up, "replicas up (right)", f"{when(unit)}: %{{y:,.0f}} replicas up",
                   "#1c7ed6", yaxis="y2")]
    return figure(f"{name}: requests and replicas over time", traces, f"simulated time ({unit})", "requests",
                  yaxis2={"title": {"text": "replicas up"}, "overlaying": "y", "side": "right",
                          "range": [0, 1.2 * max(series.replicas_up, default=1.0) or 1.0], "showgrid": False})


def use_figure(report: Report, name: str, w: InferenceReport) -> Figure:
    """Replica busy time (between samples) and KV-cache use, with the run's averages as dotted lines."""
    series = report.series.workloads[name]
    x, unit = time_axis(report.series.time_s)
    ends = [x[0], x[-1]] if x else []
    traces = [step(x, [100 * b for b in series.busy_fraction], "replicas busy",
                   f"{when(unit)}: %{{y:.1f}} % of replica time iterating", "#1c7ed6", window=True),
              step(x, [100 * k for k in series.kv_cache_use], "KV cache used",
                   f"{when(unit)}: %{{y:.1f}} % of the KV blocks of the replicas up", "#845ef7"),
              trace(ends, [100 * w.replica_busy_fraction] * len(ends), "busy, whole run", "%{y:.1f} %",
                    line={"dash": "dot", "color": "#1c7ed6"}),
              trace(ends, [100 * w.kv_cache_utilization] * len(ends), "KV cache, whole run", "%{y:.1f} %",
                    line={"dash": "dot", "color": "#845ef7"})]
    return figure(f"{name}: replica busy time and KV-cache use", traces, f"simulated time ({unit})", "%",
                  yaxis={"range": [0, 105]})


def latency_figure(report: Report, name: str, w: InferenceReport) -> Figure:
    """TTFT and end-to-end p50 and p99 of the requests between samples (log scale), with the TTFT objective."""
    series = report.series.workloads[name]
    x, unit = time_axis(report.series.time_s)
    traces: list[dict[str, Any]] = [
        trace(x, values, label, f"{when(unit)}: %{{y:.3s}}s", line={"color": color, "width": width},
              connectgaps=False)
        for values, label, color, width in ((series.ttft_p50_s, "TTFT p50", "#1c7ed6", 1.5),
                                            (series.ttft_p99_s, "TTFT p99", "#1c7ed6", 0.8),
                                            (series.e2e_p50_s, "end-to-end p50", "#2b8a3e", 1.5),
                                            (series.e2e_p99_s, "end-to-end p99", "#2b8a3e", 0.8))]
    if x:
        traces.append(trace([x[0], x[-1]], [w.slo.ttft_s] * 2, "TTFT objective", "%{y:.3s}s",
                            line={"dash": "dash", "color": "#e03131"}))
    return figure(f"{name}: latency over time", traces, f"simulated time ({unit})", "latency", yaxis=SECONDS_AXIS)


def cdf_figure(report: Report, name: str, w: InferenceReport) -> Figure:
    """TTFT, TPOT and end-to-end latency CDFs (log scale), with the TTFT and TPOT objectives."""
    cdf = report.series.latency_cdf[name]
    percent = [100 * p for p in cdf.probabilities]
    traces = []
    for values, label, color in ((cdf.ttft_s, "TTFT", "#1c7ed6"), (cdf.tpot_s, "TPOT", "#f59f00"),
                                 (cdf.e2e_s, "end-to-end", "#2b8a3e")):
        points = [(v, p) for v, p in zip(values, percent, strict=True) if v is not None and v > 0]
        traces.append(trace([v for v, _ in points], [p for _, p in points], label,
                            "%{x:.3s}s: %{y:.0f} % of requests", line={"color": color}))
    for slo, label in ((w.slo.ttft_s, "TTFT objective"), (w.slo.tpot_s, "TPOT objective")):
        traces.append(trace([slo, slo], [0, 100], label, "%{x:.3s}s", line={"dash": "dash", "color": "#e03131",
                                                                          "width": 1}))
    return figure(f"{name}: latency CDFs", traces, "latency", "requests (%)", xaxis=SECONDS_AXIS,
                  yaxis={"range": [0, 102]})


def serving_figures(report: Report, name: str, w: InferenceReport) -> list[Figure]:
    """Every figure of one serving workload, in page order."""
    return [requests_figure(report, name), use_figure(report, name, w), latency_figure(report, name, w),
            cdf_figure(report, name, w)]
