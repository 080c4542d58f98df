"""`clustersim sweep`: grid expansion, rows with the right values, CSV/JSON output, resume, and invalid points
failing the whole sweep before anything runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from simulator.experiments import sweep as sweep_module
from simulator.experiments.sweep import SweepError, point_key, prepare
from simulator.plan.load import load_scenario
from simulator.report.experiments import SweepRow
from simulator.run import simulate
from simulator.scenario.overrides import parse_axes, variants

from .conftest import ROOT

QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
GRID = ["--grid", "cluster.topology.nic_bandwidth=100 Gbps,400 Gbps", "--grid", "cluster.nodes=4,8",
        "--set", "workloads.pretrain.parallelism.dp=32"]
POINTS = [("100 Gbps", "4"), ("100 Gbps", "8"), ("400 Gbps", "4"), ("400 Gbps", "8")]


def _sweep(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["sweep", QUICKSTART, *GRID, "--workers", "1", *args])
    return result.exit_code, result.stdout, result.stderr


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_grid_points_are_keyed_by_their_values_as_given() -> None:
    """The --grid syntax itself is tested in test_overrides.py."""
    points = variants(parse_axes("--grid", ["a.b=1,2", "c={x: 1, y: 2},[3, 4]"]))
    assert [point_key(p) for p in points] == [("1", "{x: 1, y: 2}"), ("1", "[3, 4]"), ("2", "{x: 1, y: 2}"),
                                              ("2", "[3, 4]")]
    assert points[1].label == "a.b=1 c=[3, 4]"
    with pytest.raises(SweepError, match="at least one --grid"):
        prepare(QUICKSTART, [], [], None)


def test_sweep_writes_one_row_per_point_with_the_right_values(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    code, _, err = _sweep("--replicates", "2", "-o", str(out))
    assert code == 0, err
    rows = _csv(out)
    assert [(r["cluster.topology.nic_bandwidth"], r["cluster.nodes"]) for r in rows] == POINTS
    header = list(rows[0])
    assert header[:5] == ["cluster.topology.nic_bandwidth", "cluster.nodes", "cluster.topology.nic_bandwidth_si",
                          "cluster.nodes_si", "replicates"]
    assert [(float(r["cluster.topology.nic_bandwidth_si"]), float(r["cluster.nodes_si"])) for r in rows] == [
        (12.5e9, 4.0), (12.5e9, 8.0), (50e9, 4.0), (50e9, 8.0)]  # bytes/s; plain numbers pass through
    assert {"simulated_s.mean", "simulated_s.ci95", "cluster.cost_usd.mean", "workloads.pretrain.ettr.ci95",
            "workloads.pretrain.lost_gpu_hours.mean", "workloads.pretrain.interruptions.mean"} <= set(header)
    for row, (nic, nodes) in zip(rows, POINTS, strict=True):
        scenario = load_scenario(QUICKSTART, ["workloads.pretrain.parallelism.dp=32",
                                              f"cluster.topology.nic_bandwidth={nic}", f"cluster.nodes={nodes}"])
        report = simulate(scenario)
        assert row["replicates"] == "2"
        assert float(row["simulated_s.mean"]) == report.simulated_s
        assert float(row["cluster.utilization.mean"]) == report.cluster.utilization
        assert float(row["workloads.pretrain.cost_usd.mean"]) == report.workloads["pretrain"].cost_usd
        assert float(row["simulated_s.ci95"]) == 0.0
    assert float(rows[1]["cluster.utilization.mean"]) == 0.5  # 32 of 64 GPUs busy
    assert float(rows[2]["simulated_s.mean"]) < float(rows[0]["simulated_s.mean"])  # faster NICs, shorter run


def test_resume_skips_finished_points(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    assert _sweep("-o", str(out))[0] == 0
    full = out.read_text(encoding="utf-8")
    lines = full.splitlines(keepends=True)
    out.write_text("".join(lines[:3]) + lines[3][:20], encoding="utf-8")  # two rows, then an interrupted third
    code, _, err = _sweep("-o", str(out))
    assert code == 0, err
    assert "2 already in" in err and "running 2" in err
    assert out.read_text(encoding="utf-8") == full  # same rows, same order
    code, _, err = _sweep("-o", str(out))
    assert "4 already in" in err and "running 0" in err
    assert len(_csv(out)) == 4


def test_resume_refuses_a_file_of_another_sweep(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    out.write_text("cluster.nodes,replicates\n4,1\n", encoding="utf-8")
    code, _, err = _sweep("-o", str(out))
    assert code == 2
    assert "columns differ" in err
    assert out.read_text(encoding="utf-8") == "cluster.nodes,replicates\n4,1\n"


def test_invalid_grid_values_fail_before_anything_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_runs(*args: object, **kwargs: object) -> None:
        raise AssertionError("a point ran before every point was validated")

    monkeypatch.setattr(sweep_module, "run_batches", no_runs)
    out = tmp_path / "results.csv"
    result = CliRunner().invoke(main, ["sweep", QUICKSTART, "--set", "workloads.pretrain.parallelism.dp=32",
                                       "--grid", "cluster.nodes=4,lots", "-o", str(out)])
    assert result.exit_code == 2
    assert "--grid:1: cluster.nodes: Input should be a valid integer" in result.stderr
    assert "grid point cluster.nodes=lots" in result.stderr
    assert not out.exists()
    result = CliRunner().invoke(main, ["sweep", QUICKSTART, "--set", "workloads.pretrain.parallelism.dp=32",
                                       "--grid", "cluster.nodes=8,3"])
    assert result.exit_code == 2
    assert "--set:1: workloads.pretrain.parallelism:" in result.stderr  # 32 GPUs do not fit in 3 nodes
    result = CliRunner().invoke(main, ["sweep", QUICKSTART, "--grid", "cluster.nodes"])
    assert result.exit_code == 2 and "--grid:1: (document): expected FIELD.PATH=V1,V2,..." in result.stderr


def test_json_outputs(tmp_path: Path) -> None:
    code, printed, _ = _sweep("--json")
    assert code == 0
    rows = [SweepRow.model_validate(r) for r in json.loads(printed)]
    assert [tuple(r.grid.values()) for r in rows] == POINTS
    assert rows[0].figures["simulated_s"].ci95 is None  # one replicate: no interval
    as_list = tmp_path / "results.json"
    as_lines = tmp_path / "results.jsonl"
    for out in (as_list, as_lines):
        assert _sweep("-o", str(out))[0] == 0
        code, _, err = _sweep("-o", str(out))
        assert code == 0 and "4 already in" in err
    listed = [SweepRow.model_validate(r) for r in json.loads(as_list.read_text(encoding="utf-8"))]
    lined = [SweepRow.model_validate_json(line) for line in as_lines.read_text(encoding="utf-8").splitlines()]
    strip = [r.model_dump() for r in rows]
    assert [r.model_dump() for r in listed] == strip == [r.model_dump() for r in lined]


def test_csv_on_stdout_with_csv() -> None:
    code, printed, _ = _sweep("--csv")
    assert code == 0
    records = list(csv.DictReader(printed.splitlines()))
    assert len(records) == 4 and records[3]["cluster.nodes"] == "8"


def test_pool_sweep_matches_in_process(tmp_path: Path) -> None:
    failing = ["--set", "failures={components: [{name: gpu, scope: gpu, mtbf: 200 h}]}",
               "--grid", "workloads.pretrain.checkpoint={policy: fixed, interval: 15 min},"
               "{policy: fixed, interval: 2 h}"]
    outputs = []
    for workers in ("1", "2"):
        result = CliRunner().invoke(main, ["sweep", QUICKSTART, *failing, "--replicates", "6", "--workers", workers,
                                           "--json"])
        assert result.exit_code == 0, result.stderr
        outputs.append(json.loads(result.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0][0]["figures"]["workloads.pretrain.interruptions"]["ci95"] > 0


def test_ray_executor_gives_the_process_pool_s_results(tmp_path: Path) -> None:
    """Issue 8: the same sweep as Ray tasks on a local 2-CPU Ray and on the process pool, resumable."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'clustersim[ray]'); the Ray "
                                            "executor is optional")
    failing = ["--set", "failures={components: [{name: gpu, scope: gpu, mtbf: 200 h}]}",
               "--grid", "workloads.pretrain.checkpoint={policy: fixed, interval: 15 min},"
               "{policy: fixed, interval: 2 h}", "--replicates", "4", "--workers", "2"]
    pooled = CliRunner().invoke(main, ["sweep", QUICKSTART, *failing, "--json"])
    assert pooled.exit_code == 0, pooled.stderr
    out = tmp_path / "ray.jsonl"
    try:
        on_ray = CliRunner().invoke(main, ["sweep", QUICKSTART, *failing, "--executor", "ray", "-o", str(out)])
        assert on_ray.exit_code == 0, on_ray.stderr
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert rows == json.loads(pooled.stdout)
        again = CliRunner().invoke(main, ["sweep", QUICKSTART, *failing, "--executor", "ray", "-o", str(out)])
        assert again.exit_code == 0 and "2 already in" in again.stderr  # resumed: nothing left to run
    finally:
        ray.shutdown()


