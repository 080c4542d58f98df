"""`clustersim topology` and `clustersim compare`: every topology kind builds from YAML, the reports carry
their figures, and the shipped topology comparison separates the four designs."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import main

KINDS = {
    "single_switch": "{kind: single_switch}",
    "fat_tree": "{kind: fat_tree, tiers: 3, radix: 8, rail_optimized: true, nodes_per_su: 2}",
    "torus": "{kind: torus, dims: [4, 4, 2]}",
    "ocs_torus": "{kind: ocs_torus, cube: [2, 2, 2], slice: [2, 2, 8]}",
    "dragonfly": "{kind: dragonfly, groups: 4, routers_per_group: 1, global_links_per_router: 3}",
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_builds_from_yaml_and_reports(kind: str) -> None:
    result = CliRunner().invoke(main, ["topology", "scenarios/quickstart.yaml", "--json",
                                       "--set", f"cluster.topology={KINDS[kind]}"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kind"] == kind and report["gpus"] == 32
    assert report["bisection_bandwidth_bytes_per_s"] > 0 and report["diameter_hops"] >= 2
    rows = report["bus_bandwidth"]
    assert {r["op"] for r in rows} == {"all_reduce", "all_gather", "all_to_all"}
    assert {r["size_bytes"] for r in rows} == {2**20, 2**26, 2**30}
    assert all(r["bus_bandwidth_gb_per_s"] > 0 and r["bottleneck"] for r in rows)
    run = CliRunner().invoke(main, ["run", "scenarios/quickstart.yaml", "--json",
                                    "--set", f"cluster.topology={KINDS[kind]}"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["workloads"]["pretrain"]["status"] == "completed"


def test_topology_table_lists_parts_and_bus_bandwidth() -> None:
    result = CliRunner().invoke(main, ["topology", "scenarios/compare-topologies/rail-fat-tree.yaml"])
    assert result.exit_code == 0
    for word in ("bisection", "diameter", "leaf", "bus bandwidth", "all_to_all", "one unit", "cluster"):
        assert word in result.output


def test_compare_topologies_gives_four_different_step_times() -> None:
    files = [f"scenarios/compare-topologies/{n}.yaml"
             for n in ("rail-fat-tree", "oversubscribed-fat-tree", "torus-3d", "ocs-torus")]
    result = CliRunner().invoke(main, ["compare", *files, "--json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.output)["runs"]
    steps = {r["label"]: r["report"]["workloads"]["mixtral"]["step_time_s"] for r in runs}
    assert len(set(steps.values())) == 4
    assert steps["rail-fat-tree"] == min(steps.values())
    assert runs[0]["ratios"]["workloads.mixtral.step_time_s"] == 1.0
    over = runs[1]["report"]["workloads"]["mixtral"]["step_breakdown"]
    assert over["ep_bottleneck"].startswith("leaf")  # expert all-to-all squeezed through 1:4 up-links


def test_compare_varies_one_scenario() -> None:
    result = CliRunner().invoke(main, ["compare", "scenarios/quickstart.yaml", "--json",
                                       "--vary", "cluster.topology.nic_bandwidth=100 Gbps,400 Gbps"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.output)["runs"]
    assert [r["label"] for r in runs] == ["cluster.topology.nic_bandwidth=100 Gbps",
                                          "cluster.topology.nic_bandwidth=400 Gbps"]
    assert runs[1]["ratios"]["workloads.pretrain.step_time_s"] < 1


def test_compare_reports_bad_variants_as_input_errors() -> None:
    result = CliRunner().invoke(main, ["compare", "scenarios/quickstart.yaml", "--vary", "cluster.nodes=4,-1"])
    assert result.exit_code == 2
    assert "--vary:1: cluster.nodes" in result.stderr
    result = CliRunner().invoke(main, ["compare", "scenarios/quickstart.yaml", "--vary", "cluster.nodes"])
    assert result.exit_code == 2

