"""Shared links and placement (issue 14): jobs are priced on the GPUs they are given and re-priced against the
other jobs on the links they share (simulator/engine/fabric.py, engine/placement.py, models/workload/traffic.py)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from simulator.catalog import accelerator, model
from simulator.engine.placement import PLACEMENTS, Free
from simulator.experiments.compare import compare
from simulator.models.hardware import Precision
from simulator.models.topology.build import build_network
from simulator.models.topology.collectives import all_to_all_flows
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import FatTreeTopology
from simulator.models.workload.parallelism import Parallelism
from simulator.models.workload.step_time import OperatorStepModel
from simulator.models.workload.traffic import Pattern, PatternTraffic, channel_utilization, transfer_traffic
from simulator.models.workload.training_job import TrainingStep
from simulator.plan.load import load_scenario
from simulator.plan.serving import placed_replica, service_plan
from simulator.report.html import report_html
from simulator.report.invariants import violations
from simulator.report.model import InferenceReport, Report, TrainingReport
from simulator.report.render import comparison_rows
from simulator.run import simulate
from simulator.scenario.policies import PlacementName

JOB = "{{name: {name}, kind: training, model: mixtral-8x7b, tokens: 20B, seq_len: 4096, global_batch_tokens: 4Mi, " \
      "parallelism: {{tp: 8, dp: 32, ep: 8, zero_stage: 1}}}}"
TWO_JOBS = f"workloads=[{JOB.format(name='a')}, {JOB.format(name='b')}]"


def two_jobs(topology: str, *overrides: str) -> dict[str, tuple[float, float, list[str]]]:
    """(step time alone on its GPUs, contention factor, links) of each of two 256-GPU Mixtral jobs."""
    scenario = load_scenario(f"scenarios/compare-topologies/{topology}.yaml", [TWO_JOBS, *overrides])
    report = simulate(scenario)
    return {name: (w.step_time_s, w.contention_factor, w.contention_links)  # type: ignore[union-attr]
            for name, w in report.workloads.items()}


def test_jobs_interleaved_under_oversubscribed_leaves_slow_each_other() -> None:
    shared = two_jobs("oversubscribed-fat-tree", "scheduler.placement=spread")
    alone = two_jobs("oversubscribed-fat-tree", "scheduler.placement=spread", "cluster.shared_links=false")
    for name in ("a", "b"):
        step_s, factor, links = shared[name]
        assert step_s == alone[name][0]  # the same GPUs: the same step without the neighbour
        assert factor > 1.05 and alone[name][1] == 1.0
        assert any("leaf" in link for link in links)


@pytest.mark.parametrize("placement", ["topology_aware", "spread"])
def test_a_nonblocking_rail_tree_keeps_jobs_apart(placement: str) -> None:
    assert all(factor == 1.0 for _, factor, _ in two_jobs("rail-fat-tree", f"scheduler.placement={placement}").values())


def test_packed_jobs_under_their_own_leaves_do_not_meet() -> None:
    assert all(factor == pytest.approx(1.0, abs=1e-3) for _, factor, _ in two_jobs("oversubscribed-fat-tree").values())


def test_utilization_is_a_fraction_and_peaks_on_the_bottleneck() -> None:
    shape = ClusterShape(32, 8, 450e9, 50e9, True)
    network = build_network(FatTreeTopology(kind="fat_tree", tiers=2, radix=64, oversubscription=4), shape)
    step = TrainingStep(model("mixtral-8x7b"), accelerator("h100-sxm"), Precision.BF16,
                        Parallelism(tp=8, dp=32, ep=8), 4096, 8)
    timed = OperatorStepModel().step_time(step, network)
    busy = channel_utilization(step, timed, network)
    assert busy.min() >= 0.0 and busy.max() <= 1.0
    # the expert all-to-all's bottleneck is the busiest channel: busy for the all-to-alls and the gradient
    # ring that also crosses it, no longer than all the step's communication
    hottest = int(np.argmax(busy))
    assert network.channel_names[hottest] == timed.ep_bottleneck
    communication_s = timed.ep_comm_s + timed.dp_comm_s + timed.tp_comm_s
    assert timed.ep_comm_s / timed.total_s <= busy[hottest] <= communication_s / timed.total_s


def free(nodes: int, gpn: int = 8, unit_nodes: int = 4, busy: tuple[int, ...] = ()) -> Free:
    ids = np.array([g for g in range(nodes * gpn) if g // gpn not in busy], dtype=np.int64)
    return Free(ids, gpn, nodes, unit_nodes, np.random.default_rng(1))


def test_placements_give_whole_free_nodes_as_their_rule_says() -> None:
    f = free(8, busy=(0,))  # two units of 4 nodes; node 0 is taken
    nodes = {name: sorted(set((PLACEMENTS[name](f, 16) // 8).tolist())) for name in PLACEMENTS.names}
    assert nodes["packed"] == [1, 2]
    assert nodes["topology_aware"] == [1, 2]  # the fullest unit that has room: unit 0 (3 free nodes)
    assert nodes["spread"] == [1, 4]  # one node from each unit in turn
    assert len(nodes["random"]) == 2 and set(nodes["random"]) <= set(range(1, 8))
    for name in PLACEMENTS.names:
        given = PLACEMENTS[name](f, 20)  # two whole nodes and 4 GPUs of a third
        assert given.size == 20 and np.unique(given).size == 20 and set(given.tolist()) <= set(f.ids.tolist())


def test_every_declared_placement_has_one_implementation() -> None:
    assert PLACEMENTS.names == get_args(PlacementName)


def test_the_cluster_report_names_the_loaded_tiers_and_hottest_links() -> None:
    report = simulate(load_scenario("scenarios/shared-fabric/oversubscribed-fat-tree.yaml"))
    c = report.cluster
    assert set(c.link_utilization) >= {"leaf", "nic", "scale_up"}
    assert all(0.0 <= share <= 1.0 for share in c.link_utilization.values())
    assert c.hottest_links and c.hottest_links[0].tier == "leaf"  # the oversubscribed up-links carry the most
    shares = [link.utilization for link in c.hottest_links]
    assert shares == sorted(shares, reverse=True) and shares[0] <= 1.0
    # the busiest leaf link cannot be busier than the jobs' communication over the span they ran
    assert c.link_utilization["leaf"] <= shares[0]


def test_no_network_traffic_no_link_load() -> None:
    report = simulate(load_scenario("scenarios/serve-llama70b-azure-conv.yaml", ["horizon=5 min"]))
    assert report.cluster.link_utilization == {} and report.cluster.hottest_links == []


def test_compare_shows_every_runs_link_tiers() -> None:
    runs = [(name, load_scenario(f"scenarios/shared-fabric/{name}.yaml", ["horizon=30 min"]))
            for name in ("rail-fat-tree", "torus-3d")]
    rows = {row[0]: row[1:] for row in comparison_rows(compare(runs), lambda key, value: f"{value:.3g}")}
    assert rows["cluster.link_utilization.leaf"][1] == "-"  # a torus has no leaves
    assert rows["cluster.link_utilization.ici"][0] == "-"
    assert "workloads.mixtral.contention_factor" in rows


def test_link_load_over_time_is_reported_and_plotted() -> None:
    report = simulate(load_scenario("scenarios/shared-fabric/oversubscribed-fat-tree.yaml"))
    s = report.series
    assert s.link_time_s == sorted(s.link_time_s) and s.link_time_s[0] == 0.0
    assert set(s.link_load) <= set(report.cluster.link_utilization)
    for load in s.link_load.values():
        assert len(load) == len(s.link_time_s) and all(0.0 <= x <= 1.0 for x in load)
    assert s.link_load["leaf"][-1] == 0.0  # both jobs have finished by the end
    assert "Network load by tier" in report_html(report)


def test_a_pattern_job_is_priced_on_its_gpus_and_on_what_others_leave() -> None:
    """On a 1:4 tree of six 48-GPU leaves: NCCL rings cross each leaf boundary once per direction wherever the
    nodes sit, so spreading costs a ring all-reduce nothing; an all-to-all over 96 GPUs packed on two leaves is
    limited by their up-links, and spread two nodes per leaf over all six it runs nearer the NIC rate."""
    shape = ClusterShape(32, 8, 450e9, 50e9, True)
    network = build_network(FatTreeTopology(kind="fat_tree", tiers=2, radix=64, oversubscription=4), shape)
    spread = np.concatenate([np.arange(16) + 48 * leaf for leaf in range(6)]).astype(np.int64)
    packed = np.arange(96, dtype=np.int64)
    rings = PatternTraffic(network, Pattern.ALL_REDUCE, 0.2)
    assert rings.place(packed).pace == rings.place(spread).pace == pytest.approx(1.0)
    experts = PatternTraffic(network, Pattern.ALL_TO_ALL, 0.2)
    src, dst, _ = all_to_all_flows(packed[None, :])
    alone_s = network.phase(src, dst, 1.0).transfer_s
    src, dst, _ = all_to_all_flows(spread[None, :])
    spread_s = network.phase(src, dst, 1.0).transfer_s
    placed = experts.place(spread)
    assert placed.pace == pytest.approx(0.8 + 0.2 * spread_s / alone_s) and placed.pace < 0.95
    assert placed.footprint.busy.max() == pytest.approx(placed.collective / placed.pace)
    assert "leaf" in set(network.channel_kinds[placed.footprint.channels].tolist())
    halved = placed.shared(np.full(placed.footprint.busy.size, 0.5))
    assert halved == pytest.approx((placed.pace + placed.collective) / placed.pace)
    assert placed.shared(np.ones(placed.footprint.busy.size)) == 1.0
    assert experts.place(np.arange(1, dtype=np.int64)).footprint.channels.size == 0  # one GPU: no collective


def batch_run(topology: str, *overrides: str, training: bool = False, pattern: str = "all_to_all") -> Report:
    """Two 256-GPU batch jobs that spend 30 % of their time in one collective (and a Mixtral training job)."""
    jobs = ("jobs=[{kind: generated, name: j, count: 2, rate: 1, gpus: {kind: choice, values: [256]}, "
            "duration: {kind: lognormal, median: 2 h, sigma: 0.01}, communication: {fraction: 0.3, pattern: "
            f"{pattern}}}}}]")
    workloads = f"workloads=[{JOB.format(name='a')}]" if training else "workloads=[]"
    return simulate(load_scenario(f"scenarios/compare-topologies/{topology}.yaml",
                                  [jobs, workloads, "horizon=3 h", *overrides]))


def test_batch_jobs_across_oversubscribed_leaves_slow_each_other() -> None:
    shared = batch_run("oversubscribed-fat-tree", "scheduler.placement=spread").jobs
    alone = batch_run("oversubscribed-fat-tree", "scheduler.placement=spread",
                      "cluster.shared_links=false").jobs
    assert shared is not None and alone is not None
    for with_b, without in zip(shared.rows, alone.rows, strict=True):
        assert with_b.placement_factor == without.placement_factor  # the same GPUs, as fast alone
        assert with_b.contention_factor > 1.02 and without.contention_factor == 1.0
        assert any("leaf" in link for link in with_b.contention_links)
        assert with_b.completion_s > without.completion_s
    assert shared.contention_factor > 1.02 and alone.contention_factor == 1.0


@pytest.mark.parametrize("pattern", ["all_reduce", "all_to_all"])
def test_batch_jobs_on_a_rail_tree_under_their_own_leaves_do_not_meet(pattern: str) -> None:
    jobs = batch_run("rail-fat-tree", pattern=pattern).jobs
    assert jobs is not None
    assert all(r.contention_factor == 1.0 and r.placement_factor == pytest.approx(1.0) for r in jobs.rows)


def test_rings_at_a_low_duty_cycle_fit_in_what_the_others_leave() -> None:
    """Each ring needs about 60 % of the shared up-links while it runs, 30 % of the time; the other job leaves
    it about 80 %: the time-averaged sharing model slows neither (docs/network.md, "Shared links")."""
    jobs = batch_run("oversubscribed-fat-tree", "scheduler.placement=spread", pattern="all_reduce").jobs
    assert jobs is not None and all(r.contention_factor == 1.0 for r in jobs.rows)


def test_training_and_batch_jobs_share_one_fabric() -> None:
    report = batch_run("oversubscribed-fat-tree", "scheduler.placement=spread", "cluster.nodes=96",
                       training=True)
    training = report.workloads["a"]
    assert report.jobs is not None and isinstance(training, TrainingReport)
    assert training.contention_factor > 1.01 and report.jobs.contention_factor > 1.01
    invariants = violations(report)
    assert not invariants, invariants


def test_kv_transfers_load_the_nics_between_the_pools() -> None:
    """Two prefill replicas stream KV caches to two decode replicas on another node: each NIC carries its share
    of the rate; halving what a bottleneck leaves doubles the transfer time."""
    shape = ClusterShape(4, 8, 450e9, 50e9, True)
    network = build_network(FatTreeTopology(kind="fat_tree", tiers=2, radix=64), shape)
    senders = [np.arange(0, 4, dtype=np.int64), np.arange(4, 8, dtype=np.int64)]
    receivers = [np.arange(8, 12, dtype=np.int64), np.arange(12, 16, dtype=np.int64)]
    placed = transfer_traffic(network, senders, receivers, 40e9)
    kinds = network.channel_kinds[placed.footprint.channels]
    nic = placed.footprint.busy[kinds == "nic"]
    capacity = network.capacity[placed.footprint.channels][kinds == "nic"]
    assert nic.size and nic.max() == pytest.approx(40e9 / 8 / capacity.max())  # 8 senders share the rate
    assert placed.shared(np.full(placed.footprint.busy.size, 0.5)) == pytest.approx(2.0)
    assert transfer_traffic(network, senders, [], 40e9).footprint.channels.size == 0


def test_a_disaggregated_service_puts_its_kv_transfers_on_the_fabric() -> None:
    report = simulate(load_scenario("scenarios/serve-llama70b-azure-conv-disaggregated.yaml", ["horizon=10 min"]))
    chat = report.workloads["chat"]
    assert isinstance(chat, InferenceReport) and chat.contention_factor == 1.0  # alone on the network
    assert report.cluster.link_utilization["nic"] > 0
    assert not violations(report)


def test_the_shipped_comparison_ranks_the_designs_by_their_interference() -> None:
    """README, "Sharing one fabric": the rail tree keeps every workload apart; on the 1:4 tree the spread
    trainings and the lab's jobs meet on leaf links; on the static torus the lab's rings cross the trainings'
    links; the OCS torus gives every job links of its own."""
    reports = {name: simulate(load_scenario(f"scenarios/shared-fabric/{name}.yaml"))
               for name in ("rail-fat-tree", "oversubscribed-fat-tree", "torus-3d", "ocs-torus")}

    def factors(report: Report) -> tuple[float, float, float]:
        a, b, chat = (report.workloads[n] for n in ("mixtral", "mixtral-b", "chat"))
        assert isinstance(a, TrainingReport) and isinstance(b, TrainingReport) and isinstance(chat, InferenceReport)
        assert report.jobs is not None and not violations(report)
        return max(a.contention_factor, b.contention_factor), report.jobs.contention_factor, chat.contention_factor

    assert factors(reports["rail-fat-tree"]) == (1.0, 1.0, 1.0)
    training, jobs, _ = factors(reports["oversubscribed-fat-tree"])
    assert training > 1.05 and jobs > 1.05
    assert all("leaf" in link for link in reports["oversubscribed-fat-tree"].workloads["mixtral"].contention_links)  # type: ignore[union-attr]
    training, jobs, _ = factors(reports["torus-3d"])
    assert training == 1.0 and jobs > 1.01
    assert factors(reports["ocs-torus"]) == (1.0, 1.0, 1.0)
    assert reports["ocs-torus"].cluster.link_utilization["ici"] > 0  # loads are still tracked


SPANNING_REPLICAS = """
name: tp16-on-a-torus
seed: 1
horizon: 10 min
cluster: {accelerator: h100-sxm, nodes: 16, gpus_per_node: 4, topology: {kind: torus, dims: [4, 4, 4]}}
pricing: {gpu_hour_usd: 2.5}
workloads:
  - name: chat
    kind: inference
    model: llama3.1-70b
    replicas: 2
    tp: 16
    slo: {ttft: 2 s, tpot: 100 ms}
    arrivals: {kind: poisson, rate: 4, requests: 1000}
    input_tokens: {kind: lognormal, median: 1000, sigma: 0.5, max: 4000}
    output_tokens: {kind: lognormal, median: 200, sigma: 0.5, max: 1000}
