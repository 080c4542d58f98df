"""Failures and checkpoints against closed forms (models.md section 6, ../shared/reference/reliability.yaml):
job MTTF = 1 / (N r), Meta's expected ETTR, Young's interval, determinism, and bad failure specs.
Tolerances come from the replicate counts (Poisson and sample standard errors), not guesses."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from cli import main
from simulator.models.reliability import daly_interval_s, meta_expected_ettr, young_interval_s
from simulator.plan.load import validate_data
from simulator.run import simulate
from simulator.scenario.schema import Scenario, TrainingWorkload
from simulator.scenario.yaml_lines import LocatedData

STEP_S = 1.3959  # quickstart's step time, seconds (the workload below)


def scenario(seed: int = 1, horizon: str = "30 d", mtbf_h: float = 2000.0, nodes: int = 4,
             checkpoint: dict[str, Any] | None = None, recovery: dict[str, Any] | None = None,
             repair: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Scenario:
    data: dict[str, Any] = {
        "name": "failures", "seed": seed, "horizon": horizon,
        "cluster": {"accelerator": "a100-80gb-sxm", "nodes": nodes, "gpus_per_node": 8},
        "pricing": {"gpu_hour_usd": 1.0},
        "failures": {"components": [{"name": "node", "scope": "node", "mtbf": f"{mtbf_h} h",
                                     "repair": repair or {"median": 0, "sigma": 0}, **(extra or {})}]},
        "workloads": [{
            "name": "job", "kind": "training", "model": "gpt3-1.3b", "tokens": "100T", "seq_len": 2048,
            "global_batch_tokens": "1M", "parallelism": {"dp": nodes * 8},
            "checkpoint": checkpoint or {"policy": "none"},
            "recovery": recovery or {"detection": 0, "restart": 0},
        }],
    }
    return validate_data(LocatedData(data), "test")


def test_interruptions_arrive_at_rate_n_over_mtbf() -> None:
    """Exponential node failures, instant repair and recovery: interruptions ~ Poisson(N T / MTBF)."""
    counts = [simulate(scenario(seed=s, mtbf_h=100.0, horizon="100 d")).workloads["job"].interruptions
              for s in range(4)]
    expected = 4 * 100 * 24 / 100.0  # N nodes x T / MTBF = 96 per replicate
    mean, se = np.mean(counts), math.sqrt(expected / len(counts))
    assert abs(mean - expected) < 4 * se


def test_ettr_matches_metas_formula_where_its_assumptions_hold() -> None:
    """Small N r (u0 + dt/2): the first-order formula holds; compare the replicate mean within 4 standard errors
    plus the formula's own second-order term."""
    mtbf_h, interval_s, write_s, u0 = 400.0, 1800.0, 60.0, 600.0
    runs = [simulate(scenario(seed=s, mtbf_h=mtbf_h, horizon="60 d",
                              checkpoint={"policy": "fixed", "interval": f"{interval_s} s", "write": f"{write_s} s"},
                              recovery={"detection": f"{u0 / 2} s", "restart": f"{u0 / 2} s"}))
            for s in range(6)]
    ettr = np.array([r.workloads["job"].ettr for r in runs])
    rate = 1.0 / (mtbf_h * 3600)
    interval = round(interval_s / STEP_S) * STEP_S  # whole steps
    expected = meta_expected_ettr(4, rate, u0 + 300.0, interval, write_s)  # + 300 s default restore
    x = 4 * rate * (u0 + 300 + interval / 2)
    assert abs(ettr.mean() - expected) < 4 * ettr.std(ddof=1) / math.sqrt(len(ettr)) + x**2
    assert 0.9 < ettr.mean() < 0.99


def test_youngs_interval_beats_much_shorter_and_much_longer_ones() -> None:
    mtbf_h, write_s = 50.0, 120.0
    young = young_interval_s(write_s, mtbf_h * 3600 / 4)

    def ettr(interval_s: float) -> float:
        return float(np.mean([simulate(scenario(
            seed=s, mtbf_h=mtbf_h, horizon="40 d",
            checkpoint={"policy": "fixed", "interval": f"{interval_s} s", "write": f"{write_s} s"},
            recovery={"detection": "60 s", "restart": "60 s"})).workloads["job"].ettr for s in range(4)]))

    best = ettr(young)
    assert best > ettr(young / 6) and best > ettr(young * 6)
    policy = simulate(scenario(mtbf_h=mtbf_h, checkpoint={"policy": "young", "write": f"{write_s} s"}))
    assert policy.workloads["job"].checkpoint_interval_s == pytest.approx(young, abs=STEP_S)