def test_an_address_needs_the_ray_executor() -> None:
    result = CliRunner().invoke(main, ["sweep", QUICKSTART, *GRID, "--address", "auto"])
    assert result.exit_code == 2 and "--address needs --executor ray" in result.stderr


def test_resume_refuses_rows_of_another_fingerprint_and_says_what_differs(tmp_path: Path) -> None:
    """Issue 15: a sweep never mixes rows of different fingerprints; --fresh starts over."""
    out = tmp_path / "results.csv"
    assert _sweep("-o", str(out))[0] == 0
    written = out.read_text(encoding="utf-8")
    assert len({r["fingerprint"] for r in _csv(out)}) == 1
    for args, words in ((["--replicates", "2"], "1 replicates per point, this sweep runs 2"),
                        (["--set", "seed=7"], "--set workloads.pretrain.parallelism.dp=32, this sweep has "
                                              "workloads.pretrain.parallelism.dp=32 seed=7")):
        code, _, err = _sweep("-o", str(out), *args)
        assert code == 2 and words in err and "--fresh" in err, err
        assert out.read_text(encoding="utf-8") == written  # untouched
    code, _, err = _sweep("-o", str(out), "--replicates", "2", "--fresh")
    assert code == 0, err
    rows = _csv(out)
    assert len(rows) == 4 and {r["replicates"] for r in rows} == {"2"}


