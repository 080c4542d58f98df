"""The HTML report: one self-contained file with the summary as text and interactive plotly.js figures, bounded
time series (the serving ones included), and a real browser (headless Chromium, where installed) rendering
each page with networking disabled."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from cli import main
from simulator.engine.sampler import MAX_MARKS, MAX_POINTS
from simulator.engine.serving.requests import ServingOutcome
from simulator.experiments.compare import UnknownBaseline, baseline_label
from simulator.plan.load import load_scenario
from simulator.report.build_run import _window_ratio
from simulator.report.build_serving import windowed_latency
from simulator.report.experiments import ComparedRun, Comparison
from simulator.report.html import report_html
from simulator.report.interactive import figure, figure_div, plotly_js, time_axis, trace
from simulator.report.model import InferenceReport, Report, TrainingReport
from simulator.report.plots import cost_figure, energy_figure, goodput, jobs_figure, progress_figure, tenant_figure
from simulator.report.plots_serving import serving_figures
from simulator.report.render import (
    carbon_text,
    comparison_figure_rows,
    comparison_table,
    energy_cost_text,
    report_tables,
)
from simulator.run import simulate
from tests.conftest import ROOT

FAILURES = ROOT / "scenarios" / "llama3-405b-failures.yaml"
SERVING = ROOT / "scenarios" / "serve-llama70b-azure-conv.yaml"
TOPOLOGIES = [str(p) for p in sorted((ROOT / "scenarios" / "compare-topologies").glob("*.yaml"))[:2]]
PLOT = "Plotly.newPlot("


@pytest.fixture(scope="module")
def failures() -> Report:
    return simulate(load_scenario(FAILURES))


@pytest.fixture(scope="module")
def serving_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("serving") / "serving.html"
    result = CliRunner().invoke(main, ["run", str(SERVING), "--html", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def compare_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compare") / "compare.html"
    baseline = Path(TOPOLOGIES[1]).stem
    result = CliRunner().invoke(main, ["compare", *TOPOLOGIES, "--html", str(path), "--baseline", baseline])
    assert result.exit_code == 0, result.output
    assert f"ratio to {baseline}" in result.output
    return path


def _ours(page: str) -> str:
    """The page less the inlined plotly.js (whose strings hold URLs it never fetches here)."""
    assert page.startswith("<!DOCTYPE html>") and page.count(plotly_js()) == 1
    return page.replace(plotly_js(), "")


def _self_contained(page: str) -> None:
    ours = _ours(page)
    # nothing fetched: no external scripts, stylesheets, images or frames, no links or fetches elsewhere
    assert not re.search(r"<(link|img|iframe)\b|<script\s+src", ours)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", ours)
    assert "http://" not in ours and "https://" not in ours
    assert not re.search(r"\bfetch\(|\bimport\(|XMLHttpRequest", ours)


def test_a_failure_run_renders_its_plots_and_stays_bounded(failures: Report) -> None:
    series = failures.series
    assert 100 < len(series.time_s) <= MAX_POINTS and series.time_s[-1] == failures.simulated_s
    assert all(len(v) == len(series.time_s) for v in (series.allocated_gpus, series.down_gpus))
    job = series.workloads["llama3-405b"]
    workload = failures.workloads["llama3-405b"]
    assert job.progress[0] == 0.0 and all(0.0 <= p <= 1.0 for p in job.progress)
    assert job.progress[-1] == pytest.approx(workload.steps / workload.steps_total, abs=1e-3)  # type: ignore[union-attr]
    assert job.replicas_up == job.busy_fraction == job.ttft_p50_s == []  # serving series: empty for training
    failures_ = [e for e in job.events if e.kind == "failure"]
    checkpoints = [e for e in job.events if e.kind == "checkpoint"]
    assert 0 < len(failures_) <= MAX_MARKS and 0 < len(checkpoints) <= MAX_MARKS
    assert checkpoints[-1].time_s > 0.9 * failures.simulated_s  # spread over the whole run, not the first part
    assert max(series.down_gpus) > 0
    page = report_html(failures)
    _self_contained(page)
    # cluster use, progress with failures and checkpoints, cost, energy, network load by tier
    assert page.count(PLOT) == 5 and "Network load by tier" in page and "Where the money went" in page
    assert f"llama3-405b: failures ({len(failures_):,})" in page  # the failures' own row, not a comb
    assert page.count('"line-ns-open"') == 2 and "failure (" in page  # a marker per event, its cause on hover
    assert "<td>carbon</td><td>not set</td>" in page and "energy not set" in page  # no carbon intensity, no price
    assert report_html(failures) == page  # deterministic: same report, same bytes


def test_serving_runs_sample_replicas_kv_busy_and_latency(serving_page: Path) -> None:
    report = simulate(load_scenario(SERVING))
    w = report.workloads["chat"]
    assert isinstance(w, InferenceReport)
    series, times = report.series.workloads["chat"], report.series.time_s
    assert all(len(v) == len(times) for v in (series.replicas_up, series.kv_cache_use, series.busy_fraction,
                                               series.ttft_p50_s, series.e2e_p99_s))
    assert max(series.replicas_up) == w.replicas and all(0 <= k <= 1 for k in series.kv_cache_use)
    assert all(0 <= b <= 1 for b in series.busy_fraction) and series.busy_fraction[0] == 0.0
    # the windows' busy time, weighted by their length, is the run's busy fraction
    weights = np.diff(times, prepend=0.0)
    assert float(np.dot(weights, series.busy_fraction) / weights.sum()) == pytest.approx(
        w.replica_busy_fraction, abs=0.02)
    p50 = [v for v in series.ttft_p50_s if v is not None]
    p99 = [v for v in series.ttft_p99_s if v is not None]
    assert len(p50) > len(times) // 2 and all(a <= b for a, b in zip(p50, p99, strict=True))
    page = serving_page.read_text(encoding="utf-8")
    _self_contained(page)
    # cluster use, progress, cost, energy; requests and replicas, busy and KV use, latency over time, CDFs
    assert page.count(PLOT) == 8 and "chat: replica busy time and KV-cache use" in page
    assert "chat: latency over time" in page and "chat: latency CDFs" in page


def test_windowed_latency_takes_each_window_requests_only() -> None:
    arrival = np.array([0.0, 0.0, 5.0, 5.0, 5.0])
    first = np.array([1.0, 3.0, 6.0, np.nan, 7.0])
    finish = np.array([2.0, 4.0, 9.0, np.nan, np.nan])
    nan = np.full(1, np.nan)
    outcome = ServingOutcome(arrival, first, finish, np.ones(5, bool), np.zeros(5, bool), np.zeros(5, int), 0, 0,
                             nan, nan, nan, nan, nan, 0, 0, 10.0)
    windows = windowed_latency(outcome, [0.0, 5.0, 10.0])
    assert windows["ttft_p50_s"] == [None, 2.0, 1.5]  # (1, 3) by 5 s; then (1, 2)
    assert windows["e2e_p99_s"][:2] == [None, pytest.approx(3.98)] and windows["e2e_p50_s"][2] == 4.0


def test_compare_renders_the_terminal_table_with_units_and_a_chosen_baseline(compare_page: Path) -> None:
    page = compare_page.read_text(encoding="utf-8")
    _self_contained(page)
    # the side-by-side bars and the ratios to the baseline, then each run's five plots
    assert page.count(PLOT) == 2 + 2 * 5
    first, baseline = (Path(p).stem for p in TOPOLOGIES)
    assert f"<th>{first}</th>" in page and f"<th>{baseline}</th>" in page
    assert f"Headline figures relative to {baseline}" in page
    table = page[page.index("<h2>Headline figures</h2>"):]
    table = table[:table.index("</table>")]
    cells = re.findall(r"<td>([^<]*)</td>", table)
    assert not [c for c in cells if re.fullmatch(r"[\d.,e+-]+", c) and "e" in c]  # no raw floats (6.545e+05)
    assert any(re.fullmatch(r"\$[\d,]+", c) for c in cells) and any(c.endswith(" d") for c in cells)
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", table)
    assert any(key.endswith(".step.compute_s") for key, _, _ in rows)  # the step breakdown, as in the terminal
    assert any(re.search(r"\(\d+\.\d\dx\)$", a) for _, a, _ in rows)  # ratios beside the first run, not the baseline
    assert not any(re.search(r"x\)$", b) for _, _, b in rows)


def test_compare_refuses_an_unknown_baseline_before_running_anything() -> None:
    result = CliRunner().invoke(main, ["compare", *TOPOLOGIES, "--baseline", "nope"])
    assert result.exit_code == 2
    assert "no run named 'nope'" in result.output and all(Path(p).stem in result.output for p in TOPOLOGIES)


def test_unset_carbon_and_electricity_read_not_set_in_the_terminal(failures: Report) -> None:
    console = Console(file=io.StringIO(), width=200)
    console.print(report_tables(failures))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "carbon not set" in text and "energy not set" in text and "tCO2e" not in text
    priced = simulate(load_scenario(ROOT / "scenarios" / "published" / "gpt3-energy-v100.yaml"))
    assert priced.cluster.carbon_tco2e is not None and priced.cluster.carbon_tco2e > 0


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless Chromium here (Debian package chromium; .ci/run installs it where it can)")


def _rendered(page: Path) -> str:
    """The page's DOM after its scripts ran, in headless Chromium with every network request refused (one
    launch)."""
    with tempfile.TemporaryDirectory() as profile:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9",
                 "--proxy-bypass-list=<-loopback>", "--window-size=1280,2400", "--virtual-time-budget=10000"]
        return subprocess.run([_browser(), *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                              timeout=180, check=True).stdout


def _assert_plots_drawn(dom: str, figures: int, label: str) -> None:
    """Every figure became an interactive plotly plot with its SVG, and `label` is text in an SVG <text>."""
    assert len(re.findall(r'class="[^"]*\bjs-plotly-plot\b', dom)) == figures
    assert len(re.findall(r'<svg class="main-svg"', dom)) >= figures
    assert re.search(rf"<text[^>]*>{re.escape(label)}</text>", dom)


def test_headless_chromium_draws_the_failure_run(failures: Report, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report_html(failures), encoding="utf-8")
    dom = _rendered(page)
    _assert_plots_drawn(dom, 5, "simulated time (days)")
    assert re.search(r"<text[^>]*>llama3-405b: failures \(\d+\)</text>", dom)  # the failures' row label


def test_headless_chromium_draws_the_serving_and_compare_pages(serving_page: Path, compare_page: Path) -> None:
    _assert_plots_drawn(_rendered(serving_page), 8, "replicas up")
    dom = _rendered(compare_page)
    _assert_plots_drawn(dom, 12, "mean channel utilization (%)")
    assert "<td>workloads." in dom  # the table is text


def test_a_shared_cluster_plots_tenants_and_each_batch_job(tmp_path: Path) -> None:
    report = simulate(load_scenario(ROOT / "scenarios" / "shared-cluster.yaml"))
    assert report.jobs is not None and len(report.tenants) > 1
    page = report_html(report)
    _self_contained(page)
    # cluster, progress, cost, energy; GPUs by tenant and the batch jobs; the chat service's four
    assert page.count(PLOT) == 4 + 2 + 4 + (1 if report.series.link_load else 0)
    assert "GPUs by tenant over time, and fragmentation" in page and '"stackgroup":"tenants"' in page
    first = report.jobs.rows[0]
    assert f"{first.name} ({first.tenant}, {first.gpus:,} GPUs, {first.status})" in page  # each job's hover


def test_figure_divs_keep_their_json_inside_the_script_and_times_in_a_readable_unit() -> None:
    div = figure_div(figure("a </script> title", [trace([0, 1], [2, 3], "</script>", "%{y}")], "x", "y"), "p-1")
    assert div.count("</script>") == 1 and div.startswith('<div class="plot" id="p-1"></div><script>')
    assert time_axis([0.0, 3 * 86400.0]) == ([0.0, 3.0], "days")
    assert time_axis([0.0, 3 * 3600.0]) == ([0.0, 3.0], "hours")
    assert time_axis([0.0, 90.0]) == ([0.0, 1.5], "minutes") and time_axis([]) == ([], "minutes")
    merged = figure("t", [], "x", "y", yaxis={"range": [0, 1]})["layout"]["yaxis"]
    assert merged["range"] == [0, 1] and merged["title"] == {"text": "y"}  # axis settings merge into defaults


def test_goodput_is_the_share_of_uninterrupted_progress(failures: Report) -> None:
    job = failures.workloads["llama3-405b"]
    assert isinstance(job, TrainingReport)
    x, unit = time_axis(failures.series.time_s)
    rate = goodput(failures, "llama3-405b", x, unit, "#000")
    assert rate is not None and rate["line"]["shape"] == "vh"  # drawn over the window it measures
    values = np.array(rate["y"][1:])
    assert values.min() >= 0 and values.max() <= 101  # never faster than steps without interruptions
    weights = np.diff(failures.series.time_s)
    mean = float(np.dot(weights, values) / weights.sum()) / 100
    assert mean == pytest.approx(job.steps * job.step_time_s / failures.simulated_s, rel=0.01)


def test_cost_and_energy_figures_hold_the_report_figures(failures: Report) -> None:
    cost = cost_figure(failures)
    assert [t["name"] for t in cost["data"]] == ["useful work", "checkpoints", "failures", "idle", "energy"]
    breakdown = failures.cluster.cost_breakdown
    assert cost["data"][2]["x"][0] == breakdown.failure_usd and cost["data"][0]["y"] == ["cluster", "llama3-405b"]
    energy = energy_figure(failures, "not set")
    assert energy["layout"]["title"]["text"].endswith("carbon not set")
    assert sum(t["x"][0] for t in energy["data"]) == pytest.approx(failures.cluster.energy_kwh)


def test_baseline_labels_and_the_terminal_table_name_the_baseline() -> None:
    assert baseline_label(["a", "b"], None) == "a" and baseline_label(["a", "b"], "b") == "b"
    with pytest.raises(UnknownBaseline, match="no run named 'c'; runs: a, b"):
        baseline_label(["a", "b"], "c")
    report = simulate(load_scenario(ROOT / "scenarios" / "quickstart.yaml"))
    runs = [ComparedRun(label=label, report=report, ratios={}) for label in ("x", "y")]
    comparison = Comparison(runs=runs, baseline="y")
    assert comparison.baseline_run() is runs[1]
    assert comparison_table(comparison).title == "comparison (ratio to y)"
    rows = comparison_figure_rows(comparison)
    assert rows[0][0] == "simulated_s" and all(len(row) == 3 for row in rows)
    assert any(".step." in row[0] for row in rows)  # step breakdown rows after the headline figures


def test_the_progress_figure_gives_each_event_kind_a_row_with_hover(failures: Report) -> None:
    fig = progress_figure(failures)
    rows = fig["layout"]["yaxis2"]["categoryarray"]
    assert [r.split(" (")[0] for r in rows] == ["llama3-405b: failures", "llama3-405b: checkpoints"]
    assert fig["layout"]["xaxis"]["anchor"] == "y2"  # the time axis under the rows, not between the panels
    markers = {t["name"]: t for t in fig["data"] if t.get("mode") == "markers"}
    failures_row = markers[rows[0]]
    events = [e for e in failures.series.workloads["llama3-405b"].events if e.kind == "failure"]
    assert len(failures_row["x"]) == len(events) == len(failures_row["text"])
    assert all(": failure (" in text for text in failures_row["text"])  # time, kind and cause on hover
    assert failures_row["x"] == sorted(failures_row["x"]) and failures_row["x"][-1] <= failures.simulated_s / 86400


def test_serving_figures_plot_every_series_with_its_objectives() -> None:
    report = simulate(load_scenario(SERVING))
    w = report.workloads["chat"]
    assert isinstance(w, InferenceReport)
    requests, use, latency, cdf = serving_figures(report, "chat", w)
    assert [t["name"] for t in requests["data"]] == ["queued", "in a batch", "replicas up (right)"]
    assert requests["data"][2]["yaxis"] == "y2"
    assert use["data"][2]["y"][0] == pytest.approx(100 * w.replica_busy_fraction)
    assert latency["layout"]["yaxis"]["type"] == "log" and latency["data"][-1]["y"] == [w.slo.ttft_s] * 2
    assert [t["name"] for t in cdf["data"]][:3] == ["TTFT", "TPOT", "end-to-end"]
    assert all(v > 0 for t in cdf["data"][:3] for v in t["x"])  # log scale: no zero or missing latencies
    assert cdf["data"][0]["y"][-1] == 100.0


def test_tenant_and_jobs_figures_add_up() -> None:
    report = simulate(load_scenario(ROOT / "scenarios" / "shared-cluster.yaml"))
    assert report.jobs is not None
    tenants = tenant_figure(report)["data"]
    stacked = np.sum([t["y"] for t in tenants if t.get("stackgroup")], axis=0)
    assert float(stacked.max()) <= report.cluster.gpus
    assert np.allclose(stacked, report.series.allocated_gpus)  # every GPU held belongs to a tenant
    jobs = jobs_figure(report)["data"]
    assert len(jobs[0]["x"]) == len(report.jobs.rows) == len(jobs[0]["text"])
    assert max(jobs[0]["y"]) == pytest.approx(max(r.queued_s for r in report.jobs.rows) / 3600)


def test_zero_prices_given_are_figures_and_only_unset_ones_read_not_set() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "quickstart.yaml")
    given = scenario.model_copy(update={"pricing": scenario.pricing.model_copy(
        update={"carbon_kg_per_kwh": 0.0, "electricity_usd_per_kwh": 0.0})})
    unset = scenario.model_copy(update={"pricing": scenario.pricing.model_copy(
        update={"carbon_kg_per_kwh": None, "electricity_usd_per_kwh": None})})
    zero, none = simulate(given).cluster, simulate(unset).cluster
    assert zero.carbon_tco2e == 0.0 and zero.electricity_usd_per_kwh == 0.0
    assert none.carbon_tco2e is None and none.electricity_usd_per_kwh is None
    assert zero.cost_usd == none.cost_usd  # not set costs nothing extra, as before
    assert carbon_text(zero.carbon_tco2e) == "0.00 tCO2e" and carbon_text(none.carbon_tco2e) == "not set"
    assert energy_cost_text(zero) == "$0.00" and energy_cost_text(none) == "not set"


def test_every_plot_of_a_comparison_has_its_own_id(compare_page: Path) -> None:
    ids = re.findall(r'<div class="(?:plot|wide)" id="([^"]+)"></div>', _ours(compare_page.read_text("utf-8")))
    assert len(ids) == 12 and len(set(ids)) == len(ids)


def test_window_ratios_divide_the_growth_of_cumulative_series() -> None:
    busy = [0.0, 5.0, 5.0, 12.0]  # replica-seconds iterating so far
    provisioned = [0.0, 10.0, 10.0, 20.0]  # replica-seconds paid for so far (none between the 2nd and 3rd)
    assert _window_ratio(busy, provisioned) == [0.0, 0.5, 0.0, 0.7]
    assert _window_ratio([0.0, 3.0], [0.0, 2.0]) == [0.0, 1.0]  # an iteration counted late never exceeds 1


def test_the_page_states_how_to_use_its_plots(failures: Report) -> None:
    note = report_html(failures).rsplit('<p class="note">', 1)[1]
    assert "at most 512" in note and "drag to zoom" in note and "wall time" not in note  # deterministic bytes