def test_young_and_daly_formulas() -> None:
    assert young_interval_s(60, 3600) == pytest.approx(math.sqrt(2 * 60 * 3600))
    m, d = 3600.0, 60.0
    expected = math.sqrt(2 * d * m) * (1 + math.sqrt(d / (2 * m)) / 3 + d / (2 * m) / 9) - d
    assert daly_interval_s(d, m) == pytest.approx(expected)
    assert daly_interval_s(3 * m, m) == m


def test_same_seed_same_failures_and_different_seeds_differ() -> None:
    one, two = simulate(scenario(seed=7)), simulate(scenario(seed=7))
    assert one.model_dump(exclude={"wall_s"}) == two.model_dump(exclude={"wall_s"})
    assert simulate(scenario(seed=8)).workloads["job"].interruptions != one.workloads["job"].interruptions


def test_every_second_is_accounted_for() -> None:
    report = simulate(scenario(mtbf_h=200.0, checkpoint={"policy": "fixed", "interval": "1 h", "write": "30 s"},
                               recovery={"detection": "5 min", "restart": "5 min"},
                               repair={"median": "2 h", "sigma": 1.0}))
    job = report.workloads["job"]
    losses = job.losses
    wall_gpu_h = job.wall_clock_s * job.gpus / 3600
    productive_gpu_h = job.steps * job.step_time_s * job.gpus / 3600
    parts = (productive_gpu_h + losses.redone_work_gpu_hours + losses.detection_gpu_hours + losses.waiting_gpu_hours
             + losses.restart_gpu_hours + losses.restore_gpu_hours + losses.checkpoint_gpu_hours)
    assert parts == pytest.approx(wall_gpu_h, rel=1e-3)  # the remainder is a partial step at the horizon
    assert losses.waiting_gpu_hours > 0  # no spares: every failure waits for its repair
    assert job.interruptions == sum(job.interruptions_by_cause.values())


def test_hot_spares_remove_repair_waits() -> None:
    spare = scenario(nodes=4, mtbf_h=200.0, repair={"median": "2 h", "sigma": 1.0},
                     recovery={"detection": "5 min", "restart": "5 min", "spare_nodes": 2})
    data = spare.model_dump(by_alias=True)
    data["cluster"]["nodes"] = 6  # room for the spares
    report = simulate(Scenario.model_validate(data))
    assert report.workloads["job"].losses.waiting_gpu_hours < 1.0
    job = report.workloads["job"]
    assert job.gpu_hours == pytest.approx(job.wall_clock_s * 48 / 3600, rel=1e-9)  # the 2 spare nodes are paid for


@pytest.mark.parametrize(("edit", "field", "words"), [
    ({"mtbf": "-5 h"}, "failures.components.node.mtbf", ["greater than 0"]),
    ({"mtbf": "1 ms"}, "failures.components.node.mtbf", ["at least 1 s"]),
    ({"distribution": "weibull", "weibull_shape": 0}, "failures.components.node.weibull_shape", ["greater than 0"]),
    ({"scope": "datacenter"}, "failures.components.node.scope", ["node", "rack"]),
    ({"causes": {"gpu": -1}}, "failures.components.node", ["positive"]),
    ({"failures_per_1000_node_days": 6.5}, "failures.components.node", ["exactly one"]),
])
def test_bad_failure_specs_are_located_input_errors(tmp_path: Any, edit: dict[str, Any], field: str,
                                                    words: list[str]) -> None:
    component = yaml.safe_dump({"name": "node", "scope": "node", "mtbf": "2000 h", **edit},
                               default_flow_style=True).strip()
    text = (f"name: bad\ncluster: {{accelerator: a100-80gb-sxm, nodes: 4, gpus_per_node: 8}}\n"
            f"pricing: {{gpu_hour_usd: 1}}\nfailures:\n  components:\n    - {component}\n"
            f"workloads:\n  - {{name: job, kind: training, model: gpt3-1.3b, tokens: 1B, seq_len: 2048, "
            f"parallelism: {{dp: 32}}}}\n")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    line = result.stderr.strip().splitlines()[0]
    assert line.startswith(f"{path}:6: {field}: "), line
    for word in words:
        assert word in line


def test_planned_maintenance_is_periodic_and_rolling() -> None:
    report = simulate(scenario(horizon="10 d", extra={"distribution": "periodic", "mtbf": "2 d"},
                               repair={"median": "1 h", "sigma": 0}, recovery={"detection": 0, "restart": "5 min"}))
    job = report.workloads["job"]
    assert job.interruptions == 4 * 10 // 2  # every node every 2 days, at its own phase
    assert job.losses.waiting_gpu_hours == pytest.approx(job.interruptions * 1 * 32, rel=0.01)


