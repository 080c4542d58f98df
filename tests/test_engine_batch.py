"""BatchJob on its own: one or two jobs on a 4-node x 8-GPU cluster, with node failures and urgent work
injected at chosen instants; run, queueing, interruption (with and without checkpoints), preemption and
settling at a horizon, each against a timeline worked out by hand."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator

import pytest
import simpy

from simulator.engine.batch import BatchJob
from simulator.engine.cluster import Cluster

GPN = 8
POWER_W = 500.0


def batch(gpus: int = 8, duration_s: float = 100.0, submitted_s: float = 0.0, interval_s: float = 0.0,
          name: str = "job", priority: int = 0, preemptible: bool = False,
          checkpoint_on_preempt: bool = True) -> BatchJob:
    return BatchJob(name=name, tenant="t", gpus=gpus, duration_s=duration_s, submitted_s=submitted_s,
                    priority=priority, checkpoint_interval_s=interval_s, power_w=POWER_W, preemptible=preemptible,
                    checkpoint_on_preempt=checkpoint_on_preempt)


def play(*jobs: BatchJob, actions: tuple[tuple[float, Callable[[Cluster], object]], ...] = (),
         until: float | None = None, preemption: bool = False) -> Cluster:
    """Run the jobs (and `actions` on the cluster at their times) on a fresh 4 x 8 cluster (priority order
    with preemption if asked)."""
    env = simpy.Environment()
    policy = "priority" if preemption else "fifo"
    cluster = Cluster(env, 4, GPN, policy, preemption)

    def act(time_s: float, action: Callable[[Cluster], object]) -> Generator[simpy.Event, object, None]:
        yield env.timeout(time_s)
        action(cluster)

    for time_s, action in actions:
        env.process(act(time_s, action))
    for job in jobs:
        job.start(env, cluster)
    env.run(until=until)
    return cluster


def fail(time_s: float, *nodes: int, repair_s: float = 1000.0) -> tuple[float, Callable[[Cluster], object]]:
    """Nodes failing together (one event) at `time_s`."""
    return time_s, lambda cluster: [cluster.fail_node(n, repair_s, "node") for n in nodes]


def test_a_job_alone_runs_for_its_duration() -> None:
    job = batch(submitted_s=10.0)
    assert math.isnan(job.remaining_s) and job.status == "queued"
    cluster = play(job)
    assert (job.started_s, job.finished_s, job.status) == (10.0, 110.0, "completed")
    assert (job.queued_s, job.held_s, job.lost_s, job.remaining_s) == (0.0, 100.0, 0.0, 0.0)
    assert cluster.productive_gpu_s == cluster.busy_gpu_s == 800.0
    assert cluster.busy_energy_j == 800.0 * POWER_W
    assert cluster.free.all()


def test_a_job_that_does_not_fit_queues_until_gpus_come_back() -> None:
    big, small = batch(gpus=32, duration_s=50.0), batch(submitted_s=10.0, name="small")
    play(big, small)
    assert (small.started_s, small.finished_s, small.queued_s) == (50.0, 150.0, 40.0)
    assert small.held_s == 100.0


@pytest.mark.parametrize(("interval_s", "lost_s", "end_s"), [(30.0, 10.0, 110.0), (0.0, 70.0, 170.0),
                                                             (100.0, 70.0, 170.0), (7.0, 0.0, 100.0)])
def test_a_failure_loses_the_work_since_the_last_checkpoint_and_requeues_the_job(
        interval_s: float, lost_s: float, end_s: float) -> None:
    """Node 0 fails at 70 (for 1000 s): the job keeps the whole checkpoint intervals of its 70 s and is placed
    again at once on node 1 for the rest (a 7 s interval keeps all 70 s)."""
    job = batch(interval_s=interval_s)
    cluster = play(job, actions=(fail(70.0, 0),))
    assert job.interruptions == 1 and job.lost_s == lost_s
    assert job.finished_s == end_s
    assert job.held_s == end_s
    assert job.queued_s == 0.0
    assert cluster.productive_gpu_s == 800.0  # the job's 100 s, once
    assert cluster.busy_gpu_s == end_s * GPN  # and the lost seconds


def test_nodes_failing_together_interrupt_a_job_once() -> None:
    job = batch(gpus=16, interval_s=30.0)
    cluster = play(job, actions=(fail(70.0, 0, 1),))
    assert job.interruptions == 1 and cluster.node_failures == 2
    assert job.finished_s == 110.0  # on nodes 2 and 3 from 70


def test_an_interrupted_job_waits_for_healthy_room() -> None:
    """The job needs the whole cluster: after node 2 fails at 70 (repaired at 120) it queues 70-120 and then
    runs its remaining 40 s."""
    job = batch(gpus=32, interval_s=30.0)
    play(job, actions=(fail(70.0, 2, repair_s=50.0),))
    assert (job.queued_s, job.held_s, job.lost_s) == (50.0, 110.0, 10.0)
    assert job.finished_s == 160.0


def test_a_failure_of_a_node_the_job_does_not_hold_changes_nothing() -> None:
    job = batch()
    play(job, actions=(fail(50.0, 3),))
    assert job.interruptions == 0 and job.finished_s == 100.0


@pytest.mark.parametrize(("checkpoint_on_preempt", "lost_s", "end_s"), [(True, 0.0, 110.0), (False, 15.0, 125.0)])
def test_urgent_work_preempts_a_preemptible_job_which_resumes_later(checkpoint_on_preempt: bool, lost_s: float,
                                                                    end_s: float) -> None:
    """Urgent work (16 GPUs for 10 s) arrives at 45: the job stops, keeping its 45 s (or its 30 s checkpoint),
    waits 45-55 for the whole cluster and runs the rest."""
    job = batch(gpus=32, interval_s=30.0, preemptible=True, checkpoint_on_preempt=checkpoint_on_preempt)
    urgent = batch(gpus=16, duration_s=10.0, submitted_s=45.0, name="urgent", priority=5)
    cluster = play(job, urgent, preemption=True)
    assert (urgent.started_s, urgent.finished_s) == (45.0, 55.0)
    assert job.preemptions == 1 and job.interruptions == 0
    assert (job.lost_s, job.queued_s) == (lost_s, 10.0)
    assert job.finished_s == end_s
    assert job.held_s == end_s - 10.0
    assert cluster.preemptions == {"t": 1}


def test_a_job_that_is_not_preemptible_makes_urgent_work_wait() -> None:
    job = batch(gpus=32)
    urgent = batch(gpus=16, duration_s=10.0, submitted_s=45.0, name="urgent", priority=5)
    play(job, urgent, preemption=True)
    assert job.preemptions == 0 and job.finished_s == 100.0
    assert (urgent.started_s, urgent.queued_s) == (100.0, 55.0)


def test_settle_books_a_running_attempt_as_done_and_a_queued_wait() -> None:
    running = batch(gpus=32, interval_s=30.0)
    queued = batch(submitted_s=10.0, name="queued")
    cluster = play(running, queued, until=40.0)
    assert running.running and not running.waiting
    assert queued.waiting and not queued.running
    for job in (running, queued):
        job.settle(40.0, cluster)
    assert (running.held_s, running.remaining_s, running.status) == (40.0, 60.0, "running")
    assert not running.running
    assert (queued.queued_s, queued.held_s, queued.status) == (30.0, 0.0, "queued")
    assert not queued.waiting
    assert cluster.productive_gpu_s == cluster.busy_gpu_s == 40.0 * 32


def test_settle_of_a_requeued_job_counts_only_its_latest_wait() -> None:
    """Interrupted at 70 with no healthy room until 120: at a horizon of 100 it has queued 30 s."""
    job = batch(gpus=32, interval_s=30.0)
    cluster = play(job, actions=(fail(70.0, 2, repair_s=50.0),), until=100.0)
    job.settle(100.0, cluster)
    assert (job.queued_s, job.held_s, job.lost_s, job.remaining_s) == (30.0, 70.0, 10.0, 40.0)
    assert job.status == "running"
