"""plan-capacity: the Wilson interval, the --mix syntax, and the planner's verdict on a small pool whose answer is
known: with no reclaims spot is as fast and cheaper than on-demand, so it wins; with reclaims every few minutes
it cannot finish by the deadline, so on-demand wins; the rule decides with few replicates."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cli import main
from simulator.experiments.capacity import Z95, deadline_met, mix_label, mix_overrides, plan_capacity, wilson
from simulator.plan.load import load_scenario
from simulator.run import simulate
from simulator.scenario.overrides import OverrideError

SMALL = """\
name: small-spot
description: GPT-3 125M on four A100 spot nodes, for the capacity planner's tests
seed: 3
cluster:
  pools:
    - {name: spot, accelerator: a100-80gb-sxm, nodes: 4, gpus_per_node: 8, rental: spot,
       spot: {reclaims_per_node_hour: 0, away: 1 h}}
  topology: {kind: fat_tree, nic_bandwidth: 200 Gbps}
pricing: {rental: spot}
workloads:
  - name: pretrain
    kind: training
    model: gpt3-125m
    tokens: 2B
    seq_len: 2048
    global_batch_tokens: 512Ki
    parallelism: {tp: 1, pp: 1, dp: 32}
    checkpoint: {interval: 10 min, write: 20 s, restore: 1 min}
    recovery: {detection: 30 s, restart: 2 min}