def test_fail_slow_stragglers_slow_the_job_until_evicted() -> None:
    slow = scenario(mtbf_h=100.0, horizon="20 d",
                    extra={"effect": "slowdown", "slowdown": 1.0, "straggler_detection": "30 min",
                           "mtbf": "100 h"},
                    checkpoint={"policy": "fixed", "interval": "1 h", "write": "10 s"})
    job = simulate(slow).workloads["job"]
    assert job.losses.slowdown_gpu_hours > 0
    assert set(job.interruptions_by_cause) == {"straggler:node"}
    # each straggler costs up to its detection time at half speed, then an eviction
    assert job.losses.slowdown_gpu_hours <= job.interruptions * 0.5 * 32 * 1.01
    assert job.interruptions > 0 and job.ettr < 1


def _with_links(mtbf: str, topology: dict[str, Any], repair: str = "6 h") -> Scenario:
    base = scenario(nodes=16, horizon="20 d", checkpoint={"policy": "fixed", "interval": "1 h", "write": "10 s"})
    data = base.model_dump(by_alias=True, mode="json")
    data["cluster"]["topology"] = topology
    data["failures"] = {"components": [{"name": "cable", "scope": "link", "mtbf": mtbf,
                                        "repair": {"median": repair, "sigma": 0}}]}
    return Scenario.model_validate(data)


def test_spine_link_failures_slow_a_job_without_stopping_it() -> None:
    tree = {"kind": "fat_tree", "radix": 16, "oversubscription": 4}  # few up-links: each one matters
    healthy = simulate(scenario(nodes=16, horizon="20 d", checkpoint={"policy": "fixed", "interval": "1 h",
                                                                      "write": "10 s"}))
    degraded = simulate(_with_links("500 h", tree))
    assert degraded.cluster.link_failures > 0
    job, base = degraded.workloads["job"], healthy.workloads["job"]
    assert job.interruptions == 0  # ECMP routes around a failed up-link
    assert job.steps < base.steps  # but the job runs slower meanwhile
    assert job.losses.slowdown_gpu_hours > 0


def test_a_torus_link_failure_partitions_the_job_until_repaired() -> None:
    torus = {"kind": "torus", "dims": [4, 4, 8]}
    report = simulate(_with_links("2000 h", torus))
    job = report.workloads["job"]
    assert report.cluster.link_failures > 0
    assert job.interruptions == job.interruptions_by_cause["partitioned:cable"] > 0
    assert job.losses.waiting_gpu_hours > 0  # stopped until the link came back


def _ocs(spare_cubes: int) -> Scenario:
    base = scenario(nodes=16 + 8 * spare_cubes, mtbf_h=300.0, horizon="20 d",
                    checkpoint={"policy": "fixed", "interval": "1 h", "write": "10 s"},
                    recovery={"detection": "1 min", "restart": "2 min"}, repair={"median": "4 h", "sigma": 0})
    data = base.model_dump(by_alias=True, mode="json")
    data["cluster"]["topology"] = {"kind": "ocs_torus", "cube": [4, 4, 4], "slice": [4, 4, 8],
                                   "spare_cubes": spare_cubes, "reconfiguration_delay": "10 s"}
    data["workloads"][0]["parallelism"] = {"dp": 128}
    return Scenario.model_validate(data)


def test_an_ocs_torus_swaps_in_a_spare_cube_instead_of_waiting() -> None:
    with_spare, without = simulate(_ocs(1)).workloads["job"], simulate(_ocs(0)).workloads["job"]
    assert without.losses.waiting_gpu_hours > 0
    assert with_spare.interruptions > 0
    # with one spare cube, a job only waits when the spare is itself down (4 h repairs, 24 nodes at 300 h MTBF)
    assert with_spare.losses.waiting_gpu_hours < 0.7 * without.losses.waiting_gpu_hours
    assert with_spare.ettr > without.ettr


def test_shrinking_data_parallelism_replaces_repair_waits_with_slower_steps() -> None:
    def run(policy: str) -> Any:
        return simulate(scenario(mtbf_h=200.0, horizon="20 d", repair={"median": "6 h", "sigma": 0},
                                 checkpoint={"policy": "fixed", "interval": "1 h", "write": "10 s"},
                                 recovery={"detection": "1 min", "restart": "2 min", "on_no_spare": policy},
                                 )).workloads["job"]

    wait, shrink = run("wait"), run("shrink")
    assert wait.losses.waiting_gpu_hours > 0 and wait.losses.slowdown_gpu_hours == 0
    assert shrink.losses.waiting_gpu_hours == 0 and shrink.losses.slowdown_gpu_hours > 0
    assert shrink.ettr > wait.ettr  # 31 of 32 replicas keep going while a node is repaired