def test_a_changed_scenario_file_is_a_different_sweep(tmp_path: Path) -> None:
    scenario = tmp_path / "quickstart.yaml"
    scenario.write_text(Path(QUICKSTART).read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "results.jsonl"
    args = ["sweep", str(scenario), *GRID, "--workers", "1", "-o", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    scenario.write_text(scenario.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "the scenario file or a file it reads has changed" in result.stderr


def test_sweep_output_is_checked_before_anything_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_runs(*args: object, **kwargs: object) -> None:
        raise AssertionError("a point ran")

    monkeypatch.setattr(sweep_module, "run_batches", no_runs)
    for output, words in ((QUICKSTART, "is an input of this run"), (str(tmp_path / "no" / "r.csv"), "does not exist"),
                          (str(tmp_path), "is a directory")):
        code, _, err = _sweep("-o", output)
        assert code == 2 and words in err, err


def test_progress_goes_to_stderr_as_lines_unless_quiet() -> None:
    code, _, err = _sweep()
    assert code == 0 and "4 points: 0/4" in err and "4 points: 4/4 (100%)" in err
    code, _, err = _sweep("--quiet")
    assert code == 0 and "points" not in err


def test_a_sweep_never_writes_over_a_trace_its_scenario_reads(tmp_path: Path) -> None:
    serve = str(ROOT / "scenarios" / "serve-llama70b-azure-conv.yaml")
    trace = ROOT / "scenarios" / "traces" / "azure_llm_2023_conv.csv"
    before = trace.read_bytes()
    result = CliRunner().invoke(main, ["sweep", serve, "--grid", "seed=1,2", "-o", str(trace)])
    assert result.exit_code == 2 and "is an input of this run" in result.stderr
    assert trace.read_bytes() == before
