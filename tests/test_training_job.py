"""TrainingJob on its own: one job (or two) driven in a small SimPy environment on a 4-node x 8-GPU cluster,
with failures, slowdowns and preemptions injected at chosen instants, checked against timelines worked out
by hand (in each test's docstring), so a change in how spans, checkpoints or recoveries are accounted shows.

The reference job (unless a test says otherwise): 50 steps of 2 s, a checkpoint every 10 steps that stalls
1 s and is durable when the stall ends, detection 3 s, restart 4 s, restore 5 s. Failure-free it runs
spans 0-20, 21-41, 42-62, 63-83 and 84-104 with checkpoint stalls after the first four: it ends at 104 s.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import astuple, dataclass, replace

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine.cluster import Cluster, GpuIds
from simulator.engine.training import TrainingJob
from simulator.models.reliability import NoSpare
from simulator.models.workload.step_time import StepTime
from simulator.plan.training import NO_FAILURES, RecoveryPlan
from simulator.scenario.policies import SchedulerName

STEP_S = 2.0
STEPS = 50
POWER_W = 1000.0
GPN = 8
BASE = RecoveryPlan(interval_steps=10, stall_s=1.0, write_s=1.0, restore_s=5.0, detection_s=3.0, restart_s=4.0,
                    spare_nodes=0)
FAILURE_FREE_END_S = STEPS * STEP_S + 4 * BASE.stall_s  # 104 s


def make_job(gpus: int = 32, recovery: RecoveryPlan = BASE, steps: int = STEPS, submitted_s: float = 0.0,
             name: str = "job", priority: int = 0, preemptible: bool = False,
             checkpoint_on_preempt: bool = True) -> TrainingJob:
    """The reference job (or a variant)."""
    return TrainingJob(name=name, gpus=gpus, steps_total=steps, step_s=STEP_S, power_w=POWER_W,
                       submitted_s=submitted_s, recovery=recovery, priority=priority, preemptible=preemptible,
                       checkpoint_on_preempt=checkpoint_on_preempt)


@dataclass
class Bench:
    """An environment, a 4 x 8 cluster, and actions scheduled at fixed times."""

    env: simpy.Environment
    cluster: Cluster

    def at(self, time_s: float, action: Callable[[], object]) -> None:
        """Run `action` at `time_s`."""

        def fire() -> Generator[simpy.Event, object, None]:
            yield self.env.timeout(time_s)
            action()

        self.env.process(fire())

    def fail(self, time_s: float, node: int, repair_s: float, cause: str = "node") -> None:
        """Node `node` fails at `time_s` for `repair_s`, as the failure processes do it."""
        self.at(time_s, lambda: self.cluster.fail_node(node, repair_s, cause))

    def start(self, *jobs: TrainingJob) -> None:
        for job in jobs:
            job.start(self.env, self.cluster)


def bench(nodes: int = 4, policy: SchedulerName = "fifo", preemption: bool = False) -> Bench:
    env = simpy.Environment()
    return Bench(env, Cluster(env, nodes, GPN, policy, preemption))


def run(job: TrainingJob, *failures: tuple[float, int, float], nodes: int = 4, until: float | None = None) -> Bench:
    """Run `job` alone with node failures (time, node, repair) until it ends (or settle it at `until`)."""
    b = bench(nodes)
    for time_s, node, repair_s in failures:
        b.fail(time_s, node, repair_s)
    b.start(job)
    b.env.run(until=until)
    if until is not None:
        job.settle(until, b.cluster)
    return b


def unaccounted_s(job: TrainingJob, now: float) -> float:
    """Held time not explained by kept steps and the losses (a partial step cut off at a horizon)."""
    return job.holding_s(now) - job.productive_s - float(sum(astuple(job.losses)))


def assert_balanced(job: TrainingJob) -> None:
    """A finished job: every held second is a kept step or a loss."""
    assert job.finished_s is not None
    assert unaccounted_s(job, job.finished_s) == pytest.approx(0.0, abs=1e-9)
    assert job.steps_done == job.steps_total


# --- failure-free runs ------------------------------------------------------------------------------------


def test_a_job_without_checkpoints_or_failures_takes_exactly_its_steps() -> None:
    job = make_job(recovery=NO_FAILURES)
    b = run(job)
    assert (job.started_s, job.finished_s) == (0.0, STEPS * STEP_S)
    assert job.status == "completed"
    assert job.busy_s == job.productive_s == job.holding_s(500.0) == 100.0
    assert sum(astuple(job.losses)) == 0.0
    assert (job.checkpoints, job.interruptions) == (0, 0)
    assert b.cluster.busy_gpu_s == 32 * 100.0
    assert b.cluster.busy_energy_j == 32 * 100.0 * POWER_W
    assert b.cluster.allocated_seconds().sum() == 32 * 100.0
    assert b.cluster.free.all()  # given back


def test_a_delayed_submission_starts_then_and_shifts_the_end() -> None:
    job = make_job(recovery=NO_FAILURES, submitted_s=30.0)
    run(job)
    assert (job.started_s, job.finished_s) == (30.0, 130.0)
    assert job.holding_s(130.0) == 100.0


@pytest.mark.parametrize(("steps", "checkpoints"), [(50, 4), (40, 3), (41, 4), (9, 0)])
def test_checkpoints_split_the_run_into_spans_and_their_stalls_shift_the_end(steps: int, checkpoints: int) -> None:
    """One checkpoint per full interval of progress, none after the last step (40 steps: at 10, 20, 30)."""
    job = make_job(steps=steps)
    run(job)
    assert job.checkpoints == checkpoints
    assert job.losses.checkpoint_s == checkpoints * BASE.stall_s
    assert job.finished_s == steps * STEP_S + checkpoints * BASE.stall_s
    assert_balanced(job)


def test_checkpoint_marks_fall_where_each_stall_ends() -> None:
    job = make_job()
    run(job)
    assert [t for t, _ in job.checkpoint_marks.kept] == [21.0, 42.0, 63.0, 84.0]


def test_progress_counts_the_span_under_way() -> None:
    job = make_job()
    b = bench()
    b.start(job)
    b.env.run(until=31.0)  # 10 steps kept, then 21-31 s of the second span: 5 steps more
    assert job.computing
    assert job.progress(31.0) == pytest.approx(15 / STEPS)
    b.env.run(until=41.5)  # in the second stall
    assert not job.computing
    assert job.progress(41.5) == pytest.approx(20 / STEPS)


# --- a failure mid-span -----------------------------------------------------------------------------------


def test_a_failure_mid_span_rolls_back_to_the_checkpoint_and_waits_for_the_repair() -> None:
    """Node 1 fails at 50 (repaired at 150), 8 s into the span 42-62 that began at step 20: steps 20-24 are
    redone (8 s), detection 50-53, waiting 53-150, restart and restore 150-159, then steps 20-50 with two
    stalls: 60 + 2 s, ending at 221 = 104 + 8 + 3 + 97 + 4 + 5."""
    job = make_job()
    b = run(job, (50.0, 1, 100.0))
    assert job.finished_s == 221.0
    losses = job.losses
    assert (losses.redone_s, losses.detection_s, losses.waiting_s) == (8.0, 3.0, 97.0)
    assert (losses.restart_s, losses.restore_s, losses.checkpoint_s) == (4.0, 5.0, 4.0)
    assert job.busy_s == 108.0  # every step computed, the redone ones included
    assert b.cluster.busy_energy_j == 32 * 108.0 * POWER_W
    assert job.interruptions == 1 and job.causes == {"node": 1}
    assert job.failure_marks.kept == [(50.0, "node")]
    assert b.cluster.down_gpu_seconds() == 100.0 * GPN
    assert_balanced(job)


def test_a_partial_step_cut_by_a_failure_is_redone_too() -> None:
    """At 51 the span 42-62 has 4 whole steps and half a step: all 9 s are redone."""
    job = make_job()
    run(job, (51.0, 1, 0.0))
    assert job.losses.redone_s == 9.0
    assert job.finished_s == 51.0 + 3 + 9 + 60 + 2  # detection, restart + restore, steps 20-50 with 2 stalls
    assert_balanced(job)


def test_a_failure_during_a_checkpoint_stall_loses_that_checkpoint() -> None:
    """The first checkpoint stalls 20-21 and is durable only at its end: a failure at 20.5 rolls back to step 0
    and books the half-second of stall as checkpoint time."""
    job = make_job()
    run(job, (20.5, 1, 0.0))
    assert job.losses.redone_s == 20.0
    assert job.losses.checkpoint_s == 0.5 + 4 * BASE.stall_s
    assert job.checkpoints == 4
    assert job.finished_s == 20.5 + 3 + 9 + FAILURE_FREE_END_S
    assert_balanced(job)


def test_asynchronous_checkpoints_are_durable_only_once_written() -> None:
    """Async: a 1 s stall, but a write of 21 s. The checkpoint of step 10 (stall 20-21) is durable at 41, so a
    failure at 30 loses everything back to step 0; written synchronously (1 s) it would keep 10 steps."""
    slow_write = make_job(recovery=replace(BASE, write_s=21.0))
    run(slow_write, (30.0, 1, 0.0))
    sync = make_job()
    run(sync, (30.0, 1, 0.0))
    assert slow_write.losses.redone_s == 30.0 - 1.0  # 14 steps computed and lost, the stall aside
    assert sync.losses.redone_s == 30.0 - 21.0
    assert slow_write.finished_s == 30.0 + 12.0 + FAILURE_FREE_END_S
    assert sync.finished_s == 30.0 + 12.0 + (STEPS - 10) * STEP_S + 3 * BASE.stall_s
    assert_balanced(slow_write)
    assert_balanced(sync)


def test_an_asynchronous_checkpoint_becomes_durable_at_the_next_stall_after_its_write() -> None:
    """Write 21 s: step 10's checkpoint is durable at 41; the failure at 50 (span 42-62) keeps 10 steps, not 20
    (step 20's checkpoint of 41-42 is durable only at 62)."""
    job = make_job(recovery=replace(BASE, write_s=21.0))
    run(job, (50.0, 1, 0.0))
    assert job.losses.redone_s == 50.0 - 21.0 - 1.0  # spans 21-41 and 42-50
    assert_balanced(job)


def test_one_event_taking_two_nodes_is_one_interruption_that_waits_for_both() -> None:
    """A rack: nodes 1 and 2 fail together at 50, repaired at 150 and 200: one interruption, waits to 200."""
    job = make_job()
    b = run(job, (50.0, 1, 100.0), (50.0, 2, 150.0))
    assert job.interruptions == 1
    assert b.cluster.node_failures == 2
    assert job.losses.waiting_s == 200.0 - 53.0
    assert job.finished_s == 200.0 + 9 + 62
    assert_balanced(job)


def test_a_second_failure_during_detection_starts_detection_again() -> None:
    """Node 1 fails at 50, node 2 at 51 (in detection 50-53): 1 s of detection, then a full 3 s from 51,
    both repairs (instant) passed, restart 54-63, steps 20-50: ends at 125."""
    job = make_job()
    run(job, (50.0, 1, 0.0), (51.0, 2, 0.0))
    assert job.interruptions == 2
    assert job.losses.detection_s == 1.0 + 3.0
    assert job.losses.redone_s == 8.0  # nothing more: already back at the checkpoint
    assert job.finished_s == 125.0
    assert_balanced(job)


def test_a_failure_of_a_node_the_job_does_not_hold_leaves_it_alone() -> None:
    job = make_job(gpus=16)  # nodes 0 and 1
    b = run(job, (50.0, 3, 100.0))
    assert job.interruptions == 0
    assert job.finished_s == FAILURE_FREE_END_S
    assert b.cluster.node_failures == 1


# --- spares, shrinking, requeueing -------------------------------------------------------------------------


def test_a_spare_node_is_swapped_in_instead_of_waiting() -> None:
    """Three active nodes and one spare (node 3): node 1 fails at 50; after detection the spare takes rank
    position 1 (a 2 s swap), then restart and restore: 104 + 8 + 3 + 2 + 9 = 126, no waiting."""
    job = make_job(gpus=24, recovery=replace(BASE, spare_nodes=1, swap_delay_s=2.0))
    b = run(job, (50.0, 1, 1000.0))
    assert job.held_gpus == 32
    assert b.cluster.allocated_seconds().sum() == 32 * 126.0  # the spare is paid for
    assert b.cluster.busy_gpu_s == 24 * job.busy_s  # but only the active nodes compute
    assert job.finished_s == 126.0
    assert job.losses.waiting_s == 0.0
    assert job.losses.restart_s == 2.0 + 4.0
    assert job.placed_gpus.tolist() == [*range(0, 8), *range(24, 32), *range(16, 24)]
    assert_balanced(job)


def test_a_failure_of_an_idle_spare_does_not_interrupt() -> None:
    job = make_job(gpus=24, recovery=replace(BASE, spare_nodes=1))
    run(job, (50.0, 3, 1000.0))
    assert job.interruptions == 0
    assert job.finished_s == FAILURE_FREE_END_S


def test_with_the_spare_down_the_job_waits_for_its_own_node() -> None:
    """The spare (node 3) fails at 10 for good; node 1 fails at 50 (repaired at 150): as without a spare."""
    job = make_job(gpus=24, recovery=replace(BASE, spare_nodes=1))
    run(job, (10.0, 3, 1e6), (50.0, 1, 100.0))
    assert job.finished_s == 221.0
    assert job.losses.waiting_s == 97.0
    assert_balanced(job)


def test_a_second_failure_after_the_spare_is_used_waits_for_repair() -> None:
    """Node 1 fails at 50 and node 3 (the spare) takes its place; the job restarts at 62 (53 + 9) from step 20;
    node 0 fails at 70 (4 steps into span 62-82, redone 8 s): the only spare, node 1, is still down (until
    150), so the job waits for node 0 (repaired at 100): detection 70-73, waiting 73-100, restart 100-109,
    then steps 20-50: ends at 171."""
    job = make_job(gpus=24, recovery=replace(BASE, spare_nodes=1))
    run(job, (50.0, 1, 100.0), (70.0, 0, 30.0))
    assert job.interruptions == 2
    assert job.losses.waiting_s == 27.0
    assert job.losses.redone_s == 16.0
    assert job.finished_s == 171.0
    assert job.placed_gpus.tolist() == [*range(0, 8), *range(24, 32), *range(16, 24)]
    assert_balanced(job)


def test_an_ocs_cube_of_two_nodes_is_swapped_as_a_whole() -> None:
    """swap_nodes 2: nodes 0-1 active, 2-3 the spare cube; node 1 failing moves the job onto nodes 2-3."""
    job = make_job(gpus=16, recovery=replace(BASE, spare_nodes=2, swap_nodes=2))
    run(job, (50.0, 1, 1000.0))
    assert job.placed_gpus.tolist() == list(range(16, 32))
    assert job.finished_s == 104.0 + 8 + 3 + 9
    assert_balanced(job)


def test_shrinking_drops_the_failed_replica_and_regrows_after_the_repair() -> None:
    """Two data-parallel replicas, one per node. Node 1 fails at 50 (repaired at 110): back to step 20, detection,
    restart 53-62, then steps take 2 x 2 = 4 s: steps 20-30 in 62-102, stall, and 1.75 steps of 103-110 before
    the regrow cuts the span: 1 step kept (3 s redone), steps 31-50 at 2 s with one stall: ends at 149.
    Slowdown losses: 11 steps x 2 s extra."""
    job = make_job(gpus=16, recovery=replace(BASE, on_no_spare=NoSpare.SHRINK, dp=2))
    run(job, (50.0, 1, 60.0))
    losses = job.losses
    assert (losses.redone_s, losses.slowdown_s, losses.waiting_s) == (11.0, 22.0, 0.0)
    assert job.finished_s == 149.0
    assert_balanced(job)


def test_shrinking_stops_at_the_last_replica_and_then_waits() -> None:
    """dp 2 on two nodes: node 1 fails at 50 (for good) and its replica is dropped: restart 53-62, steps at 4 s.
    Node 0 fails at 70 (2 steps into span 62-102, rolled back: 4 s more redone) and cannot drop the last
    replica, so the job waits for node 0 (73-120), restarts 120-129 and does steps 20-50 at 4 s with two
    stalls: ends at 251. Slowdown: 2 + 30 steps x 2 s."""
    job = make_job(gpus=16, recovery=replace(BASE, on_no_spare=NoSpare.SHRINK, dp=2))
    run(job, (50.0, 1, 1000.0), (70.0, 0, 50.0))
    losses = job.losses
    assert (losses.redone_s, losses.waiting_s, losses.slowdown_s) == (12.0, 47.0, 64.0)
    assert (losses.detection_s, losses.restart_s, losses.restore_s) == (6.0, 8.0, 10.0)
    assert job.finished_s == 251.0
    assert_balanced(job)


def test_requeueing_places_the_job_anew_on_healthy_nodes() -> None:
    """Node 1 fails at 50: after detection the job gives its GPUs back and at once gets nodes 0 and 2; restart
    and restore 53-62, steps 20-50: ends at 124; nothing waited for."""
    job = make_job(gpus=16, recovery=replace(BASE, on_no_spare=NoSpare.REQUEUE))
    run(job, (50.0, 1, 1000.0))
    assert job.requeues == 1
    assert job.requeued_s == 0.0
    assert job.gpu_ids.tolist() == [*range(0, 8), *range(16, 24)]
    assert job.finished_s == 124.0
    assert job.holding_s(124.0) == 124.0
    assert_balanced(job)


def test_a_requeued_job_waits_in_the_queue_without_holding_gpus() -> None:
    """On two nodes there is no healthy room until node 1 is back at 150: queued 53-150 (not held), restart
    150-159, steps 20-50: ends at 221; held 53 + 71 s."""
    job = make_job(gpus=16, recovery=replace(BASE, on_no_spare=NoSpare.REQUEUE))
    run(job, (50.0, 1, 100.0), nodes=2)
    assert job.requeued_s == 97.0
    assert job.finished_s == 221.0
    assert job.holding_s(221.0) == 124.0
    assert job.losses.waiting_s == 0.0
    assert_balanced(job)


# --- preemption -------------------------------------------------------------------------------------------


def urgent_job(submitted_s: float) -> TrainingJob:
    """A 16-GPU, 5-step job at priority 10: it holds its GPUs 10 s."""
    return make_job(gpus=16, recovery=NO_FAILURES, steps=5, submitted_s=submitted_s, name="urgent", priority=10)


@pytest.mark.parametrize(("checkpoint_on_preempt", "redone_s", "end_s"), [(True, 1.0, 124.0), (False, 9.0, 132.0)])
def test_a_preempted_job_gives_way_and_resumes_with_a_restore(checkpoint_on_preempt: bool, redone_s: float,
                                                              end_s: float) -> None:
    """Urgent work asks for 16 GPUs at 51, 9 s into span 42-62 (steps 20-24 and half a step). The job stops,
    saving step 24 (or rolling back to 20), queues 51-61 while the urgent job runs, restarts and restores 61-70,
    then computes the rest: 26 steps and 2 stalls (ends 124) or 30 steps and 2 stalls (ends 132)."""
    b = bench(policy="priority", preemption=True)
    job = make_job(preemptible=True, checkpoint_on_preempt=checkpoint_on_preempt)
    urgent = urgent_job(51.0)
    b.start(job, urgent)
    b.env.run()
    assert (urgent.started_s, urgent.finished_s) == (51.0, 61.0)
    assert job.preemptions == 1 and job.interruptions == 0
    assert job.requeued_s == 10.0
    assert job.losses.redone_s == redone_s
    assert (job.losses.restart_s, job.losses.restore_s) == (4.0, 5.0)
    assert job.finished_s == end_s
    assert job.holding_s(end_s) == end_s - 10.0
    assert b.cluster.preemptions == {"": 1}
    assert_balanced(job)


def test_a_job_that_is_not_preemptible_keeps_its_gpus() -> None:
    b = bench(policy="priority", preemption=True)
    job = make_job()
    urgent = urgent_job(51.0)
    b.start(job, urgent)
    b.env.run()
    assert job.preemptions == 0 and job.finished_s == FAILURE_FREE_END_S
    assert (urgent.started_s, urgent.finished_s) == (FAILURE_FREE_END_S, FAILURE_FREE_END_S + 10.0)


# --- settling at a horizon ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("horizon_s", "steps", "loss", "seconds", "partial_s"), [
    (31.0, 15, "checkpoint_s", 1.0, 0.0),  # mid-span: 5 whole steps of the second span
    (31.5, 15, "checkpoint_s", 1.0, 0.5),  # and half a step, credited to nothing
    (41.5, 20, "checkpoint_s", 1.5, 0.0),  # half-way through the second stall
    (52.0, 20, "detection_s", 2.0, 0.0),  # 2 s into detection (node 1 failed at 50)
    (100.0, 20, "waiting_s", 47.0, 0.0),  # waiting for the repair at 150
    (155.0, 20, "restart_s", 5.0, 0.0),  # 5 s into restart + restore, all booked as restart
])
def test_settle_at_a_horizon_books_the_phase_under_way(horizon_s: float, steps: int, loss: str, seconds: float,
                                                       partial_s: float) -> None:
    job = make_job()
    run(job, (50.0, 1, 100.0), until=horizon_s)
    assert job.status == "running"
    assert (job.steps_done, job.steps_total - job.steps_done) == (steps, STEPS - steps)
    assert getattr(job.losses, loss) == seconds
    assert unaccounted_s(job, horizon_s) == pytest.approx(partial_s)


