"""`clustersim plan`: the JSON plan per law, the budget path, input errors, the MFU estimator hook, and the
written scenario (it validates and runs)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli import main
from simulator import catalog
from simulator.models.hardware import Accelerator, PriceKind
from simulator.models.workload.shapes import llama_style_model
from simulator.models.workload.transformer import parameter_counts
from simulator.plan.load import load_scenario
from simulator.run import simulate
from simulator.tools import planner
from simulator.tools.planner import PlanRequest, make_plan

LAWS = ("chinchilla_approach1", "chinchilla_approach3", "tokens_per_param_20", "kaplan2020")
KEYS = {"params", "tokens", "flops", "gopher_units", "gpus", "days", "gpu_hours", "cost_usd", "mfu"}


def _plan(*args: str) -> Result:
    return CliRunner().invoke(main, ["plan", *args])


def _json(*args: str) -> dict[str, Any]:
    result = _plan(*args, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _rel(value: float, expected: float) -> float:
    return abs(value / expected - 1)


def test_params_json_has_every_law_with_its_figures() -> None:
    data = _json("--params", "1T", "--mfu", "0.4")
    assert set(data["laws"]) == set(LAWS)
    for law in LAWS:
        row = data["laws"][law]
        assert row.keys() >= KEYS
        assert row["params"] == 1e12
        assert row["flops"] == pytest.approx(6 * row["params"] * row["tokens"])
        assert row["mfu"] == 0.4
    a1 = data["laws"]["chinchilla_approach1"]
    # Hoffmann et al. 2022 Table 3, 1T row: 1.27e26 FLOPs, 221.3 Gopher units, 21.2T tokens
    assert _rel(a1["tokens"], 21.2e12) < 0.02 and _rel(a1["flops"], 1.27e26) < 0.02
    assert _rel(a1["gopher_units"], 221.3) < 0.02
    assert "--mfu 0.4" in data["mfu_source"]
    # 90 days by default: the fewest H100s at 40 % of 989 TFLOP/s, and their rental at the catalog price
    h100 = catalog.accelerator("h100-sxm")
    gpu_seconds = a1["flops"] / (h100.peak_bf16_flops * 0.4)
    assert a1["gpus"] == math.ceil(gpu_seconds / (90 * 86400))
    assert a1["days"] <= 90 and a1["days"] == pytest.approx(90, rel=1e-3)
    price = h100.latest_price(PriceKind.ON_DEMAND)
    assert price is not None and a1["cost_usd"] == pytest.approx(gpu_seconds / 3600 * price.usd)


def test_ten_trillion_row_and_compute_input() -> None:
    a1 = _json("--params", "10T", "--mfu", "0.4")["laws"]["chinchilla_approach1"]
    # Table 3, 10T row: 1.30e28 FLOPs, 22,515.9 Gopher units, 216.2T tokens
    assert _rel(a1["tokens"], 216.2e12) < 0.02 and _rel(a1["flops"], 1.30e28) < 0.02
    assert _rel(a1["gopher_units"], 22515.9) < 0.02
    data = _json("--compute", "1.27e26", "--mfu", "0.4")
    assert data["compute_flops"] == 1.27e26
    assert _rel(data["laws"]["chinchilla_approach1"]["params"], 1e12) < 0.02
    assert all(row["flops"] == pytest.approx(1.27e26) for row in data["laws"].values())


def test_gpus_given_computes_days() -> None:
    data = _json("--compute", "5.76e23", "--gpus", "1024", "--mfu", "0.5", "--gpu-hour-usd", "2")
    for row in data["laws"].values():
        assert row["gpus"] == 1024
        assert row["days"] == pytest.approx(5.76e23 / (1024 * 989e12 * 0.5) / 86400)
        assert row["cost_usd"] == pytest.approx(row["days"] * 24 * 1024 * 2)
    assert data["gpus_given"] == 1024 and data["target_days"] is None


def test_days_as_duration_or_plain_number() -> None:
    weeks = _json("--params", "70B", "--mfu", "0.4", "--days", "12 weeks")
    plain = _json("--params", "70B", "--mfu", "0.4", "--days", "84")
    assert weeks["laws"] == plain["laws"] and weeks["target_days"] == 84
    default = _json("--params", "70B", "--mfu", "0.4")
    assert default["target_days"] == 90
    assert default["laws"]["chinchilla_approach1"]["gpus"] < plain["laws"]["chinchilla_approach1"]["gpus"]


def test_budget_buys_gpus_at_the_hourly_price() -> None:
    data = _json("--budget-usd", "300M", "--accelerator", "a100-80gb-sxm", "--days", "90", "--mfu", "0.4",
                 "--gpu-hour-usd", "2")
    gpus = math.floor(300e6 / (90 * 24 * 2.0))  # 69,444
    assert data["budget_gpus"] == gpus
    assert data["compute_flops"] == pytest.approx(gpus * 90 * 86400 * 312e12 * 0.4)
    a1 = data["laws"]["chinchilla_approach1"]
    assert a1["gpus"] == gpus and a1["days"] == pytest.approx(90)
    assert a1["cost_usd"] == pytest.approx(300e6, rel=1e-4)  # less than one GPU's 90 days short
    catalog_price = catalog.accelerator("a100-80gb-sxm").latest_price(PriceKind.ON_DEMAND)
    assert catalog_price is not None
    from_catalog = _json("--budget-usd", "300M", "--accelerator", "a100-80gb-sxm", "--days", "90 d", "--mfu", "0.4")
    assert from_catalog["gpu_hour_usd"] == catalog_price.usd
    assert from_catalog["budget_gpus"] == math.floor(300e6 / (90 * 24 * catalog_price.usd))


@pytest.mark.parametrize(("args", "message"), [
    (["--compute", "-1e20"], "--compute must be positive"),
    (["--compute", "lots"], "--compute"),
    (["--params", "1T", "--accelerator", "h100-sxn"], "unknown accelerator 'h100-sxn'"),
    (["--budget-usd", "1M", "--accelerator", "h100-pcie"], "no on-demand price for h100-pcie"),
    ([], "exactly one of --compute, --params or --budget-usd"),
    (["--compute", "1e24", "--params", "7B"], "exactly one"),
    (["--params", "7B", "--mfu", "1.5"], "--mfu must be in (0, 1]"),
    (["--params", "7B", "--days", "3 parsecs"], "--days"),
    (["--params", "7B", "--days", "30", "--gpus", "8"], "not both"),
    (["--budget-usd", "10", "--gpu-hour-usd", "2"], "less than one"),
    (["--params", "100M", "-o", "never-written.yaml"], "too small for a Llama-3-style model"),
])
def test_bad_input_exits_2_with_one_line(args: list[str], message: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = _plan(*args, *([] if "--mfu" in args else ["--mfu", "0.4"]))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("plan: ") and message in lines[0], result.stderr
    assert not (tmp_path / "never-written.yaml").exists()


def test_without_a_price_the_cost_is_null() -> None:
    row = _json("--params", "7B", "--accelerator", "h100-pcie", "--mfu", "0.4")["laws"]["chinchilla_approach1"]
    assert row["cost_usd"] is None and row["gpus"] >= 1


def test_mfu_comes_from_the_estimator_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[float, int]] = []

    def estimate_mfu(model_params: float, accelerator: Accelerator, gpus: int) -> float:
        calls.append((model_params, gpus))
        return 0.5 if gpus < 1000 else 0.3  # more GPUs, lower MFU: the GPU count must settle

    monkeypatch.setattr(planner, "estimate_mfu", estimate_mfu)
    report = make_plan(PlanRequest(params="70B"))
    assert "estimate_mfu" in report.mfu_source
    assert {row.mfu for row in report.laws.values()} <= {0.3, 0.5}
    for row in report.laws.values():
        assert row.days <= 90
        assert row.mfu == (0.5 if row.gpus < 1000 else 0.3)
    assert calls and all(params == 70e9 for params, _ in calls)


@pytest.mark.parametrize("params", [300e6, 1e9, 8e9, 70e9, 405e9, 1e12, 10e12])
def test_model_shape_within_five_percent(params: float) -> None:
    model = llama_style_model(params)
    assert _rel(parameter_counts(model).total, params) <= 0.05
    assert model.hidden % 1024 == 0 and model.heads * 128 == model.hidden and model.heads % 8 == 0
    assert model.ffn_hidden == 3.5 * model.hidden


def test_table_names_every_law() -> None:
    result = _plan("--params", "70B", "--mfu", "0.4")
    assert result.exit_code == 0
    for title in ("Chinchilla approach 1", "Chinchilla approach 3", "20 tokens per parameter", "Kaplan et al. 2020"):
        assert title in result.stdout
    assert "--mfu 0.4" in result.stdout


def test_written_scenario_validates_and_runs(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    result = _plan("--params", "1B", "--mfu", "0.4", "--gpus", "16", "-o", str(path), "--json")
    assert result.exit_code == 0, result.output
    planned = json.loads(result.stdout)["laws"]["chinchilla_approach1"]
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Written by `clustersim plan`")
    checked = CliRunner().invoke(main, ["validate", str(path)])
    assert checked.exit_code == 0, checked.output
    scenario = load_scenario(path)
    workload = scenario.workloads[0]
    assert scenario.cluster.gpus == 16 and scenario.cluster.accelerator.name == "h100-sxm"
    assert (workload.parallelism.tp, workload.parallelism.world) == (8, 16)
    assert _rel(parameter_counts(workload.model).total, planned["params"]) <= 0.05
    assert workload.tokens == pytest.approx(planned["tokens"], abs=1)
    assert scenario.pricing.gpu_hour_usd == json.loads(result.stdout)["gpu_hour_usd"]
    report = simulate(scenario)
    run = report.workloads["pretrain"]
    assert run.status == "completed" and run.tokens >= planned["tokens"]


def test_ten_trillion_on_a100_plans_every_law_on_gpus_that_hold_it() -> None:
    """Issue 17: the estimate searched 2,048 A100s, which hold no layout of a 10T model, and aborted."""
    data = _json("--params", "10T", "--accelerator", "a100-80gb-sxm", "--days", "730")
    for law in LAWS:
        row = data["laws"][law]
        assert row["reason"] is None, row["reason"]
        assert row["gpus"] >= row["fewest_gpus"] >= 2 * 10e12 * 16 / 80e9 / 2  # state alone needs 2,000 GPUs
        assert row["mfu_gpus"] >= row["fewest_gpus"] and 0.2 < row["mfu"] < 0.8
        assert row["days"] <= 730 * (1 + 1e-9)
    kaplan = data["laws"]["kaplan2020"]  # a few GPUs would do in 730 days: it gets the fewest that hold it
    assert kaplan["gpus"] == kaplan["fewest_gpus"] and kaplan["days"] < 730
    assert any("finishes early" in note for note in data["notes"])


def test_a_law_that_cannot_be_planned_says_why_and_the_others_are_planned(monkeypatch: pytest.MonkeyPatch) -> None:
    def holds_small_models(model_params: float, accelerator: Accelerator) -> int:
        if model_params > 100e9:
            raise ValueError("no layout fits")
        return 8

    monkeypatch.setattr(planner, "fewest_gpus", holds_small_models)
    monkeypatch.setattr(planner, "estimate_mfu", lambda params, acc, gpus: 0.5)
    monkeypatch.setattr(planner, "mfu_estimate_gpus", lambda params, acc, gpus: gpus)
    report = make_plan(PlanRequest(compute="5.76e23"))  # Kaplan's 804B is the one too big
    kaplan = report.laws.pop("kaplan2020")
    assert kaplan.reason is not None and "no layout fits" in kaplan.reason
    assert kaplan.gpus is kaplan.mfu is kaplan.cost_usd is None and kaplan.params > 100e9
    assert all(row.reason is None and row.mfu == 0.5 and row.gpus for row in report.laws.values())
    result = _plan("--compute", "5.76e23")
    assert result.exit_code == 0 and "not planned" in result.stdout and "no layout fits" in result.stdout


def test_given_gpus_too_few_for_a_model_are_that_laws_reason() -> None:
    data = _json("--compute", "5.76e23", "--gpus", "64")  # 64 H100s hold 68B but not Kaplan's 804B
    kaplan = data["laws"]["kaplan2020"]
    assert kaplan["gpus"] is None and "needs at least 256 h100-sxm" in kaplan["reason"]
    assert data["laws"]["chinchilla_approach1"]["gpus"] == 64 and data["laws"]["chinchilla_approach1"]["reason"] is None


def test_an_unplanned_scenario_law_is_refused_for_o(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def holds_nothing(model_params: float, accelerator: Accelerator) -> int:
        raise ValueError("no layout fits")

    monkeypatch.setattr(planner, "fewest_gpus", holds_nothing)
    result = _plan("--params", "70B", "-o", str(tmp_path / "plan.yaml"))
    assert result.exit_code == 2 and "Chinchilla approach 1 could not be planned" in result.stderr


def test_a_given_mfu_skips_the_memory_check_and_says_so() -> None:
    data = _json("--params", "10T", "--accelerator", "a100-80gb-sxm", "--days", "730", "--mfu", "0.4")
    kaplan = data["laws"]["kaplan2020"]  # arithmetic alone: a handful of GPUs, as documented
    assert kaplan["fewest_gpus"] is None and kaplan["mfu_gpus"] is None and kaplan["gpus"] < 4096
    assert "no memory check" in data["mfu_source"]
    table = _plan("--params", "70B", "--mfu", "0.4").stdout
    searched = next(line for line in table.splitlines() if "MFU searched on" in line)
    assert searched.count(" - ") == len(LAWS)  # nothing searched: printed as '-'
    assert "not planned" not in table
