"""The failure processes and the link state on their own: which nodes a failing unit takes down, reproducible
draws, failure counts against the renewal rate 1 / (MTBF + repair) (tolerances from Poisson standard errors),
periodic maintenance, causes, repeat offenders, the steady-state start; then what failures other than a
crash do to the reference training job of test_training_job (timelines worked out by hand): a failed link
re-prices it, links cutting it off partition it until repaired, stragglers slow it until evicted, and a
checkpoint store outage skips checkpoints and delays the restore.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import partial
from typing import Any

import numpy as np
import pytest
import simpy

from simulator.engine.cluster import Cluster, GpuIds
from simulator.engine.failures import failure_process, network_links, steady_state_start, unit_nodes
from simulator.engine.links import LinkState
from simulator.engine.pace import JobWide
from simulator.engine.training import TrainingJob
from simulator.models.reliability import Component, FailureModel
from simulator.models.topology.build import build_network
from simulator.models.topology.network import Network, Partitioned
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import FatTreeTopology
from tests.test_cluster import Witness
from tests.test_training_job import FAILURE_FREE_END_S, assert_balanced, bench, make_job

GPN = 8
INSTANT = {"median": 0, "sigma": 0}


def component(**fields: Any) -> Component:
    """A node component failing every 1000 s on average, repaired at once, with `fields` changed."""
    return Component.model_validate({"name": "node", "scope": "node", "mtbf": 1000.0, "repair": INSTANT, **fields})


def model_of(part: Component, **fields: Any) -> FailureModel:
    return FailureModel.model_validate({"components": [part.model_dump(by_alias=True)], **fields})


def simulate_failures(part: Component, horizon_s: float, nodes: int = 16, seed: int = 0,
                      model: FailureModel | None = None, leaves: tuple[int, int] = (16, 1)) -> Cluster:
    """Run one failure process alone on an idle cluster until `horizon_s`."""
    env = simpy.Environment()
    cluster = Cluster(env, nodes, GPN)
    env.process(failure_process(env, cluster, part, model or model_of(part), np.random.default_rng(seed),
                                leaves=leaves))
    env.run(until=horizon_s)
    return cluster


def poisson_bound(expected: float) -> float:
    """Four standard errors of a Poisson count with this mean."""
    return 4.0 * math.sqrt(expected)


# --- which nodes a unit takes down ------------------------------------------------------------------------


def test_gpu_and_node_units_take_down_their_own_node() -> None:
    gpu = unit_nodes(component(scope="gpu"), model_of(component()), 3, 4)
    assert [u.tolist() for u in gpu] == [[0]] * 4 + [[1]] * 4 + [[2]] * 4
    node = unit_nodes(component(), model_of(component()), 3, 4)
    assert [u.tolist() for u in node] == [[0], [1], [2]]


def test_a_rack_takes_down_its_consecutive_nodes_the_last_one_partial() -> None:
    rack = component(scope="rack")
    units = unit_nodes(rack, model_of(rack, nodes_per_rack=4), 10, GPN)
    assert [u.tolist() for u in units] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@pytest.mark.parametrize(("nodes_per_leaf", "leaves", "expected"), [
    (None, (2, 3), [[0, 1]] * 3 + [[2, 3]] * 3 + [[4]] * 3),  # three rails per group of two nodes
    (None, (16, 1), [[0, 1, 2, 3, 4]]),  # one leaf under the whole small cluster
    (2, (16, 4), [[0, 1], [2, 3], [4]]),  # given in the scenario: one leaf per two nodes, the topology ignored
])
def test_leaf_units_follow_the_topology_unless_given(nodes_per_leaf: int | None, leaves: tuple[int, int],
                                                     expected: list[list[int]]) -> None:
    leaf = component(scope="leaf")
    failures = model_of(leaf, nodes_per_leaf=nodes_per_leaf)
    units = unit_nodes(leaf, failures, 5, GPN, leaves)
    assert [u.tolist() for u in units] == expected
    assert failures.leaf_units(5, leaves) == len(units)


def small_fat_tree() -> Network:
    """Four 8-GPU nodes, one leaf each (radix 16), two spines."""
    spec = FatTreeTopology.model_validate({"kind": "fat_tree", "radix": 16, "oversubscription": 1})
    return build_network(spec, ClusterShape(4, GPN, 450e9, 50e9, False))


def test_network_links_are_the_switch_to_switch_edges_only() -> None:
    links = network_links(small_fat_tree())
    assert sorted(links, key=str) == sorted(((("leaf", leaf), ("spine", spine)) for leaf in range(4)
                                             for spine in range(2)), key=str)


# --- draws and counts --------------------------------------------------------------------------------------------


def test_the_same_seed_draws_the_same_failures_and_another_seed_others() -> None:
    part = component(repair={"median": 60.0, "sigma": 1.0}, causes={"gpu": 3.0, "psu": 1.0})
    one, two = simulate_failures(part, 20_000.0, seed=5), simulate_failures(part, 20_000.0, seed=5)
    other = simulate_failures(part, 20_000.0, seed=6)
    assert len(one.failure_log) > 100
    assert one.failure_log == two.failure_log
    assert one.failure_log != other.failure_log


@pytest.mark.parametrize(("mtbf_s", "repair_s", "expected"), [
    (1000.0, 0.0, 1600.0),  # 16 nodes x 100,000 s / 1000 s
    (2000.0, 0.0, 800.0),  # twice the MTBF: half the failures
    (1000.0, 1000.0, 800.0),  # a unit under repair does not fail: one failure per MTBF + repair
])
def test_failure_counts_follow_the_renewal_rate(mtbf_s: float, repair_s: float, expected: float) -> None:
    part = component(mtbf=mtbf_s, repair={"median": repair_s, "sigma": 0})
    cluster = simulate_failures(part, 100_000.0)
    assert abs(cluster.node_failures - expected) < poisson_bound(expected)
    if repair_s:
        # each node is down exactly repair_s per failure (a repair under way at the horizon counts its part)
        assert cluster.down_gpu_seconds() <= cluster.node_failures * repair_s * GPN
        assert cluster.down_gpu_seconds() > (cluster.node_failures - 16) * repair_s * GPN


def test_periodic_maintenance_hits_every_unit_once_per_period_at_its_own_phase() -> None:
    """Period 100 s, a 10 s repair: each of 4 nodes goes down every 110 s, first at a phase in [0, 100)."""
    part = component(mtbf=100.0, distribution="periodic", repair={"median": 10.0, "sigma": 0})
    cluster = simulate_failures(part, 1000.0, nodes=4)
    by_node: dict[int, list[float]] = {}
    for time_s, node, repair_s, _ in cluster.failure_log:
        assert repair_s == 10.0
        by_node.setdefault(node, []).append(time_s)
    assert sorted(by_node) == [0, 1, 2, 3]
    for times in by_node.values():
        assert 0.0 <= times[0] < 100.0
        assert np.diff(times) == pytest.approx(110.0)
        assert len(times) == math.floor((1000.0 - times[0]) / 110.0 - 1e-9) + 1
    assert len({times[0] for times in by_node.values()}) == 4  # rolling: not all at once


def test_causes_are_drawn_by_their_weights() -> None:
    """Weights 3:1 over ~1600 failures: the share of "gpu" is 0.75 within 4 binomial standard errors."""
    cluster = simulate_failures(component(causes={"gpu": 3.0, "psu": 1.0}), 100_000.0)
    causes = Counter(cause for *_, cause in cluster.failure_log)
    total = sum(causes.values())
    assert set(causes) == {"gpu", "psu"}
    assert abs(causes["gpu"] / total - 0.75) < 4 * math.sqrt(0.75 * 0.25 / total)


def test_without_causes_the_component_name_is_the_cause() -> None:
    cluster = simulate_failures(component(name="host"), 10_000.0)
    assert {cause for *_, cause in cluster.failure_log} == {"host"}


def test_repeat_offenders_fail_more_often() -> None:
    """Half of 1600 nodes fail 4x as often: (800 x 4 + 800) x 625 s / 1000 s = 2500 failures expected. Which
    nodes offend is itself drawn (binomial: sd 20 nodes, so 20 x 3 x 0.625 = 37.5 failures) on top of the
    Poisson sd of 50: within 4 x sqrt(37.5^2 + 50^2) = 250 (without offenders: 1000; all offenders: 4000)."""
    part = component(repeat_offender_fraction=0.5, repeat_offender_factor=4.0)
    assert abs(simulate_failures(part, 625.0, nodes=1600).node_failures - 2500.0) < 4 * math.hypot(37.5, 50.0)
    everyone = component(repeat_offender_fraction=1.0, repeat_offender_factor=4.0)
    assert abs(simulate_failures(everyone, 25_000.0).node_failures - 1600.0) < poisson_bound(1600.0)


def test_gpu_failures_take_their_node_at_the_gpu_rate() -> None:
    """Per-GPU units: 2 nodes x 8 GPUs, MTBF 1000 s each, 10,000 s: 160 failures, split over both nodes."""
    cluster = simulate_failures(component(scope="gpu"), 10_000.0, nodes=2)
    assert abs(cluster.node_failures - 160.0) < poisson_bound(160.0)
    assert {node for _, node, _, _ in cluster.failure_log} == {0, 1}


def test_a_rack_failure_takes_its_nodes_down_at_the_same_instant() -> None:
    rack = component(scope="rack")
    cluster = simulate_failures(rack, 10_000.0, nodes=4, model=model_of(rack, nodes_per_rack=2))
    log = cluster.failure_log
    assert len(log) % 2 == 0 and log
    for first, second in zip(log[::2], log[1::2], strict=True):
        assert first[0] == second[0] and first[1] % 2 == 0 and second[1] == first[1] + 1


def test_a_storage_failure_takes_the_checkpoint_store_down_not_nodes() -> None:
    store = component(scope="storage", mtbf=1000.0, repair={"median": 100.0, "sigma": 0})
    cluster = simulate_failures(store, 100_000.0)
    assert cluster.node_failures == 0
    assert abs(cluster.storage_failures - 100_000.0 / 1100.0) < poisson_bound(100_000.0 / 1100.0)


def test_a_slowdown_component_slows_nodes_instead_of_failing_them() -> None:
    part = component(effect="slowdown", slowdown=0.5, straggler_detection="45 s", repair={"median": 7.0, "sigma": 0})
    env = simpy.Environment()
    cluster = Cluster(env, 2, GPN)
    witness = Witness()
    cluster.hold(np.arange(2 * GPN), witness)
    env.process(failure_process(env, cluster, part, model_of(part), np.random.default_rng(1)))
    env.run(until=10_000.0)
    assert cluster.node_failures == 0 and cluster.up.all()
    assert abs(len(witness.slowed) - 20.0) < poisson_bound(20.0)
    assert {factor for _, factor in witness.slowed} == {1.5}


@pytest.mark.parametrize(("shape", "distribution"), [(1.0, "exponential"), (2.0, "weibull"), (0.7, "weibull")])
def test_units_start_in_steady_state_with_the_mean_residual_life(shape: float, distribution: str) -> None:
    """A unit met at a random time has E[X^2] / (2 E[X]) left to live: the mean for the exponential, 2/pi x mean
    for Weibull shape 2, 1.569 x mean for shape 0.7 (decreasing hazard: long-lived units are more often met),
    within 4 standard errors of 100,000 units plus 0.5% for the finite warm-up of 10 mean lifetimes."""
    fields = {"distribution": distribution} if shape == 1.0 else {"distribution": distribution,
                                                                 "weibull_shape": shape}
    part = component(mtbf=100.0, **fields)
    start = steady_state_start(part, np.random.default_rng(3), np.full(100_000, 100.0))
    expected = 100.0 * math.gamma(1 + 2 / shape) / math.gamma(1 + 1 / shape) ** 2 / 2
    assert start.min() > 0.0
    assert abs(start.mean() - expected) < 4 * start.std() / math.sqrt(start.size) + 0.005 * expected


def test_periodic_units_start_at_uniform_phases_within_one_period() -> None:
    part = component(mtbf=100.0, distribution="periodic")
    start = steady_state_start(part, np.random.default_rng(3), np.full(10_000, 100.0))
    assert start.min() >= 0.0 and start.max() < 100.0
    assert abs(start.mean() - 50.0) < 4 * 100.0 / math.sqrt(12 * start.size)


# --- links ------------------------------------------------------------------------------------------------------


def uplink_pricer(network: Network, gpus: GpuIds) -> float:
    """A stand-in for step pricing: 2 s, doubled while one of a job's leaves has one of its two uplinks down,
    partitioned when both are."""
    down = max(sum(network.is_down(("leaf", leaf), ("spine", spine)) for spine in (0, 1))
               for leaf in {int(g) // GPN for g in gpus})
    if down == 2:
        raise Partitioned("leaf uplinks")
    return 2.0 * (1 + down)


def linked_job(*failed: tuple[object, object]) -> TrainingJob:
    """The reference job of test_training_job on nodes 0-1, with `failed` links down 50-80 s."""
    b = bench()
    network = small_fat_tree()
    links = LinkState(b.env, network, network_links(network))
    job = make_job(gpus=16)
    links.watch(job, uplink_pricer)
    for edge in failed:
        b.at(50.0, partial(links.fail, edge, 30.0, "optic"))
    b.start(job)
    b.env.run()
    assert links.link_failures == len(failed) and links.failed == []
    assert_balanced(job)
    return job


def test_a_failed_link_slows_a_job_on_its_leaf_until_repaired() -> None:
    """One uplink of leaf 0 down 50-80: steps take 4 s. Span 42-62 is cut at 50 (4 steps kept), steps 24-30 take
    50-74, stall, one step of 75-80 kept (1 s redone), then 19 steps at 2 s and a stall: ends at 119."""
    job = linked_job((("leaf", 0), ("spine", 0)))
    assert job.finished_s == 119.0
    assert (job.losses.slowdown_s, job.losses.redone_s) == (14.0, 1.0)
    assert job.interruptions == 0


def test_a_failed_link_elsewhere_leaves_the_job_alone() -> None:
    job = linked_job((("leaf", 3), ("spine", 0)), (("leaf", 3), ("spine", 1)))
    assert job.finished_s == FAILURE_FREE_END_S
    assert job.losses.slowdown_s == 0.0


def test_links_cutting_a_leaf_off_partition_the_job_until_one_is_back() -> None:
    """Both uplinks of leaf 0 down 50-80: back to step 20 (8 s redone), detection 50-53, waiting 53-80,
    restart 80-89, steps 20-50 at full speed: ends at 151."""
    job = linked_job((("leaf", 0), ("spine", 0)), (("leaf", 0), ("spine", 1)))
    assert job.causes == {"partitioned:optic": 1}
    assert (job.losses.redone_s, job.losses.waiting_s) == (8.0, 27.0)
    assert job.finished_s == 151.0


# --- what stragglers, the checkpoint store and the network do to a training job ----------------------------


def test_a_failure_of_the_checkpoint_store_skips_checkpoints_and_delays_the_restore() -> None:
    """The store is down 30-130. Step 20's checkpoint (due at 41) is skipped, so a failure at 50 (repair 10 s)
    rolls back to step 10 (redone 1 + 28 s); after detection and the repair (53-60) the restore waits for the
    store (60-130); then restart 130-139 and steps 10-50 with three stalls: ends at 222."""
    job = make_job()
    b = bench()
    b.at(30.0, lambda: b.cluster.fail_storage(100.0))
    b.fail(50.0, 1, 10.0)
    b.start(job)
    b.env.run()
    assert job.checkpoints_skipped == 1
    assert job.checkpoints == 4  # steps 10, 20 (the second time), 30, 40
    assert job.losses.redone_s == 29.0
    assert job.losses.waiting_s == 7.0 + 70.0
    assert job.finished_s == 222.0
    assert b.cluster.storage_failures == 1
    assert_balanced(job)


def test_a_partition_stops_the_job_until_the_network_reconnects() -> None:
    """Partitioned at 50 until 100: back to step 20 (8 s redone), detection 50-53, waiting 53-100, restart 100-109,
    steps 20-50: ends at 171; the cause is counted as an interruption."""
    job = make_job()
    b = bench()
    reconnected = b.env.event()
    b.at(50.0, lambda: job.partition(reconnected, "partitioned:link"))
    b.at(100.0, reconnected.succeed)
    b.start(job)
    b.env.run()
    assert job.causes == {"partitioned:link": 1}
    assert job.losses.waiting_s == 47.0
    assert job.finished_s == 171.0
    assert_balanced(job)


def test_a_straggler_slows_the_job_until_detected_then_is_evicted_as_a_failure() -> None:
    """Node 1 turns 2x slow at 50 (detected after 30 s, then repaired in 100 s). Span 42-62 is cut at 50 with 4
    steps kept; steps 24-30 take 4 s each (50-74), stall 74-75 (step 30 durable), steps from 30 at 4 s until the
    eviction at 80: 1 step kept, 1 s redone, then rolled back to 30 (2 s redone more); detection 80-83, waiting
    for node 1 until 180, restart 180-189, steps 30-50 at full speed with a stall: ends at 230."""
    job = make_job()
    b = bench()
    b.at(50.0, lambda: b.cluster.slow_node(1, 2.0, 30.0, 100.0, "thermal"))
    b.start(job)
    b.env.run()
    losses = job.losses
    assert (losses.slowdown_s, losses.redone_s, losses.waiting_s) == (14.0, 3.0, 97.0)
    assert job.causes == {"straggler:thermal": 1}
    assert job.finished_s == 230.0
    assert b.cluster.failure_log == [(80.0, 1, 100.0, "straggler:thermal")]
    assert_balanced(job)


def test_a_straggler_that_fails_before_it_is_detected_is_not_evicted_again() -> None:
    """Node 1 turns 2x slow at 50 and fails at 60 (repaired at 70), before its detection at 80. Steps 24-26 at
    4 s are kept then rolled back to 20 (14 s redone in all, 4 s of slowdown), detection 60-63, waiting 63-70,
    restart 70-79, steps 20-50 at full speed: ends at 141; the eviction due at 80 finds nothing to evict."""
    job = make_job()
    b = bench()
    b.at(50.0, lambda: b.cluster.slow_node(1, 2.0, 30.0, 100.0, "thermal"))
    b.fail(60.0, 1, 10.0)
    b.start(job)
    b.env.run()
    assert (job.losses.slowdown_s, job.losses.redone_s, job.losses.waiting_s) == (4.0, 14.0, 7.0)
    assert job.finished_s == 141.0
    assert job.causes == {"node": 1}
    assert b.cluster.node_failures == 1
    assert_balanced(job)


def test_a_network_pace_change_cuts_the_span_and_continues_at_the_new_pace() -> None:
    """The network makes steps 1.5x longer from 50 to 80: span 42-62 is cut at 50 (4 steps kept), steps 24-30
    take 3 s (50-68), stall 68-69, steps from 30 at 3 s until the cut at 80 (3 kept, 2 s redone), then full
    speed from step 33: 17 steps and the stall at step 40, ending at 115 = 104 + 9 (slower steps) + 2."""
    job = make_job()
    b = bench()
    b.at(50.0, lambda: job.set_pace(JobWide.NETWORK, 1.5))
    b.at(80.0, lambda: job.set_pace(JobWide.NETWORK, 1.0))
    b.start(job)
    b.env.run()
    assert job.losses.slowdown_s == 9 * 1.0
    assert job.losses.redone_s == 2.0
    assert job.finished_s == 115.0
    assert job.interruptions == 0
    assert_balanced(job)