def test_settle_of_a_job_never_started() -> None:
    b = bench()
    blocker = make_job(recovery=NO_FAILURES)
    waiting = make_job(gpus=8, name="waiting")
    b.start(blocker, waiting)
    b.env.run(until=50.0)
    for job in (blocker, waiting):
        job.settle(50.0, b.cluster)
    assert waiting.status == "queued" and waiting.holding_s(50.0) == 0.0 and waiting.requeued_s == 0.0
    assert blocker.steps_done == 25 and blocker.holding_s(50.0) == 50.0


def test_settle_of_a_preempted_job_counts_its_wait_for_gpus_again() -> None:
    b = bench(policy="priority", preemption=True)
    job = make_job(preemptible=True)
    b.start(job, urgent_job(51.0))
    b.env.run(until=58.0)
    job.settle(58.0, b.cluster)
    assert job.requeued_s == 7.0
    assert job.holding_s(58.0) == 51.0
    assert unaccounted_s(job, 58.0) == pytest.approx(0.0)


@settings(max_examples=80, deadline=None)
@given(horizon_s=st.floats(1.0, 400.0), failure_s=st.floats(0.0, 300.0), node=st.integers(0, 3),
       repair_s=st.sampled_from([0.0, 7.0, 90.0]), write_s=st.sampled_from([1.0, 21.0]),
       on_no_spare=st.sampled_from(list(NoSpare)), spare=st.booleans(),
       urgent_s=st.none() | st.floats(0.0, 300.0), checkpoint_on_preempt=st.booleans())
