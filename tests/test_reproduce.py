"""`clustersim reproduce training`: the step model against every published run (the shared reference's and
held-out ones), memory refusals, and the packaged extract against the shared reference. The guards are the
errors the model has today (see docs/training-model.md), so a change that makes any row worse fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from cli import main
from simulator.report.render_tools import reproduction_tables
from simulator.report.tools import ReproductionReport
from simulator.tools.reproduce import PUBLISHED, reproduce_training
from tests.conftest import data_file

# today's |error| per row, plus 1.5 points of slack: a regression guard, not the target
CURRENT_ERRORS = {
    "megatron-1.7b": 0.105, "megatron-7.5b": 0.095, "megatron-39.1b": 0.03, "megatron-145.6b": 0.02,
    "megatron-529.6b": 0.06, "llama3-405b-8k": 0.28, "llama3-405b-16k-gpus": 0.30, "llama3-405b-cp16": 0.80,
    "korthikanti-22b": 0.08, "korthikanti-175b": 0.065, "korthikanti-530b": 0.07, "korthikanti-1t": 0.065,
}


def test_every_published_layout_fits_and_no_row_gets_worse() -> None:
    report = reproduce_training()
    assert {run.id for run in report.runs} == set(CURRENT_ERRORS)
    assert report.refused == []
    for run in report.runs:
        assert run.fits and run.error is not None and run.predicted_tflops_per_gpu is not None
        assert abs(run.error) <= CURRENT_ERRORS[run.id] + 0.015, run.id
    shared = [abs(run.error) for run in report.runs if not run.held_out and run.error is not None]
    assert report.max_abs_error == max(shared)
    assert report.held_out_max_abs_error is not None and report.held_out_max_abs_error > 0


def test_a_layout_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(PUBLISHED.read_text())
    case = next(c for c in data["cases"] if c["id"] == "llama3-405b-8k")
    case["layout"]["zero_stage"] = 0  # 16 bytes a parameter on every replica: far over 80 GB
    data["cases"] = [case]
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump(data))
    report = reproduce_training(path)
    (run,) = report.runs
    assert not run.fits and run.predicted_tflops_per_gpu is None and run.error is None
    assert report.refused == ["llama3-405b-8k"]
    assert "refused" in reproduction_text(report)


def test_megatron_time_estimate_is_reproduced_from_the_flop_count() -> None:
    estimate = reproduce_training().time_estimate
    assert estimate.computed_days == pytest.approx(34, rel=0.05)  # 8TP/(nX) ignores attention: +2 %


def test_command_prints_every_row_and_json() -> None:
    table = CliRunner().invoke(main, ["reproduce", "training"])
    assert table.exit_code == 0
    for case in ("megatron-1.7b", "megatron-529.6b", "llama3-405b-8k", "median |error|", "34"):
        assert case in table.output
    data = json.loads(CliRunner().invoke(main, ["reproduce", "training", "--json"]).output)
    assert {run["id"] for run in data["runs"]} >= {"megatron-145.6b", "llama3-405b-8k"}


def test_extract_matches_the_shared_reference() -> None:
    shared = yaml.safe_load(data_file("reference", "training_throughput.yaml").read_text())["cases"]
    published = {c["id"]: c for c in shared}
    extract = yaml.safe_load(PUBLISHED.read_text())
    for case in extract["cases"]:
        if case.get("held_out"):
            assert case["id"] not in published  # held out means not in the shared reference
            continue
        source = published[case["id"]]
        assert case["published_tflops_per_gpu"] == source["achieved_tflops_per_gpu"]
        assert case["gpus"] == source["gpus"]
        assert {k: case["parallelism"][k] for k in ("tp", "pp", "dp")} == {
            k: source["parallelism"][k] for k in ("tp", "pp", "dp")}
    assert extract["time_estimate"]["published_days"] == published["megatron-gpt3-175b-time"]["published_days"]


def reproduction_text(report: ReproductionReport) -> str:
    """The rendered tables as plain text."""
    console = Console(width=200, record=True)
    console.print(reproduction_tables(report))
    return console.export_text()


# today's |error| of each shipped scenario's published figure, plus 1.5 points of slack (see CURRENT_ERRORS)
SCENARIO_ERRORS = {
    ("scenarios/llama3-405b-failures.yaml", "model_tflops_per_gpu"): 0.245,
    ("scenarios/published/deepseek-v3-h800.yaml", "gpu_hours"): 0.356,
    ("scenarios/published/gpt3-175b-a100.yaml", "hardware_tflops_per_gpu"): 0.054,
    ("scenarios/published/gpt3-175b-a100.yaml", "days"): 0.031,
    ("scenarios/published/llama3-405b-h100.yaml", "model_tflops_per_gpu"): 0.223,
}


def test_shipped_scenarios_that_name_a_run_are_compared_with_it() -> None:
    rows = reproduce_training().scenarios
    assert {(row.scenario, row.metric) for row in rows} == set(SCENARIO_ERRORS)
    for row in rows:
        assert abs(row.error) <= SCENARIO_ERRORS[(row.scenario, row.metric)] + 0.015, row
        assert row.predicted == pytest.approx(row.published * (1 + row.error), rel=1e-12)
