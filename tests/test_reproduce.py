"""`clustersim reproduce training`: the step model against every published run, with the issue's targets
(median |error| <= 8 %, none worse than 15 %), and the packaged extract against the shared reference."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from cli import main
from simulator.tools.reproduce import PUBLISHED, reproduce_training
from tests.conftest import shared_file


def test_predictions_meet_the_validation_target() -> None:
    report = reproduce_training()
    assert len(report.runs) == 6
    assert report.median_abs_error <= 0.08
    assert report.max_abs_error <= 0.15
    assert all(run.predicted_tflops_per_gpu > 0 for run in report.runs)


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
    shared = yaml.safe_load(shared_file("reference", "training_throughput.yaml").read_text())["cases"]
    published = {c["id"]: c for c in shared}
    extract = yaml.safe_load(PUBLISHED.read_text())
    for case in extract["cases"]:
        source = published[case["id"]]
        assert case["published_tflops_per_gpu"] == source["achieved_tflops_per_gpu"]
        assert case["gpus"] == source["gpus"]
        assert {k: case["parallelism"][k] for k in ("tp", "pp", "dp")} == {
            k: source["parallelism"][k] for k in ("tp", "pp", "dp")}
    assert extract["time_estimate"]["published_days"] == published["megatron-gpt3-175b-time"]["published_days"]
