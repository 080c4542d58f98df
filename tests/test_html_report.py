"""The HTML report: one self-contained file with the summary and its plots, bounded time series, and a real
browser (headless Chromium, where installed) rendering it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from simulator.engine.sampler import MAX_MARKS, MAX_POINTS
from simulator.plan.load import load_scenario
from simulator.report.html import report_html
from simulator.run import simulate
from tests.conftest import ROOT


def _self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    # nothing fetched: no scripts, stylesheets or images from elsewhere (SVG namespaces are not fetches)
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert not re.search(r"""(src|href)=["']?https?:""", page)


def test_a_failure_run_renders_its_plots_and_stays_bounded() -> None:
    report = simulate(load_scenario(ROOT / "scenarios" / "llama3-405b-failures.yaml"))
    series = report.series
    assert 100 < len(series.time_s) <= MAX_POINTS and series.time_s[-1] == report.simulated_s
    assert all(len(v) == len(series.time_s) for v in (series.allocated_gpus, series.down_gpus))
    job = series.workloads["llama3-405b"]
    workload = report.workloads["llama3-405b"]
    assert job.progress[0] == 0.0 and all(0.0 <= p <= 1.0 for p in job.progress)
    assert job.progress[-1] == pytest.approx(workload.steps / workload.steps_total, abs=1e-3)  # type: ignore[union-attr]
    failures = [e for e in job.events if e.kind == "failure"]
    checkpoints = [e for e in job.events if e.kind == "checkpoint"]
    assert 0 < len(failures) <= MAX_MARKS and 0 < len(checkpoints) <= MAX_MARKS
    assert checkpoints[-1].time_s > 0.9 * report.simulated_s  # spread over the whole run, not the first part
    assert max(series.down_gpus) > 0
    page = report_html(report)
    _self_contained(page)
    # allocation, progress with failures and checkpoints, cost, energy, network load by tier
    assert page.count("<svg") == 5 and "Network load by tier" in page
    assert "Where the money went" in page and "llama3-405b" in page


def test_serving_runs_plot_latency_cdfs_and_queues(tmp_path: Path) -> None:
    path = tmp_path / "serving.html"
    result = CliRunner().invoke(main, ["run", str(ROOT / "scenarios" / "serve-llama70b-azure-conv.yaml"),
                                       "--html", str(path)])
    assert result.exit_code == 0, result.output
    page = path.read_text(encoding="utf-8")
    _self_contained(page)
    assert page.count("<svg") == 6 and "TTFT CDF" in page and "queue and batch" in page


def test_compare_puts_runs_side_by_side(tmp_path: Path) -> None:
    path = tmp_path / "compare.html"
    scenarios = [str(p) for p in sorted((ROOT / "scenarios" / "compare-topologies").glob("*.yaml"))[:2]]
    result = CliRunner().invoke(main, ["compare", *scenarios, "--html", str(path)])
    assert result.exit_code == 0, result.output
    page = path.read_text(encoding="utf-8")
    _self_contained(page)
    assert page.count("<svg") == 1 + 2 * 5  # the side-by-side bars, then each run's five plots
    labels = [Path(p).stem for p in scenarios]
    assert all(f"<th>{label}</th>" in page for label in labels)  # the headline table has a column per run
    assert re.search(r"<td>[^<]+ \(\d+\.\d\dx\)</td>", page)  # and the second run's ratios to the first


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless Chromium here (Debian package chromium; .ci/run installs it where it can)")


def test_headless_chromium_renders_the_report_with_its_plots(tmp_path: Path) -> None:
    browser = _browser()
    page = tmp_path / "report.html"
    page.write_text(report_html(simulate(load_scenario(ROOT / "scenarios" / "llama3-405b-failures.yaml"))),
                    encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert dom.count("<svg") == 5 and dom.count("<path") > 100  # the plots' lines and bars were parsed
    shot = tmp_path / "report.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 50_000  # a rendered page with plots, not a blank one
