"""End-to-end: the CLI runs scenarios, writes the JSON contract, is deterministic, and accounts for work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from simulator.plan.load import load_scenario
from simulator.run import simulate

CONTRACT = {
    "top": {"scenario", "seed", "simulated_s", "wall_s", "cluster", "workloads"},
    "cluster": {"gpus", "utilization", "gpu_hours", "energy_kwh", "cost_usd"},
    "training": {
        "kind", "status", "wall_clock_s", "steps", "step_time_s", "tokens", "tokens_per_s", "mfu",
        "achieved_tflops_per_gpu", "memory_per_gpu_bytes", "gpu_hours", "energy_kwh", "cost_usd",
        "interruptions", "lost_gpu_hours", "ettr",
    },
}


def _run_json(tmp_path: Path, *args: str) -> dict[str, object]:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["run", "scenarios/quickstart.yaml", "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(out.read_text())
    return data


def test_quickstart_report_has_the_contract_keys(tmp_path: Path) -> None:
    report = _run_json(tmp_path)
    assert CONTRACT["top"] <= report.keys()
    cluster = report["cluster"]
    assert isinstance(cluster, dict) and CONTRACT["cluster"] <= cluster.keys()
    workloads = report["workloads"]
    assert isinstance(workloads, dict)
    pretrain = workloads["pretrain"]
    assert CONTRACT["training"] <= pretrain.keys()
    assert pretrain["status"] == "completed"
    assert pretrain["tokens"] >= 26e9
    assert 0 < pretrain["mfu"] < 1
    assert pretrain["ettr"] == pytest.approx(1.0)
    assert cluster["gpus"] == 32


def test_same_seed_same_report_except_wall_time(tmp_path: Path) -> None:
    first, second = _run_json(tmp_path), _run_json(tmp_path)
    first.pop("wall_s")
    second.pop("wall_s")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_overrides_change_the_run(tmp_path: Path) -> None:
    base = _run_json(tmp_path)
    wider = _run_json(tmp_path, "--set", "cluster.nodes=8", "--set", "workloads.pretrain.parallelism.dp=64")
    assert wider["cluster"]["gpus"] == 64  # type: ignore[index]
    assert wider["simulated_s"] < base["simulated_s"]  # type: ignore[operator]


def test_json_flag_prints_the_report() -> None:
    result = CliRunner().invoke(main, ["run", "scenarios/quickstart.yaml", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["workloads"]["pretrain"]["steps"] > 0


def test_table_output_names_the_figures() -> None:
    result = CliRunner().invoke(main, ["run", "scenarios/quickstart.yaml"])
    assert result.exit_code == 0
    for word in ("utilization", "GPU-hours", "cost", "MFU", "pretrain"):
        assert word in result.output


def test_a_faster_network_never_slows_training() -> None:
    slow = load_scenario("scenarios/quickstart.yaml", ["cluster.topology.nic_bandwidth=25 Gbps"])
    fast = load_scenario("scenarios/quickstart.yaml", ["cluster.topology.nic_bandwidth=400 Gbps"])
    assert simulate(fast).simulated_s < simulate(slow).simulated_s


def test_horizon_accounts_for_every_step() -> None:
    scenario = load_scenario("scenarios/quickstart.yaml", ["horizon=2 h"])
    report = simulate(scenario)
    job = report.workloads["pretrain"]
    assert report.simulated_s == pytest.approx(7200)
    assert job.status == "running"
    assert job.steps + job.steps_remaining == job.steps_total
    assert job.steps == int(7200 // job.step_time_s)
    assert report.cluster.utilization == pytest.approx(job.steps * job.step_time_s / 7200)


def test_jobs_queue_for_gpus_first_come_first_served() -> None:
    scenario = load_scenario("scenarios/shared-cluster-queue.yaml", ["horizon=60 d"])
    report = simulate(scenario)
    small, mid, big = (report.workloads[n] for n in ("small-350m", "mid-2.7b", "big-6.7b"))
    assert small.queued_s == 0 and mid.queued_s == 0
    # 128 GPUs: the big job needs all of them, so it starts when the last earlier job releases its GPUs.
    assert big.started_s == pytest.approx(max(small.finished_s or 0, mid.finished_s or 0))
    assert report.cluster.allocation <= 1.0 + 1e-12
    assert all(w.status == "completed" for w in report.workloads.values())


def test_a_job_too_big_for_a_busy_cluster_is_reported_queued() -> None:
    scenario = load_scenario("scenarios/shared-cluster-queue.yaml", ["horizon=10 min"])
    report = simulate(scenario)
    assert report.workloads["big-6.7b"].status == "queued"
    assert report.workloads["big-6.7b"].steps == 0
    assert report.workloads["big-6.7b"].steps_remaining == report.workloads["big-6.7b"].steps_total


def test_costs_add_up() -> None:
    report = simulate(load_scenario("scenarios/shared-cluster-queue.yaml"))
    c = report.cluster
    assert c.cost_usd == pytest.approx(c.rental_usd + c.energy_usd)
    assert c.rental_usd == pytest.approx(c.gpu_hours * 1.80)
    # Jobs pay for the GPU-hours they hold; idle GPUs are the cluster's, so the parts are at most the whole.
    assert sum(w.cost_usd for w in report.workloads.values()) <= c.cost_usd
    assert sum(w.energy_kwh for w in report.workloads.values()) <= c.energy_kwh


def test_a_job_submitted_after_the_horizon_is_queued_with_no_time() -> None:
    scenario = load_scenario("scenarios/shared-cluster-queue.yaml", ["horizon=10 min"])
    report = simulate(scenario)
    late = report.workloads["mid-2.7b"]  # submitted at 30 min
    assert late.status == "queued"
    assert late.queued_s == 0 and late.wall_clock_s == 0 and late.gpu_hours == 0
