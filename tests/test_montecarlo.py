"""Monte Carlo replicates: aggregation on synthetic reports, seed derivation, the deterministic quickstart,
pool vs in-process, and `clustersim run --replicates`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from simulator.experiments.montecarlo import (
    aggregate,
    leaves,
    replicate_seeds,
    run_replicates,
    simulate_seeds,
    summarize,
)
from simulator.plan.load import load_scenario
from simulator.report.experiments import ReplicatesReport
from simulator.run import simulate

from .conftest import ROOT

QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
# GPU failures every 200 h per GPU on 32 GPUs for ~10 h: a few interruptions per run, so replicates differ
FAILING = ["failures={components: [{name: gpu, scope: gpu, mtbf: 200 h}]}",
           "workloads.pretrain.checkpoint={policy: fixed, interval: 30 min}"]


def _report(value: float, status: str, finished: float | None, seed: int) -> dict[str, Any]:
    return {
        "scenario": "synthetic", "seed": seed, "clustersim_version": "0", "wall_s": 0.5, "simulated_s": value,
        "cluster": {"gpus": 8, "utilization": value / 10},
        "workloads": {"job": {"status": status, "fits": True, "finished_s": finished, "interruptions": int(value),
                              "by_cause": {"gpu": 1}, "nested": {"wall_s": 99.0}}},
        "notes": ["one", "two"], "samples": [value, 2 * value],
    }


def test_summarize_known_values() -> None:
    stats = summarize([1.0, 2.0, 3.0, 4.0])
    std = math.sqrt(5 / 3)  # sample standard deviation, divisor n - 1
    assert stats.n == 4
    assert stats.mean == 2.5
    assert stats.std == pytest.approx(std, rel=1e-12)
    t3 = 3.182446305283707  # t(0.975, 3): Student's t with n - 1 degrees of freedom, not 1.96
    assert stats.ci95_low == pytest.approx(2.5 - t3 * std / 2, rel=1e-12)
    assert stats.ci95_high == pytest.approx(2.5 + t3 * std / 2, rel=1e-12)
    assert (stats.min, stats.max) == (1.0, 4.0)
    one = summarize([7.25])
    assert (one.mean, one.std, one.ci95_low, one.ci95_high) == (7.25, 0.0, None, None)  # no interval from one
    rng = np.random.default_rng(1)
    data = rng.normal(10.0, 3.0, 1000)
    big = summarize(list(data))
    assert big.mean == pytest.approx(float(np.mean(data)), rel=1e-12)
    assert big.std == pytest.approx(float(np.std(data, ddof=1)), rel=1e-12)
    assert big.ci95_high is not None
    assert big.ci95_high - big.mean == pytest.approx(1.9623414611335215 * big.std / math.sqrt(1000), rel=1e-12)


def test_identical_values_give_that_value_and_zero_spread() -> None:
    for value in (0.1, 36920.61234567, 1e-300, 3.0):
        stats = summarize([value] * 200)
        assert (stats.mean, stats.std, stats.ci95_low, stats.ci95_high) == (value, 0.0, value, value)


def test_aggregate_synthetic_reports() -> None:
    reports = [_report(1.0, "completed", 5.0, 11), _report(2.0, "running", None, 12),
               _report(6.0, "completed", 7.0, 13)]
    result = aggregate(reports, [11, 12, 13], root_seed=4)
    assert (result.scenario, result.seed, result.replicates, result.seeds) == ("synthetic", 4, 3, [11, 12, 13])
    figures = result.figures
    assert figures["simulated_s"].mean == 3.0
    assert figures["simulated_s"].std == pytest.approx(math.sqrt(7.0), rel=1e-12)  # deviations -2, -1, 3
    assert figures["simulated_s"].ci95_high == pytest.approx(3.0 + 4.302652729749458 * math.sqrt(7.0 / 3.0),
                                                             rel=1e-12)  # t(0.975, 2)
    assert figures["cluster.utilization"].mean == pytest.approx(0.3)
    assert figures["workloads.job.interruptions"].max == 6.0
    assert figures["workloads.job.by_cause.gpu"].std == 0.0
    assert figures["samples.1"].mean == 6.0  # list items by index
    finished = figures["workloads.job.finished_s"]  # null in one replicate: summarised over the other two
    assert (finished.n, finished.mean, finished.min, finished.max) == (2, 6.0, 5.0, 7.0)
    assert figures["cluster.gpus"].n == 3
    # wall_s (at any depth) and seed are not figures; strings and booleans are modes
    assert not {"wall_s", "seed", "workloads.job.nested.wall_s", "workloads.job.status"} & figures.keys()
    assert result.modes["workloads.job.status"].model_dump() == {"mode": "completed", "count": 2, "distinct": 2}
    assert result.modes["workloads.job.fits"].mode is True
    assert result.modes["notes.1"].mode == "two"
    assert "scenario" not in result.modes
    assert result.workloads == ["job"]
    assert result.wall_s == 1.5  # the replicates' own wall times, summed
    assert "workloads.job.ettr" in result.headline


def test_aggregate_needs_one_report_per_seed() -> None:
    with pytest.raises(ValueError, match="one report per seed"):
        aggregate([_report(1.0, "completed", 1.0, 1)], [1, 2])


def test_leaves_are_dotted_paths_in_document_order() -> None:
    assert list(leaves({"a": {"b": 1, "c": [2, {"d": 3}]}, "seed": 4, "e": None})) == [
        ("a.b", 1), ("a.c.0", 2), ("a.c.1.d", 3), ("e", None)
    ]


def test_seeds_are_spawned_children_distinct_and_reproducible() -> None:
    seeds = replicate_seeds(42, 1000)
    assert seeds == replicate_seeds(42, 1000)
    assert len(set(seeds)) == 1000
    children = np.random.SeedSequence(42).spawn(1000)
    assert seeds[:5] == [int(c.generate_state(1)[0]) for c in children[:5]]
    assert replicate_seeds(42, 10) == seeds[:10]  # child i does not depend on N
    assert set(replicate_seeds(43, 1000)).isdisjoint(seeds[:3])
    assert all(0 <= s < 2**32 for s in seeds)


def test_quickstart_replicates_have_zero_spread_and_the_single_run_values() -> None:
    scenario = load_scenario(QUICKSTART)
    single = {path: value for path, value in leaves(simulate(scenario).model_dump(mode="json"))
              if isinstance(value, int | float) and not isinstance(value, bool)}
    result = run_replicates(scenario, 20, workers=1)
    assert result.replicates == 20 and result.seed == 42 and result.scenario == "quickstart"
    assert result.seeds == replicate_seeds(42, 20)
    assert result.figures.keys() == single.keys()
    for path, value in single.items():
        stats = result.figures[path]
        assert (stats.mean, stats.std, stats.min, stats.max, stats.n) == (value, 0.0, value, value, 20), path
        assert stats.ci95_low == stats.ci95_high == value
    assert result.modes["workloads.pretrain.status"].count == 20


def test_pool_and_in_process_give_identical_reports_and_replicates_vary() -> None:
    scenario = load_scenario(QUICKSTART, FAILING)
    in_process = run_replicates(scenario, 12, workers=1)
    pooled = run_replicates(scenario, 12, workers=2)
    assert in_process.model_dump(exclude={"wall_s"}) == pooled.model_dump(exclude={"wall_s"})
    interruptions = in_process.figures["workloads.pretrain.interruptions"]
    assert interruptions.std > 0 and interruptions.min < interruptions.max  # the seeds really differ
    # replicate i is the scenario run with seed i
    first = simulate_seeds(scenario, in_process.seeds[:1])[0]
    direct = simulate(scenario.model_copy(update={"seed": in_process.seeds[0]}), series=False).model_dump(mode="json")
    assert {k: v for k, v in first.items() if k != "wall_s"} == {k: v for k, v in direct.items() if k != "wall_s"}
    assert first["seed"] == in_process.seeds[0]


def test_progress_counts_every_replicate() -> None:
    scenario = load_scenario(QUICKSTART)
    seen: list[int] = []
    run_replicates(scenario, 5, workers=1, progress=seen.append)
    assert sum(seen) == 5


def test_cli_run_replicates_json_is_reproducible(tmp_path: Path) -> None:
    out = tmp_path / "replicates.json"
    args = ["run", str(QUICKSTART), "--replicates", "6", "--workers", "1", *(x for s in FAILING for x in ("--set", s))]
    first = CliRunner().invoke(main, [*args, "--json", "-o", str(out)])
    assert first.exit_code == 0, first.output
    printed = ReplicatesReport.model_validate_json(first.stdout)
    written = ReplicatesReport.model_validate_json(out.read_text(encoding="utf-8"))
    assert printed == written
    second = ReplicatesReport.model_validate_json(CliRunner().invoke(main, [*args, "--json"]).stdout)
    assert printed.model_dump(exclude={"wall_s"}) == second.model_dump(exclude={"wall_s"})
    assert printed.figures["workloads.pretrain.ettr"].std > 0
    data = json.loads(first.stdout)
    assert set(data["figures"]["simulated_s"]) == {"n", "mean", "std", "ci95_low", "ci95_high", "min", "max"}


def test_cli_run_replicates_table() -> None:
    result = CliRunner().invoke(main, ["run", str(QUICKSTART), "--replicates", "3", "--workers", "1"])
    assert result.exit_code == 0, result.output
    for text in ("3 replicates", "± 95 % CI", "workloads.pretrain", "ettr", "lost_gpu_hours", "Student's t",
                 "t(0.975, n - 1)"):
        assert text in result.stdout