"""


def test_a_replica_spanning_chips_is_priced_on_the_chips_it_holds(tmp_path: Path) -> None:
    """TP 16 over 16 torus chips: packed on 0..15 as priced; on random chips its all-reduces travel further."""
    path = tmp_path / "tp16.yaml"
    path.write_text(SPANNING_REPLICAS, encoding="utf-8")
    tpot = {}
    for placement in ("packed", "random"):
        chat = simulate(load_scenario(path, [f"scheduler.placement={placement}"])).workloads["chat"]
        assert isinstance(chat, InferenceReport) and chat.tpot_s.p50 is not None
        tpot[placement] = chat.tpot_s.p50
    assert tpot["random"] > 1.1 * tpot["packed"]


def test_a_replica_inside_one_domain_keeps_its_price() -> None:
    scenario = load_scenario("scenarios/serve-llama70b-azure-conv.yaml")
    plan = service_plan(scenario.workloads[0], scenario.cluster, np.random.default_rng(1))  # type: ignore[arg-type]
    assert placed_replica(plan.iterations, np.arange(8, 12, dtype=np.int64)) is plan.iterations
    spanning = placed_replica(plan.iterations, np.array([0, 1, 8, 9], dtype=np.int64))
    assert spanning is not plan.iterations
    assert spanning.iteration_s(8, 500, 0, 0) > plan.iterations.iteration_s(8, 500, 0, 0)  # TP over the NICs
