"""Issue 17, item 4: sweeps you can analyse. --figure paths (checked before running), SI grid columns,
--per-replicate rows, Student-t intervals, the 80-column table, the HTML page with its Pareto view, and the
Python API (rows as plain dicts)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from cli import main
from simulator.experiments import sweep as sweep_module
from simulator.experiments.montecarlo import replicate_seeds
from simulator.experiments.student_t import t_quantile
from simulator.experiments.sweep import sweep
from simulator.experiments.sweep_figures import FigureError, check_figure, grid_si, point_figures, replicate_figures
from simulator.experiments.sweep_files import SweepError, columns
from simulator.plan.load import load_scenario
from simulator.report.experiments import ReplicateRow, SweepFigure, SweepRow
from simulator.report.figures import sweep_paths
from simulator.report.sweep_html import Objective, objectives, pareto_front, sweep_html
from simulator.report.sweep_table import shared_prefix, sweep_table
from simulator.run import simulate

from .conftest import ROOT

QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
FAILING = ["failures={components: [{name: gpu, scope: gpu, mtbf: 200 h}]}",
           "workloads.pretrain.checkpoint.policy=fixed"]
SETS = [x for s in FAILING for x in ("--set", s)]
GRID = ["--grid", "workloads.pretrain.checkpoint.interval=15 min,2 h"]
FIGURES = ["--figure", "workloads.pretrain.ettr", "--figure", "workloads.pretrain.lost_gpu_hours"]


def _sweep(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["sweep", QUICKSTART, *SETS, *GRID, "--workers", "1", *args])
    return result.exit_code, result.stdout, result.stderr


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_default_figures_add_mfu_step_time_tokens_and_serving_latency() -> None:
    paths = sweep_paths({"train": "training", "serve": "inference"})
    for path in ("workloads.train.mfu", "workloads.train.step_time_s", "workloads.train.tokens_per_s",
                 "workloads.train.ettr", "workloads.serve.ttft_s.p50", "workloads.serve.ttft_s.p99",
                 "workloads.serve.throughput_tokens_per_s", "cluster.utilization", "simulated_s"):
        assert path in paths
    assert "workloads.serve.mfu" not in paths and "workloads.train.ttft_s.p50" not in paths


def test_figure_paths_are_checked_against_the_report_model() -> None:
    scenarios = [load_scenario(QUICKSTART)]
    for path in ("workloads.pretrain.mfu", "cluster.utilization", "cluster.hottest_links.0.utilization",
                 "cluster.link_utilization.nic", "workloads.pretrain.interruptions_by_cause.gpu",
                 "workloads.pretrain.step_breakdown.compute_s", "tenants.anyone.gpu_hours"):
        check_figure(path, scenarios)
    for path, words in (("workloads.pretrain.mfuu", "did you mean mfu"), ("workloads.pretrian.mfu", "pretrain"),
                        ("workloads.pretrain.status", "not a number"), ("seed", "the report has no 'seed'"),
                        ("workloads.pretrain.ttft_s.p50", "workloads.pretrain has no 'ttft_s'"),
                        ("workloads.pretrain", "below it: kind, status")):
        with pytest.raises(FigureError, match="--figure") as caught:
            check_figure(path, scenarios)
        assert words in str(caught.value), caught.value


def test_an_unknown_figure_exits_2_before_anything_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_runs(*args: object, **kwargs: object) -> None:
        raise AssertionError("a point ran")

    monkeypatch.setattr(sweep_module, "run_batches", no_runs)
    code, _, err = _sweep("--figure", "workloads.pretrain.ettr", "--figure", "cluster.utilisation")
    assert code == 2
    assert "--figure cluster.utilisation: cluster has no 'utilisation'; did you mean utilization" in err


def test_replicate_figures_read_leaves_by_index_or_name() -> None:
    report = simulate(load_scenario(QUICKSTART), series=False).model_dump(mode="json")
    link = report["cluster"]["hottest_links"][0]
    found = replicate_figures(report, ["workloads.pretrain.mfu", "cluster.hottest_links.0.utilization",
                                       f"cluster.hottest_links.{link['name']}.utilization", "cluster.nothing",
                                       "workloads.pretrain.status"])
    assert found["workloads.pretrain.mfu"] == report["workloads"]["pretrain"]["mfu"]
    assert found["cluster.hottest_links.0.utilization"] == link["utilization"]
    assert found[f"cluster.hottest_links.{link['name']}.utilization"] == link["utilization"]
    assert found["cluster.nothing"] is None and found["workloads.pretrain.status"] is None


def test_point_figures_use_student_t_and_leave_out_missing_figures() -> None:
    replicates = [{"a": 1.0, "b": None, "c": None}, {"a": 2.0, "b": 5.0, "c": None}, {"a": 6.0, "b": None, "c": None}]
    figures = point_figures(replicates, ["a", "b", "c"])
    assert figures["a"].mean == 3.0
    assert figures["a"].ci95 == pytest.approx(t_quantile(0.975, 2) * math.sqrt(7.0) / math.sqrt(3), rel=1e-12)
    assert figures["b"] == SweepFigure(mean=5.0, ci95=None)  # one number: no interval
    assert "c" not in figures


def test_grid_values_in_si_from_the_validated_scenario() -> None:
    keys = ["cluster.topology.nic_bandwidth", "workloads.pretrain.checkpoint.interval", "cluster.nodes",
            "workloads.pretrain.checkpoint"]
    scenarios = [load_scenario(QUICKSTART, [f"{keys[0]}={nic}", f"{keys[1]}={every}"])
                 for nic, every in (("100 Gbps", "5 min"), ("3.2 Tbps", "1.5 h"))]
    assert grid_si(scenarios, keys) == [
        {keys[0]: 12.5e9, keys[1]: 300.0, keys[2]: 4.0}, {keys[0]: 400e9, keys[1]: 5400.0, keys[2]: 4.0}]


def test_csv_rows_have_si_columns_figures_and_t_intervals(tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    code, printed, err = _sweep("--replicates", "3", *FIGURES, "-o", str(out))
    assert code == 0, err
    assert "sweep: wrote 2 rows to" in err and "workloads.pretrain.checkpoint.<key>" in printed  # a table
    rows = _csv(out)
    key = "workloads.pretrain.checkpoint.interval"
    assert list(rows[0]) == columns([key], [key], ["workloads.pretrain.ettr", "workloads.pretrain.lost_gpu_hours"],
                                    False)
    assert [r["workloads.pretrain.checkpoint.interval_si"] for r in rows] == ["900.0", "7200.0"]
    per_replicate = sweep(QUICKSTART, {"workloads.pretrain.checkpoint.interval": ["15 min", "2 h"]}, FAILING, 3,
                          ["workloads.pretrain.ettr"], per_replicate=True).records()
    values = [r["workloads.pretrain.ettr"] for r in per_replicate[:3]]
    mean = sum(values) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    assert float(rows[0]["workloads.pretrain.ettr.mean"]) == pytest.approx(mean, rel=1e-12)
    assert float(rows[0]["workloads.pretrain.ettr.ci95"]) == pytest.approx(t_quantile(0.975, 2) * std / math.sqrt(3),
                                                                          rel=1e-9)


def test_per_replicate_rows_carry_index_seed_and_values_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "replicates.csv"
    code, _, err = _sweep("--replicates", "3", *FIGURES, "--per-replicate", "-o", str(out))
    assert code == 0, err
    rows = _csv(out)
    seeds = [str(s) for s in replicate_seeds(42, 3)]
    assert [(r["workloads.pretrain.checkpoint.interval"], r["replicate"], r["seed"]) for r in rows] == [
        ("15 min", str(i), seeds[i]) for i in range(3)] + [("2 h", str(i), seeds[i]) for i in range(3)]
    assert "workloads.pretrain.ettr" in rows[0] and "workloads.pretrain.ettr.mean" not in rows[0]
    full = out.read_text(encoding="utf-8")
    out.write_text("".join(full.splitlines(keepends=True)[:4]), encoding="utf-8")  # the first point only
    code, _, err = _sweep("--replicates", "3", *FIGURES, "--per-replicate", "-o", str(out))
    assert code == 0 and "1 already in" in err and "running 1" in err
    assert out.read_text(encoding="utf-8") == full
    code, _, err = _sweep("--replicates", "3", *FIGURES, "-o", str(out))  # a row per point: another sweep
    assert code == 2 and "columns differ" in err and "--per-replicate" in err


def test_json_per_replicate_and_another_row_kind_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "replicates.jsonl"
    assert _sweep("--replicates", "2", *FIGURES, "--per-replicate", "-o", str(out))[0] == 0
    rows = [ReplicateRow.model_validate_json(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r.replicate, r.grid_si) for r in rows[:2]] == [(0, {"workloads.pretrain.checkpoint.interval": 900.0}),
                                                           (1, {"workloads.pretrain.checkpoint.interval": 900.0})]
    code, _, err = _sweep("--replicates", "2", *FIGURES, "-o", str(out))
    assert code == 2 and "cannot resume from it: this sweep writes a row per point" in err
    code, _, err = _sweep("--replicates", "2", "--figure", "workloads.pretrain.ettr", "--per-replicate", "-o", str(out))
    assert code == 2 and "workloads.pretrain.lost_gpu_hours is not a --figure of this sweep" in err


def test_an_old_format_csv_is_refused_clearly(tmp_path: Path) -> None:
    out = tmp_path / "old.csv"
    old = ("workloads.pretrain.checkpoint.interval,replicates,fingerprint,scenario_sha256,overrides,"
           "clustersim_version,simulated_s.mean,simulated_s.ci95\n15 min,1,abc,def,[],0.1.0,1.0,0.0\n")
    out.write_text(old, encoding="utf-8")
    code, _, err = _sweep("-o", str(out))
    assert code == 2 and "older clustersim without the _si columns" in err and "--fresh" in err
    assert out.read_text(encoding="utf-8") == old


def test_same_seeds_give_the_same_rows_and_records_are_plain() -> None:
    grid = {"workloads.pretrain.checkpoint.interval": ["15 min", "2 h"], "workloads.pretrain.recovery.restart":
            ["1 min", "10 min"]}
    first = sweep(QUICKSTART, grid, FAILING, replicates=2)
    again = sweep(QUICKSTART, grid, FAILING, replicates=2, workers=2)
    assert first.records() == again.records()
    records = first.records()
    assert len(records) == 4 and json.loads(json.dumps(records)) == records  # plain JSON-able dicts
    assert records[3]["workloads.pretrain.recovery.restart_si"] == 600.0
    assert records[0]["workloads.pretrain.mfu.mean"] == first.points[0].figures["workloads.pretrain.mfu"].mean
    assert [p.grid for p in first.points] == [r.grid for r in first.rows]


def test_shared_prefix_of_grid_keys() -> None:
    assert shared_prefix(["workloads.a.checkpoint.interval", "workloads.a.recovery.restart"]) == "workloads.a."
    assert shared_prefix(["workloads.a.checkpoint.interval"]) == "workloads.a.checkpoint."
    assert shared_prefix(["cluster.nodes", "seed"]) == ""


def _rows(points: int, figures: list[str]) -> list[SweepRow]:
    return [SweepRow(grid={"workloads.llama3-405b.checkpoint.interval": f"{i} min",
                           "workloads.llama3-405b.recovery.restart": "2 min"},
                     grid_si={"workloads.llama3-405b.checkpoint.interval": 60.0 * i}, fingerprint="f",
                     scenario_sha256="s", overrides=[], clustersim_version="0", replicates=8,
                     figures={f: SweepFigure(mean=0.9 - i / 100, ci95=0.0123) for f in figures}) for i in range(points)]


def _printed(rows: list[SweepRow], figures: list[str]) -> str:
    console = Console(width=80, record=True)
    console.print(sweep_table(rows, figures, "clustersim sweep: test"))
    return console.export_text()


def test_the_table_fits_80_columns_with_the_prefix_in_a_caption() -> None:
    figures = ["workloads.llama3-405b.ettr", "cluster.cost_usd"]
    text = _printed(_rows(3, figures), figures)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "checkpoint.interval" in text and "grid: workloads.llama3-405b.<key>" in text
    assert "89.00% ± 1.23%" in text and "Student-t 95 %" in text
    many = sweep_paths({"llama3-405b": "training"})
    text = _printed(_rows(7, many), many)  # too wide: transposed, in several tables
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "rows 1-" in text and "of 7" in text and "lost_gpu_hours" in text


def test_pareto_front_and_objectives() -> None:
    goals = (Objective("cost_usd", higher=False), Objective("ettr", higher=True))
    values = [(10.0, 0.9), (12.0, 0.95), (11.0, 0.85), None, (10.0, 0.9), (15.0, 0.95)]
    assert pareto_front(values, goals) == [True, True, False, False, True, False]  # ties both stay
    cost, ettr = objectives("workloads.a.cost_usd,workloads.a.ettr", ["workloads.a.cost_usd", "workloads.a.ettr"])
    assert (cost.higher, ettr.higher) == (False, True) and ettr.words == "higher ettr is better"
    assert objectives("max:a,min:b", ["a", "b"]) == (Objective("a", True), Objective("b", False))
    for text in ("a", "a,b,c", "a,x", "best:a,b"):
        with pytest.raises(ValueError, match="--pareto"):
            objectives(text, ["a", "b"])


def test_html_page_has_a_plot_per_figure_the_pareto_view_and_the_table() -> None:
    figures = ["workloads.llama3-405b.ettr", "workloads.llama3-405b.cost_usd"]
    page = sweep_html(_rows(3, figures), figures, "clustersim sweep: test",
                      objectives(",".join(reversed(figures)), figures))
    assert page.startswith("<!DOCTYPE html>") and "https://" not in page.split("<body>")[1]
    assert page.count('class="plot" id="figure-') == 2 and 'id="pareto"' in page
    assert "lower cost_usd is better, higher ettr is better" in page
    assert "workloads.llama3-405b.checkpoint.interval (SI)" in page  # numeric x axis from the SI values
    assert "<td>89.00% ± 1.23%</td>" in page and "workloads.llama3-405b.recovery.restart = 2 min" in page


def test_cli_html_and_pareto(tmp_path: Path) -> None:
    page = tmp_path / "sweep.html"
    code, printed, err = _sweep("--replicates", "2", *FIGURES, "--html", str(page), "--pareto",
                                "workloads.pretrain.lost_gpu_hours,workloads.pretrain.ettr", "--csv")
    assert code == 0, err
    assert printed.startswith("workloads.pretrain.checkpoint.interval,workloads.pretrain.checkpoint.interval_si,")
    assert "lower lost_gpu_hours is better, higher ettr is better" in page.read_text(encoding="utf-8")
    code, _, err = _sweep(*FIGURES, "--pareto", "workloads.pretrain.ettr,cluster.cost_usd")
    assert code == 2 and "'cluster.cost_usd' is not [max:|min:]FIGURE" in err


def test_prepare_refuses_an_unreadable_resume_file(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    out.write_text("[{\"grid\": 1}]", encoding="utf-8")
    with pytest.raises(SweepError, match="cannot resume from it"):
        sweep_module.prepare(QUICKSTART, ["cluster.nodes=4,8"], [], out)


def test_the_python_api_resumes_an_output_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "api.jsonl"
    grid = {"workloads.pretrain.checkpoint.interval": ["15 min", "2 h"]}
    first = sweep(QUICKSTART, grid, FAILING, replicates=2, figures=["workloads.pretrain.ettr"], output=out)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2

    def no_runs(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished point ran again")

    monkeypatch.setattr(sweep_module, "run_batches", lambda *args, **kwargs: iter(()))
    again = sweep(QUICKSTART, grid, FAILING, replicates=2, figures=["workloads.pretrain.ettr"], output=out)
    assert again.records() == first.records() and again.points == first.points
    monkeypatch.setattr(sweep_module, "run_batches", no_runs)
    with pytest.raises(AssertionError, match="ran again"):
        sweep(QUICKSTART, grid, FAILING, replicates=2, figures=["workloads.pretrain.ettr"], output=out, fresh=True)
