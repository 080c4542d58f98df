"""Sweep rows as files and records (simulator/experiments/sweep_files.py), the sweep page's plots
(report/sweep_html.py) on synthetic rows, and `run --replicates` with one replicate (no interval)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from simulator.experiments.sweep_files import (
    SweepError,
    columns,
    csv_text,
    file_format,
    flat,
    json_text,
    read_rows,
    write_rows,
)
from simulator.report.experiments import ReplicateRow, ReplicatesReport, SweepFigure, SweepRow
from simulator.report.sweep_html import figure_plot, pareto_plot, rows_html
from simulator.report.sweep_html import objectives as parse_objectives

from .conftest import ROOT

KEYS = ["x.interval", "x.mode"]
COMMON = {"fingerprint": "f1", "scenario_sha256": "abc", "overrides": ["seed=3"], "clustersim_version": "9"}


def _point(interval: str, mode: str, seconds: float, ettr: float, ci95: float | None) -> SweepRow:
    return SweepRow(grid={"x.interval": interval, "x.mode": mode}, grid_si={"x.interval": seconds}, **COMMON,
                    replicates=4, figures={"w.ettr": SweepFigure(mean=ettr, ci95=ci95),
                                           "w.cost_usd": SweepFigure(mean=100.0 * ettr, ci95=None)})


POINTS = [_point("5 min", "sync", 300.0, 0.9, 0.01), _point("5 min", "async", 300.0, 0.92, 0.02),
          _point("1 h", "sync", 3600.0, 0.8, None), _point("1 h", "async", 3600.0, 0.85, 0.03)]
FIGURES = ["w.ettr", "w.cost_usd", "w.lost"]


def _replicate(index: int, value: float | None) -> ReplicateRow:
    return ReplicateRow(grid={"x.interval": "5 min", "x.mode": "sync"}, grid_si={"x.interval": 300.0}, **COMMON,
                        replicate=index, seed=1000 + index, figures={"w.ettr": value, "w.lost": 2.5})


def test_columns_of_both_row_kinds() -> None:
    assert columns(KEYS, ["x.interval"], ["a", "b"], False) == [
        "x.interval", "x.mode", "x.interval_si", "replicates", "fingerprint", "scenario_sha256", "overrides",
        "clustersim_version", "a.mean", "a.ci95", "b.mean", "b.ci95"]
    assert columns(KEYS, [], ["a"], True) == [
        "x.interval", "x.mode", "replicate", "seed", "fingerprint", "scenario_sha256", "overrides",
        "clustersim_version", "a"]


def test_flat_records_hold_numbers_and_none() -> None:
    record = flat(POINTS[2])
    assert record["x.interval_si"] == 3600.0 and record["replicates"] == 4 and record["overrides"] == ["seed=3"]
    assert (record["w.ettr.mean"], record["w.ettr.ci95"]) == (0.8, None)
    assert "w.lost.mean" not in record
    replicate = flat(_replicate(1, None))
    assert (replicate["replicate"], replicate["seed"], replicate["w.ettr"], replicate["w.lost"]) == (1, 1001, None, 2.5)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl"])
def test_both_row_kinds_round_trip_through_every_format(tmp_path: Path, suffix: str) -> None:
    header = columns(KEYS, ["x.interval"], FIGURES, False)
    out = tmp_path / f"points{suffix}"
    write_rows(out, POINTS, header)
    assert read_rows(out, KEYS, header, False) == POINTS
    replicates = [_replicate(0, 0.5), _replicate(1, None)]
    header = columns(KEYS, ["x.interval"], ["w.ettr", "w.lost"], True)
    out = tmp_path / f"replicates{suffix}"
    write_rows(out, replicates, header)
    assert read_rows(out, KEYS, header, True) == replicates
    assert file_format(out) == suffix[1:]


def test_csv_cells_empty_where_there_is_no_number() -> None:
    text = csv_text(POINTS[2:3], columns(KEYS, ["x.interval"], FIGURES, False))
    assert text.splitlines()[1] == '1 h,sync,3600.0,4,f1,abc,"[""seed=3""]",9,0.8,,80.0,,,'
    assert json.loads(json_text(POINTS))[0]["figures"]["w.ettr"] == {"mean": 0.9, "ci95": 0.01}


def test_rows_of_other_grid_keys_or_broken_lines_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "points.jsonl"
    write_rows(out, POINTS, [])
    with pytest.raises(SweepError, match=r"has rows for grid keys x\.interval, x\.mode, not x\.interval"):
        read_rows(out, ["x.interval"], [], False)
    csv_out = tmp_path / "points.csv"
    header = columns(KEYS, ["x.interval"], FIGURES, False)
    write_rows(csv_out, POINTS, header)
    csv_out.write_text(csv_out.read_text(encoding="utf-8") + "1 h,async\n", encoding="utf-8")
    with pytest.raises(SweepError, match=r"points\.csv:6: 2 cells, the header has 14"):
        read_rows(csv_out, KEYS, header, False)
    assert read_rows(tmp_path / "missing.csv", KEYS, header, False) == []


def test_figure_plot_has_a_line_per_value_of_the_second_key_with_error_bars() -> None:
    figure = figure_plot(POINTS, "w.ettr")
    assert [trace["name"] for trace in figure["data"]] == ["x.mode=sync", "x.mode=async"]
    sync = figure["data"][0]
    assert sync["x"] == [300.0, 3600.0] and sync["y"] == [0.9, 0.8]
    assert sync["error_y"]["array"] == [0.01, None]
    assert sync["text"][0] == "x.interval = 5 min<br>x.mode = sync"
    assert figure["layout"]["xaxis"]["title"]["text"] == "x.interval (SI)"
    lacking = figure_plot(POINTS, "w.lost")  # a figure no point has: gaps, not an error
    assert lacking["data"][0]["y"] == [None, None]


def test_figure_plot_uses_the_values_as_given_without_si_values() -> None:
    rows = [SweepRow(grid={"x.policy": p}, **COMMON, replicates=1, figures={"w.ettr": SweepFigure(mean=v, ci95=None)})
            for p, v in (("fixed", 0.7), ("young", 0.8))]
    figure = figure_plot(rows, "w.ettr")
    assert figure["data"][0]["x"] == ["fixed", "young"] and figure["layout"]["showlegend"] is False
    assert figure["layout"]["xaxis"]["title"]["text"] == "x.policy"


def test_pareto_plot_highlights_the_non_dominated_points() -> None:
    goals = parse_objectives("w.cost_usd,w.ettr", FIGURES)
    figure = pareto_plot(POINTS, goals)
    everything, front = figure["data"]
    assert len(everything["x"]) == 4
    # cost = 100 ettr: every point trades cost for ETTR, so none is dominated; sorted by cost
    assert front["x"] == [80.0, 85.0, 90.0, 92.0]
    assert "lower cost_usd is better, higher ettr is better" in figure["layout"]["title"]["text"]
    worse = [*POINTS, _point("2 h", "sync", 7200.0, 0.7, None).model_copy(
        update={"figures": {"w.ettr": SweepFigure(mean=0.7, ci95=None), "w.cost_usd": SweepFigure(mean=95.0,
                                                                                                 ci95=None)}})]
    assert pareto_plot(worse, goals)["data"][1]["x"] == [80.0, 85.0, 90.0, 92.0]  # 0.7 at $95: dominated


def test_rows_html_escapes_and_shortens_the_keys() -> None:
    rows = [POINTS[0].model_copy(update={"grid": {"x.interval": "<5 min>", "x.mode": "sync"}})]
    text = rows_html(rows, ["w.ettr"])
    assert "&lt;5 min&gt;" in text and "<5 min>" not in text
    assert '<th class="key">interval</th>' in text and "<code>x.</code>" in text


def test_one_replicate_has_no_interval() -> None:
    result = CliRunner().invoke(main, ["run", str(ROOT / "scenarios" / "quickstart.yaml"), "--replicates", "1",
                                       "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = ReplicatesReport.model_validate_json(result.stdout)
    stats = report.figures["simulated_s"]
    assert (stats.n, stats.ci95_low, stats.ci95_high) == (1, None, None)
    table = CliRunner().invoke(main, ["run", str(ROOT / "scenarios" / "quickstart.yaml"), "--replicates", "1",
                                      "--workers", "1"])
    assert table.exit_code == 0 and "none for one replicate" in table.stdout
