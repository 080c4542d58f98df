"""The failure-effect path every holder shares (simulator/engine/effects.py): a straggler slows a holder's work
until it is detected, then its node is evicted like a failed one unless it is down already or no longer slows
anyone; batch jobs stretch under a straggler and lose work to its eviction, costed as failure; and the policy
registries (scheduling, checkpoint intervals) implement every name the scenario accepts."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import pytest
import simpy
from hypothesis import given
from hypothesis import strategies as st

from simulator.engine.cluster import Cluster
from simulator.engine.scheduling import POLICIES, Policy
from simulator.models.reliability import (
    INTERVAL_RULES,
    Checkpoint,
    CheckpointPolicy,
    daly_interval_s,
    young_interval_s,
)
from simulator.plan.load import load_scenario
from simulator.run import simulate
from simulator.scenario.policies import SchedulerName
from tests.test_batch_jobs import scenario_file
from tests.test_engine_batch import GPN, batch, fail, play


@dataclass
class Sticky:
    """A holder that stays slowed by every straggler it is told of, and counts its crashes."""

    crashes: list[tuple[int, str]] = field(default_factory=list)
    slowed: set[int] = field(default_factory=set)

    def crash(self, node: int, cause: str) -> None:
        self.crashes.append((node, cause))

    def slow(self, node: int, factor: float) -> None:
        self.slowed.add(node)

    def is_slowed(self, node: int) -> bool:
        return node in self.slowed


def slow(time_s: float, factor: float, detection_s: float = 30.0) -> tuple[float, Callable[[Cluster], object]]:
    """Node 0 turning `factor` times slow at `time_s`, found `detection_s` later and repaired in 1000 s."""
    return time_s, lambda cluster: cluster.slow_node(0, factor, detection_s, 1000.0, "thermal")


def test_a_straggler_still_slowing_its_holder_is_evicted_once_detected() -> None:
    env = simpy.Environment()
    cluster = Cluster(env, 4, GPN)
    holder = Sticky()
    cluster.hold(cluster.request(2 * GPN).value, holder)  # nodes 0 and 1
    cluster.slow_node(1, 1.5, 30.0, 600.0, "thermal")
    env.run(until=29.0)
    assert cluster.up.all() and holder.crashes == []
    env.run(until=31.0)
    assert cluster.failure_log == [(30.0, 1, 600.0, "straggler:thermal")]
    assert holder.crashes == [(1, "straggler:thermal")] and not cluster.up[1]


def test_a_straggler_already_down_at_detection_is_not_failed_again() -> None:
    env = simpy.Environment()
    cluster = Cluster(env, 4, GPN)
    holder = Sticky()
    cluster.hold(cluster.request(2 * GPN).value, holder)
    cluster.slow_node(0, 2.0, 30.0, 600.0, "thermal")
    env.run(until=10.0)
    cluster.fail_node(0, 100.0, "psu")  # down 10-110, over the detection at 30
    env.run(until=200.0)
    assert cluster.node_failures == 1 and holder.crashes == [(0, "psu")]


def test_a_straggler_slows_a_batch_job_until_evicted_then_it_loses_work_like_a_crash() -> None:
    """Node 0 turns 2x slow at 40 (found 30 s later): the job has run 40 s, then does 15 s of work in 40-70;
    evicted at 70 with 55 s done, it keeps its 30 s checkpoint (25 s lost) and runs its other 70 s on node 1
    from 70 at full speed: it ends at 140."""
    job = batch(interval_s=30.0)
    cluster = play(job, actions=(slow(40.0, 2.0),))
    assert cluster.failure_log == [(70.0, 0, 1000.0, "straggler:thermal")]
    assert job.interruptions == 1 and job.lost_s == 25.0
    assert (job.finished_s, job.held_s) == (140.0, 140.0)
    assert cluster.productive_gpu_s == 100.0 * GPN  # the job's 100 s, once
    assert cluster.busy_gpu_s == 140.0 * GPN  # and the slow and lost seconds


def test_a_batch_job_that_ends_before_its_straggler_is_found_is_only_slowed() -> None:
    """Node 0 turns 2x slow at 90: the job's last 10 s take 20 s, ending at 110; nothing is evicted at 120."""
    job = batch(interval_s=30.0)
    cluster = play(job, actions=(slow(90.0, 2.0),))
    assert (job.finished_s, job.held_s, job.lost_s, job.interruptions) == (110.0, 110.0, 0.0, 0)
    assert cluster.node_failures == 0 and cluster.up.all()
    assert cluster.productive_gpu_s == 100.0 * GPN