def test_requeueing_moves_a_job_to_a_free_healthy_node_instead_of_waiting_for_the_repair() -> None:
    """One node more than the job needs, 12-hour repairs: requeued, the job restarts on the free node (the
    scheduler never places it on the failed one) and loses no time to repair waits."""
    def run(policy: str) -> Any:
        base = scenario(nodes=5, mtbf_h=150.0, horizon="10 d", repair={"median": "12 h", "sigma": 0},
                        checkpoint={"policy": "fixed", "interval": "1 h", "write": "10 s"},
                        recovery={"detection": "1 min", "restart": "2 min", "on_no_spare": policy})
        data = base.model_dump(by_alias=True, mode="json")
        data["workloads"][0]["parallelism"] = {"dp": 32}
        return simulate(Scenario.model_validate(data)).workloads["job"]

    wait, requeue = run("wait"), run("requeue")
    assert wait.interruptions > 3 and wait.requeues == 0 and wait.losses.waiting_gpu_hours > 0
    assert requeue.requeues > 0 and requeue.requeues <= requeue.interruptions
    # a second node down while the first is repaired leaves too few healthy nodes: then it waits in the queue
    assert requeue.losses.waiting_gpu_hours == 0
    assert requeue.steps > wait.steps
    assert requeue.gpu_hours <= wait.gpu_hours  # GPUs given back while queued are not its to pay for


def test_a_checkpoint_store_outage_skips_checkpoints() -> None:
    base = scenario(mtbf_h=100.0, horizon="20 d", checkpoint={"policy": "fixed", "interval": "1 h", "write": "10 s"})
    data = base.model_dump(by_alias=True, mode="json")
    data["failures"]["components"].append({"name": "store", "scope": "storage", "mtbf": "50 h",
                                           "repair": {"median": "5 h", "sigma": 0}})
    report = simulate(Scenario.model_validate(data))
    job = report.workloads["job"]
    assert report.cluster.storage_failures > 0
    assert job.checkpoints_skipped > 0
    assert job.checkpoints + job.checkpoints_skipped >= 20 * 24 * 0.8  # one due every hour of progress
    assert "store" not in job.interruptions_by_cause  # an outage does not stop the job by itself


def test_a_rail_leaf_failure_takes_down_its_scalable_unit() -> None:
    from simulator.engine.failures import unit_nodes
    from simulator.plan.network import topology_leaves

    base = scenario(nodes=16, horizon="10 d")
    data = base.model_dump(by_alias=True, mode="json")
    data["cluster"]["topology"] = {"kind": "fat_tree", "radix": 64, "rail_optimized": True, "nodes_per_su": 8}
    data["failures"]["components"][0].update({"scope": "leaf", "mtbf": "100 h"})
    rail = Scenario.model_validate(data)
    assert topology_leaves(rail.cluster) == (8, 8)  # 8 nodes per unit, one leaf per rail
    assert rail.failures is not None
    units = unit_nodes(rail.failures.components[0], rail.failures, 16, 8, topology_leaves(rail.cluster))
    assert len(units) == 16 and all(u.size == 8 for u in units)
    report = simulate(rail)
    # 16 nodes in 2 units of 8 rail leaves each: 16 leaves, every failure takes 8 nodes but is one interruption
    assert report.cluster.node_failures == 8 * report.workloads["job"].interruptions


def test_link_failures_are_priced_on_the_gpus_a_job_runs_on() -> None:
    """Four one-node leaves: with both of leaf 0's uplinks down, a job on nodes 0-1 is cut off, while the same
    job on nodes 2-3 runs at its healthy pace (before, every job was priced as if on GPUs 0..n-1)."""
    from simulator.engine.failures import network_links
    from simulator.models.topology.network import Partitioned
    from simulator.plan.network import cached_network
    from simulator.plan.training import DEFAULT_STEP_MODEL, placed_step_s, priced_step

    base = scenario(nodes=2).model_dump(by_alias=True, mode="json")
    base["cluster"]["nodes"] = 4
    base["cluster"]["topology"] = {"kind": "fat_tree", "radix": 16, "oversubscription": 1}
    loaded = Scenario.model_validate(base)
    workload = loaded.workloads[0]
    assert isinstance(workload, TrainingWorkload)
    plan, step = priced_step(workload, loaded.cluster)
    net = cached_network(loaded.cluster)
    uplinks = [edge for edge in network_links(net) if ("leaf", 0) in edge]
    degraded = net.degraded(uplinks)
    near, far = np.arange(16), np.arange(16, 32)
    assert placed_step_s(DEFAULT_STEP_MODEL, plan.step, net, near) == pytest.approx(step.total_s)
    with pytest.raises(Partitioned):
        placed_step_s(DEFAULT_STEP_MODEL, plan.step, degraded, near)
    assert placed_step_s(DEFAULT_STEP_MODEL, plan.step, degraded, far) == pytest.approx(
        placed_step_s(DEFAULT_STEP_MODEL, plan.step, net, far))