"""
ON_DEMAND = "cluster.pools.spot.spot=null cluster.pools.spot.rental=on_demand pricing={rental: on_demand}"
STORMY = "cluster.pools.spot.spot.reclaims_per_node_hour=20"  # a reclaim every 45 s across the pool


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def _mixes(path: Path, *texts: str) -> list[tuple[str, list, object]]:
    return [(mix_label(t)[0], mix, load_scenario(path, (), mix)) for t, mix in
            ((t, mix_overrides(n, t)) for n, t in enumerate(texts, start=1))]


def test_wilson_interval_at_known_points() -> None:
    assert wilson(0, 10) == (0.0, pytest.approx(Z95**2 / (10 + Z95**2)))
    assert wilson(10, 10) == (pytest.approx(10 / (10 + Z95**2)), pytest.approx(1.0))
    low, high = wilson(5, 10)  # symmetric about 1/2
    assert low == pytest.approx(1 - high) and low == pytest.approx(0.2366, abs=1e-4)
    with pytest.raises(ValueError):
        wilson(3, 2)


@given(n=st.integers(1, 10_000), data=st.data())
def test_wilson_interval_holds_the_estimate(n: int, data: st.DataObject) -> None:
    met = data.draw(st.integers(0, n))
    low, high = wilson(met, n)
    assert 0.0 <= low <= met / n <= high <= 1.0
    assert high - low <= 2 * Z95 * math.sqrt(0.25 / n) + 1e-12  # never wider than the widest normal interval


def test_a_mix_is_overrides_split_where_the_next_field_begins() -> None:
    mix = mix_overrides(2, "cluster.pools.spot.nodes=16  pricing={gpu_hour_usd: 2.5, pue: 1.1} "
                           "cluster.topology.nic_bandwidth=400 Gbps")
    assert [o.field for o in mix] == ["cluster.pools.spot.nodes", "pricing", "cluster.topology.nic_bandwidth"]
    assert mix[1].value == {"gpu_hour_usd": 2.5, "pue": 1.1} and mix[2].value == "400 Gbps"
    assert mix[0].source == "--mix 2:1" and mix_overrides(1, "  ") == []
    with pytest.raises(OverrideError, match="--mix 1:1"):
        mix_overrides(1, "no-equals-sign")


def test_a_mix_may_be_named() -> None:
    assert mix_label("on-demand 16: cluster.pools.spot.nodes=16") == ("on-demand 16", "cluster.pools.spot.nodes=16")
    assert mix_label("pricing={rental: spot}") == ("pricing={rental: spot}", "pricing={rental: spot}")
    assert mix_label("") == ("as is", "") and mix_label(" x: ") == ("x", "")
    assert [o.field for o in mix_overrides(1, "big: cluster.nodes=8 seed=3")] == ["cluster.nodes", "seed"]


def test_deadline_met_needs_every_training_workload_done_in_time() -> None:
    report = {"workloads": {"a": {"kind": "training", "finished_s": 10.0},
                            "b": {"kind": "training", "finished_s": None},
                            "c": {"kind": "inference", "finished_s": None}}}
    assert not deadline_met(report, 100.0)
    report["workloads"]["b"]["finished_s"] = 20.0
    assert deadline_met(report, 20.0) and not deadline_met(report, 19.0)


def test_without_reclaims_spot_wins_and_with_a_storm_on_demand_does(small: Path) -> None:
    calm_s = simulate(load_scenario(small)).workloads["pretrain"].finished_s
    assert calm_s is not None
    deadline = 1.5 * calm_s
    plan = plan_capacity(_mixes(small, ON_DEMAND, ""), deadline, 0.9, 4, rule="point", workers=1)
    on_demand, spot = plan.mixes
    assert on_demand.met == spot.met == 4 and spot.cost_usd.mean < on_demand.cost_usd.mean
    assert spot.cost_usd.mean / on_demand.cost_usd.mean == pytest.approx(0.59 / 2.7)  # catalog spot / on-demand
    assert plan.cheapest == "as is" and spot.finished_s is not None
    assert spot.finished_s.mean == pytest.approx(calm_s)
    stormy = plan_capacity(_mixes(small, ON_DEMAND, STORMY), deadline, 0.9, 4, rule="point", workers=1)
    assert stormy.mixes[1].met == 0 and stormy.mixes[1].finished_s is None
    assert stormy.cheapest == ON_DEMAND.strip()


def test_the_wilson_rule_needs_enough_replicates(small: Path) -> None:
    deadline = 2 * (simulate(load_scenario(small)).workloads["pretrain"].finished_s or 0.0)
    few = plan_capacity(_mixes(small, ""), deadline, 0.9, 5, workers=1)
    assert few.mixes[0].met == 5 and not few.mixes[0].meets and few.cheapest is None
    assert few.best_reachable == pytest.approx(5 / (5 + Z95**2))
    enough = plan_capacity(_mixes(small, ""), deadline, 0.9, 35, workers=1)
    assert enough.mixes[0].wilson_low >= 0.9 and enough.cheapest == "as is"


def test_plan_capacity_command(small: Path) -> None:
    deadline_h = 2 * (simulate(load_scenario(small)).workloads["pretrain"].finished_s or 0.0) / 3600
    args = ["plan-capacity", str(small), "--deadline", f"{deadline_h:.4f} h", "--replicates", "3", "--workers",
            "1", "--rule", "point", "--mix", ON_DEMAND, "--mix", ""]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["cheapest"] == "as is" and [m["met"] for m in data["mixes"]] == [3, 3]
    table = CliRunner().invoke(main, args)
    assert table.exit_code == 0 and "cheapest mix that meets it: as is" in table.output
    bad = CliRunner().invoke(main, [*args[:-4], "--mix", "cluster.pools.spot.nodes=-1"])
    assert bad.exit_code == 2 and "--mix 1:1" in bad.output and "cluster.pools.spot.nodes" in bad.output
    late = CliRunner().invoke(main, [*args[:3], "soon", *args[4:]])
    assert late.exit_code == 2 and "--deadline" in late.output
    twice = CliRunner().invoke(main, [*args, "--mix", "as is: seed=4"])
    assert twice.exit_code == 2 and "its own label" in twice.output
    with pytest.raises(ValueError, match="its own label"):
        plan_capacity(_mixes(small, "", "as is: seed=4"), 3600.0, 0.9, 1)