def test_the_worst_of_two_stragglers_paces_a_batch_job_and_a_failure_stops_it_at_once() -> None:
    """Node 0 turns 1.5x slow at 20 and 3x slow at 50 (found at 110 and 140): 20 s + 20 s (20-50) + 10 s
    (50-80) of work when node 1 fails at 80 (the job holds nodes 0 and 1): no checkpoints, all 50 s lost, and
    it starts over at 80, ending at 180; the stragglers are not evicted (the attempt they slowed is over)."""
    job = batch(gpus=16)
    cluster = play(job, actions=(slow(20.0, 1.5, 90.0), slow(50.0, 3.0, 90.0), fail(80.0, 1)))
    assert job.lost_s == pytest.approx(50.0)
    assert job.interruptions == 1 and job.finished_s == 180.0
    assert cluster.node_failures == 1 and cluster.up[0]


def test_batch_work_lost_to_stragglers_and_crashes_is_costed_as_failure(tmp_path: Path) -> None:
    """Batch jobs on a cluster with crashing and straggling nodes: stragglers are evicted as failures, and the
    cluster's failure cost is exactly the batch jobs' lost GPU-hours at the GPU-hour price."""
    extra = {
        "cluster": {"accelerator": "h100-sxm", "nodes": 4, "gpus_per_node": 8, "topology": {"kind": "single_switch"}},
        "failures": {"components": [
            {"name": "node", "scope": "node", "mtbf": "1 d", "repair": {"median": "1 h", "sigma": 0}},
            {"name": "slow", "scope": "node", "mtbf": "12 h", "effect": "slowdown", "slowdown": 1.0,
             "straggler_detection": "20 min", "repair": {"median": "1 h", "sigma": 0}}]},
        "jobs": [{"kind": "generated", "count": 200, "rate": 1 / 1800, "gpus": {"kind": "choice", "values": [8, 16]},
                  "duration": {"kind": "lognormal", "median": "1 h", "sigma": 0.5, "max": "6 h"},
                  "checkpoint_interval": "20 min"}],
    }
    report = simulate(load_scenario(scenario_file(tmp_path, **extra)), series=False)
    jobs, cluster = report.jobs, report.cluster
    assert jobs is not None and jobs.completed == 200 and jobs.lost_gpu_hours > 0
    assert cluster.node_failures > jobs.interruptions > 0
    assert cluster.cost_breakdown.failure_usd == pytest.approx(jobs.lost_gpu_hours * 2.0)


def test_every_scheduling_policy_name_has_one_implementation() -> None:
    assert set(POLICIES.names) == set(get_args(SchedulerName))
    assert all(issubclass(POLICIES[name], Policy) for name in POLICIES.names)
    with pytest.raises(ValueError, match="registered twice"):
        POLICIES.register("fifo")(Policy)


def test_every_checkpoint_policy_has_an_interval_rule() -> None:
    assert set(INTERVAL_RULES) == set(CheckpointPolicy)


@given(stall_s=st.floats(1.0, 3600.0), mttf_s=st.floats(60.0, 1e8), interval_s=st.floats(1.0, 1e5))
def test_checkpoint_intervals_follow_their_policy(stall_s: float, mttf_s: float, interval_s: float) -> None:
    def chosen(policy: str, mttf: float = mttf_s) -> float:
        spec = Checkpoint(policy=CheckpointPolicy(policy), interval=interval_s, write=stall_s)
        return spec.chosen_interval_s(mttf)

    assert chosen("none") == 0.0
    assert chosen("fixed") == interval_s
    assert chosen("young") == young_interval_s(stall_s, mttf_s)
    assert chosen("daly") == daly_interval_s(stall_s, mttf_s)
    assert chosen("young", math.inf) == chosen("daly", math.inf) == 0.0  # a job that never fails