def test_every_held_second_is_a_kept_step_a_loss_or_a_partial_step(
        horizon_s: float, failure_s: float, node: int, repair_s: float, write_s: float, on_no_spare: NoSpare,
        spare: bool, urgent_s: float | None, checkpoint_on_preempt: bool) -> None:
    """Whatever the failures, policy, preemption and horizon: steps never exceed the total and the held time is
    the kept steps plus the losses, up to one partial step (under 4 s: a step at the shrunk pace) at the
    horizon; a finished job has every step and no remainder."""
    recovery = replace(BASE, write_s=write_s, on_no_spare=on_no_spare, dp=2, spare_nodes=int(spare))
    job = make_job(gpus=16, recovery=recovery, preemptible=True, checkpoint_on_preempt=checkpoint_on_preempt)
    b = bench(policy="priority", preemption=True)
    b.fail(failure_s, node, repair_s)
    b.fail(failure_s + 30.0, (node + 1) % 4, repair_s)
    b.start(job)
    if urgent_s is not None:
        b.start(urgent_job(urgent_s))
    b.env.run(until=horizon_s)
    job.settle(horizon_s, b.cluster)
    assert 0 <= job.steps_done <= job.steps_total
    gap = unaccounted_s(job, horizon_s)
    assert -1e-9 <= gap < 2 * STEP_S
    if job.finished_s is not None:
        assert gap == pytest.approx(0.0, abs=1e-9) and job.steps_done == STEPS
    assert job.busy_s == pytest.approx(job.productive_s + job.losses.slowdown_s + job.losses.redone_s)


def test_a_job_is_priced_on_the_gpus_it_is_given() -> None:
    """Issue 14: the second job of two gets nodes 2-3, and its step is priced there (a pricer that charges
    3 s a step anywhere but on GPUs 0..15), at every allocation."""
    def step(total_s: float) -> StepTime:
        return StepTime(total_s, 0, 0, 0, 0, 0, 0, 0, 0, 1.0, 1.0)

    seen: list[int] = []

    def pricer(gpus: GpuIds) -> StepTime:
        first = int(gpus[0])
        seen.append(first)
        return step(2.0 if first == 0 else 3.0)

    b = bench()
    first = replace(make_job(gpus=16, steps=10, recovery=NO_FAILURES, name="first"), pricer=pricer)
    second = replace(make_job(gpus=16, steps=10, recovery=NO_FAILURES, name="second"), pricer=pricer)
    b.start(first, second)
    b.env.run()
    assert sorted(seen) == [0, 16]
    assert first.placed_step is not None and first.placed_step.total_s == first.step_s == 2.0
    assert second.step_s == 3.0 and second.finished_s == pytest.approx(30.0)
