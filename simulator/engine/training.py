"""A training job as one SimPy process: wait for its GPUs, then advance by whole spans of identical steps
between checkpoints, and recover from failures (detection, spare swap or repair wait, restart, restore).

A span is one SimPy timeout however many steps it holds; a failure interrupts it, the steps since the last
durable checkpoint are lost and redone. Every step and every second is accounted for: steps done and
remaining, lost work, detection, restart, waiting, restore and checkpoint stalls.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np
import simpy

from simulator.engine.cluster import Cluster, GpuIds
from simulator.engine.effects import Preempted, Repaced, Stopped
from simulator.engine.job_nodes import JobNodes
from simulator.engine.job_pools import JobPools
from simulator.engine.notice import ReclaimAware
from simulator.engine.pace import JobWide, Pace
from simulator.engine.phases import Losses, Phase
from simulator.engine.sampler import Marks
from simulator.engine.spans import Span, note_phase
from simulator.models.reliability import NoSpare
from simulator.models.workload.step_time import StepTime
from simulator.plan.pools import Shares
from simulator.plan.training import NO_FAILURES, RecoveryPlan

COMPUTING = Phase.COMPUTING  # read by the sampler's gauges at every sample: a global, not an enum lookup


@dataclass
class TrainingJob(ReclaimAware):
    """The state of one job as the simulation advances; read by the report builder at the end."""

    name: str
    gpus: int
    steps_total: int
    step_s: float
    power_w: float  # wall power per GPU while stepping (chip + server share), before PUE
    submitted_s: float
    recovery: RecoveryPlan = NO_FAILURES
    priority: int = 0  # for priority and backfill scheduling
    tenant: str = ""
    preemptible: bool = False  # higher-priority work may take its GPUs
    checkpoint_on_preempt: bool = True  # a preempted job saves its progress (else loses it since its checkpoint)
    preemptions: int = 0
    requeues: int = 0  # allocations given up after a node failure with no spare, to be placed anew
    requeued_s: float = 0.0  # waiting for GPUs again after preemptions and requeues
    pricer: Callable[[GpuIds], StepTime] | None = None  # the step with the ranks on these GPUs (placement)
    placed_step: StepTime | None = None  # the step as priced on the GPUs of its latest allocation
    on_placement: Callable[[], None] | None = None  # told when it takes or gives back GPUs (the shared fabric)
    pools: JobPools = field(default_factory=JobPools)  # the pools it may run on, its power there
    shares: Shares | None = None  # of its GPUs and power in each pool, its latest allocation
    _held_s: float = 0.0  # holding GPUs, allocations given back
    _held_since_s: float | None = None
    _asked_s: float | None = None  # when it last asked the scheduler for GPUs, until it gets them
    _resume_pending: bool = False  # restart and restore owed after a preemption or a requeue
    started_s: float | None = None
    finished_s: float | None = None
    steps_done: int = 0
    busy_s: float = 0.0  # wall-clock time spent computing steps, kept or later lost
    checkpoints: int = 0
    checkpoints_skipped: int = 0  # while the checkpoint store was down
    interruptions: int = 0
    failure_marks: Marks = field(default_factory=Marks)  # for the report's time line, bounded
    checkpoint_marks: Marks = field(default_factory=Marks)
    timeline: list[Span] = field(default_factory=list)  # every phase, failure and wait for GPUs again, in order
    _requeue_kind: str = ""  # why it waits for GPUs again: "preemption" or "requeue"
    causes: Counter[str] = field(default_factory=Counter)
    rolled_back_s: dict[str, float] = field(default_factory=dict)  # time of steps rolled back, by cause
    losses: Losses = field(default_factory=Losses)
    gpu_ids: GpuIds = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    _process: simpy.Process | None = None
    _env: simpy.Environment | None = None
    _last_failure_s: float = -1.0
    _phase: Phase = Phase.QUEUED
    _phase_start_s: float = 0.0
    _durable: int = 0  # steps saved in the last durable checkpoint
    _pending: tuple[float, int] | None = None  # (time it becomes durable, steps) of an async checkpoint
    _nodes: JobNodes = field(default_factory=JobNodes)
    _failed: list[int] = field(default_factory=list)
    _dropped: int = 0  # data-parallel replicas dropped while their failed node is repaired
    _pace: Pace = field(default_factory=Pace)
    _blocked: list[simpy.Event] = field(default_factory=list)  # repairs that must happen before a restart
    _span_step_s: float = 0.0  # step time of the current computing span
    _banked_s: float = 0.0  # productive time of the steps done on earlier placements
    _banked_steps: int = 0
    down_gpu_s: float = 0.0  # GPU-seconds it held on nodes that were down (powered off, not idle)
    _down_base_s: float = 0.0  # the cluster's down-held count for its GPUs when it got them
    unpaid_gpu_s: float = 0.0  # the part of down_gpu_s not paid for (spot capacity taken back)
    _unpaid_base_s: float = 0.0

    def start(self, env: simpy.Environment, cluster: Cluster) -> None:
        """Create the job's SimPy process."""
        self._env = env
        self._process = env.process(self._run(env, cluster))

    def _allocate(self, env: simpy.Environment, cluster: Cluster) -> Generator[simpy.Event, object, GpuIds]:
        """Wait for the job's GPUs (and spares), place its nodes, and listen for failures (and preemption)."""
        gpn = cluster.gpus_per_node
        estimate_s = (self.steps_total - self.steps_done) * self.step_s  # failure-free: what backfilling plans with
        self._asked_s, count = env.now, self.gpus + self.recovery.spare_nodes * gpn
        ids = cast(GpuIds, (yield cluster.request(count, self.priority, estimate_s, self.tenant,
                                                  self.pools.options(count))))
        self._count_requeued(env.now)
        self._asked_s, self.gpu_ids, self._down_base_s = None, ids, cluster.down_held_seconds(ids)
        self._unpaid_base_s = cluster.down_held_seconds(ids, unpaid=True)
        self._nodes = JobNodes.of(ids, gpn, self.recovery.spare_nodes, self.recovery.swap_nodes)
        if self.pricer is not None:  # priced on the GPUs and paths it was given, at every (re)allocation
            # steps done so far keep the price of the placement they ran on (a re-allocation starts from a
            # durable checkpoint, so none of them is rolled back later)
            self._banked_s += (self.steps_done - self._banked_steps) * self.step_s
            self._banked_steps, self.placed_step = self.steps_done, self.pricer(self.placed_gpus)
            self.step_s = self.placed_step.total_s
        self.shares, self.power_w = self.pools.placed(cluster, self.placed_gpus, self.power_w)
        cluster.hold(ids, self)
        if self.preemptible:
            cluster.make_preemptible(ids, self.priority, self._on_preempt)
        self._held_since_s = env.now
        self.started_s = env.now if self.started_s is None else self.started_s
        if self.on_placement is not None:
            self.on_placement()
        return ids

    def _run(self, env: simpy.Environment, cluster: Cluster) -> Generator[simpy.Event, object, None]:
        yield env.timeout(self.submitted_s)
        while self.steps_done < self.steps_total:
            ids = yield from self._allocate(env, cluster)
            placed = True
            while self.steps_done < self.steps_total and placed:
                try:
                    if self._resume_pending:  # restart and restore owed after a preemption or a requeue
                        yield from self._restart(env)
                        self._resume_pending = False
                    if self._failed or self._blocked:
                        placed = yield from self._recover(env, cluster)
                    if placed:
                        yield from self._compute_span(env, cluster)
                except simpy.Interrupt as interrupt:
                    match interrupt.cause:
                        case Repaced():
                            self._slowed(env, cluster)
                        case Preempted():
                            self._preempted(env, cluster)
                            placed = False
                        case Stopped(cause=cause):
                            self._interrupted(env, cluster, cause)
            self._close_hold(env.now, cluster)
            cluster.release(ids)
            if self.on_placement is not None:
                self.on_placement()
        note_phase(self.timeline, self._phase, self._phase_start_s, env.now)
        self._phase = Phase.DONE
        self.finished_s = env.now

    @property
    def holds_gpus(self) -> bool:
        """Whether it holds an allocation now."""
        return self._held_since_s is not None

    def holding_s(self, now: float) -> float:
        """Time the job has held GPUs, counting an allocation still held."""
        return self._held_s + (now - self._held_since_s if self._held_since_s is not None else 0.0)

    def _on_preempt(self) -> None:
        if self._process is not None and self._phase not in (Phase.QUEUED, Phase.DONE):
            self._process.interrupt(Preempted())

    def _preempted(self, env: simpy.Environment, cluster: Cluster) -> None:
        """Stop for higher-priority work: keep the progress (a checkpoint on the way out) or lose it back to the
        last checkpoint, and queue again; restart and restore are owed when the GPUs come back."""
        self._halt(env, cluster)
        if self.checkpoint_on_preempt:
            self._durable, self._pending = self.steps_done, None
        else:
            self._roll_back()
        self.preemptions += 1
        self._queue_again("preemption")

    def _queue_again(self, kind: str) -> None:
        """Forget the allocation's failures and slow nodes and wait in the queue; restart and restore are owed
        when GPUs come back."""
        self._failed, self._blocked, self._dropped = [], [], 0
        self._pace.clear()
        self._resume_pending, self._requeue_kind = True, kind
        self._phase = Phase.QUEUED

    def _restart(self, env: simpy.Environment) -> Generator[simpy.Event, object, None]:
        """Restart the job and restore its last checkpoint."""
        self._begin(Phase.RESTARTING, env)
        yield env.timeout(self.recovery.restart_s + self.recovery.restore_s)
        self.losses.restart_s += self.recovery.restart_s
        self.losses.restore_s += self.recovery.restore_s

    def _wait(self, env: simpy.Environment, event: simpy.Event) -> Generator[simpy.Event, object, None]:
        """Wait for `event` (a repair, a reconnection, the checkpoint store), booked as waiting."""
        self._begin(Phase.WAITING, env)
        yield event
        self.losses.book(Phase.WAITING, env.now - self._phase_start_s)

    def _compute_span(self, env: simpy.Environment, cluster: Cluster) -> Generator[simpy.Event, object, None]:
        interval, save_now, self._save_now = self.recovery.interval_steps, self._save_now, False
        target = self.steps_total
        if interval:  # the next checkpoint, or one at once when a reclaim notice asked for it (engine/notice.py)
            target = min(target, self.steps_done if save_now else (self.steps_done // interval + 1) * interval)
        self._begin(Phase.COMPUTING, env)
        self._span_step_s = self.step_s * self._pace.factor()
        yield env.timeout((target - self.steps_done) * self._span_step_s)
        self._credit(cluster, target - self.steps_done)
        if interval and target < self.steps_total and not cluster.storage_up:
            self.checkpoints_skipped += 1  # nowhere to write it: the next failure loses more
        elif interval and target < self.steps_total:
            self._begin(Phase.CHECKPOINTING, env)
            yield env.timeout(self.recovery.stall_s)
            self.losses.checkpoint_s += self.recovery.stall_s
            self.checkpoints += 1
            self.checkpoint_marks.add(env.now, "")
            self._settle_pending(env)
            self._pending = (env.now + self.recovery.write_s - self.recovery.stall_s, self.steps_done)

    def _recover(self, env: simpy.Environment, cluster: Cluster) -> Generator[simpy.Event, object, bool]:
        """Detect, then swap in spares, shrink or wait for repairs, and restart; False when the job requeues
        instead (its GPUs go back to the scheduler)."""
        self._begin(Phase.DETECTING, env)
        yield env.timeout(self.recovery.detection_s)
        self.losses.detection_s += self.recovery.detection_s
        while self._failed:
            node = self._failed[0]
            self._pace.forget_node(node)
            spare = self._nodes.healthy_spare_group(cluster.up)
            if node in self._nodes and spare:
                # swap the failed node's group (a node, or an OCS cube) for a healthy spare group
                self._nodes.swap(node, spare)
                if self.recovery.swap_delay_s:
                    self._begin(Phase.RESTARTING, env)
                    yield env.timeout(self.recovery.swap_delay_s)
                    self.losses.restart_s += self.recovery.swap_delay_s
            elif (node in self._nodes and self.recovery.on_no_spare is NoSpare.SHRINK
                  and self._dropped + self.recovery.replicas_per_node < self.recovery.dp):
                # drop the failed node's replicas: the rest carry the global batch until the node is back
                self._dropped += self.recovery.replicas_per_node
                self.set_pace(JobWide.SHRUNK, self.recovery.dp / (self.recovery.dp - self._dropped))
                env.process(self._regrow(cluster.repaired(node)))
            elif node in self._nodes and self.recovery.on_no_spare is NoSpare.REQUEUE:
                self.requeues += 1
                self._queue_again("requeue")
                return False
            elif node in self._nodes:
                yield from self._wait(env, cluster.repaired(node))
            self._failed.pop(0)
        while self._blocked:
            yield from self._wait(env, self._blocked[0])
            self._blocked.pop(0)
        if not cluster.storage_up and self._durable:  # the checkpoint to restore is on the store that is down
            yield from self._wait(env, cluster.storage_repaired())
        yield from self._restart(env)
        return True

    @property
    def placed_gpus(self) -> GpuIds:
        """The GPU of each rank: the active nodes' GPUs in node position order (spares swapped in take the
        failed node's place). Computed when asked (link failures price a job on it), not on every swap."""
        return self._nodes.ranks(self.gpu_ids, self.gpus)

    def _regrow(self, repaired: simpy.Event) -> Generator[simpy.Event, object, None]:
        """Take a dropped replica back when its node is repaired."""
        yield repaired
        if self._dropped and self._phase is not Phase.DONE:
            self._dropped -= self.recovery.replicas_per_node
            self.set_pace(JobWide.SHRUNK, self.recovery.dp / (self.recovery.dp - self._dropped))

    def crash(self, node: int, cause: str) -> None:
        """One of the job's nodes failed: it stops, detects, recovers and restarts (an idle spare is simply
        unavailable until repaired)."""
        if node in self._nodes.spares or self._phase is Phase.DONE or self._env is None:
            return  # an idle spare: it is simply unavailable until repaired
        if node not in self._failed:
            self._failed.append(node)
        if self._last_failure_s == self._env.now:
            return  # the same event (a rack, a leaf switch) took several nodes: one interruption
        self._last_failure_s = self._env.now
        self._stop(cause)

    def _stop(self, cause: str) -> None:
        """Count an interruption and stop the job, unless it is queued."""
        self._failed_event(cause)
        if self._process is not None and self._phase is not Phase.QUEUED:
            self._process.interrupt(Stopped(cause))

    def _failed_event(self, cause: str) -> None:
        """Count an interruption and mark it for the report's time line."""
        self.interruptions += 1
        self.causes[cause] += 1
        if self._env is not None:
            self.failure_marks.add(self._env.now, cause)
            self.timeline.append(Span("failure", self._env.now, self._env.now, cause))

    @property
    def computing(self) -> bool:
        """Whether the job is running steps right now."""
        return self._phase is COMPUTING

    def progress(self, now: float) -> float:
        """Fraction of the steps done by `now`, counting the span under way."""
        done = float(self.steps_done)
        if self._phase is COMPUTING and self._span_step_s > 0:
            done += min((now - self._phase_start_s) / self._span_step_s, self.steps_total - self.steps_done)
        return done / self.steps_total if self.steps_total else 1.0

    def _halt(self, env: simpy.Environment, cluster: Cluster) -> None:
        """Stop the phase under way: credit the whole steps of a span (the partial one is redone), or book the
        phase's time to its loss; a checkpoint written by now becomes durable."""
        note_phase(self.timeline, self._phase, self._phase_start_s, env.now)
        if self._phase is Phase.COMPUTING:
            spent = env.now - self._phase_start_s
            done_in_span = self._steps_in(spent)
            cluster.record_busy(self.gpus, spent, self.power_w, self.shares)
            self.busy_s += spent
            self.steps_done += done_in_span
            self.losses.slowdown_s += done_in_span * (self._span_step_s - self.step_s)
            self.losses.redone_s += spent - done_in_span * self._span_step_s
        else:
            self.losses.book(self._phase, env.now - self._phase_start_s)
        self._settle_pending(env)

    def _roll_back(self) -> None:
        """Back to the last durable checkpoint: the steps since are redone."""
        self.losses.redone_s += (self.steps_done - self._durable) * self.step_s
        self.steps_done = self._durable

    def _settle_pending(self, env: simpy.Environment) -> None:
        if self._pending is not None and self._pending[0] <= env.now:
            self._durable, self._pending = self._pending[1], None

    def _steps_in(self, spent: float) -> int:
        return min(math.floor(spent / self._span_step_s), self.steps_total - self.steps_done)

    def _credit(self, cluster: Cluster, steps: int) -> None:
        self.steps_done += steps
        self.busy_s += steps * self._span_step_s
        self.losses.slowdown_s += steps * (self._span_step_s - self.step_s)
        cluster.record_busy(self.gpus, steps * self._span_step_s, self.power_w, self.shares)

    def set_contention(self, factor: float) -> None:
        """Other workloads on its links leave its steps `factor` times slower than alone (1: not slowed)."""
        self.set_pace(JobWide.CONTENTION, factor)

    def set_pace(self, key: JobWide, factor: float) -> None:
        """Steps take `factor` times their base time for reason `key` (e.g. a degraded network); 1 clears it.
        A computing span is cut at its whole steps and continues at the new pace."""
        if self._pace.set(key, factor):
            self._repace()

    def _repace(self) -> None:
        """Cut a computing span short at the new pace (other phases pick the pace up when they next compute)."""
        if (self._phase is Phase.COMPUTING and self._process is not None and self._env is not None
                and self._env.active_process is not self._process):  # not from its own process (a release)
            self._process.interrupt(Repaced())

    def partition(self, reconnected: simpy.Event, cause: str) -> None:
        """The network no longer joins the job's GPUs: it stops now and restarts once `reconnected` fires."""
        if self._phase is Phase.DONE or self._env is None:
            return
        self._blocked.append(reconnected)
        self._last_failure_s = self._env.now
        self._stop(cause)

    def slow(self, node: int, factor: float) -> None:
        """One of the job's nodes turned slow: the job steps at the straggler's pace until the node is evicted
        (then it recovers as from a failed node)."""
        if node not in self._nodes or self._phase is Phase.DONE or self._env is None:
            return
        self._pace.slow_node(node, factor)
        self._repace()

    def is_slowed(self, node: int) -> bool:
        """Whether straggler `node` still slows the job (it is active and not yet swapped out or dropped)."""
        return self._pace.slowed_by(node) and node in self._nodes and self._phase is not Phase.DONE

    def _slowed(self, env: simpy.Environment, cluster: Cluster) -> None:
        """A computing span was cut short by a slowdown: keep its whole steps, continue at the new pace."""
        note_phase(self.timeline, self._phase, self._phase_start_s, env.now)
        spent = env.now - self._phase_start_s
        done = self._steps_in(spent)
        self._credit(cluster, done)
        leftover = spent - done * self._span_step_s  # a partial step, redone at the new pace
        cluster.record_busy(self.gpus, leftover, self.power_w, self.shares)
        self.busy_s += leftover
        self.losses.redone_s += leftover
        self._phase = Phase.RECOVERING

    def _begin(self, phase: Phase, env: simpy.Environment) -> None:
        note_phase(self.timeline, self._phase, self._phase_start_s, env.now)
        self._phase = phase
        self._phase_start_s = env.now

    def settle(self, now: float, cluster: Cluster) -> None:
        """At the end of the simulation, credit the whole steps of a span still in progress, or book the time
        of the phase under way (detection, a wait, a restart, a checkpoint) to its loss."""
        if self._phase is Phase.COMPUTING:
            self._credit(cluster, self._steps_in(now - self._phase_start_s))
        else:
            self.losses.book(self._phase, now - self._phase_start_s)
        note_phase(self.timeline, self._phase, self._phase_start_s, now)
        self._close_hold(now, cluster)
        self._count_requeued(now)
        self._phase = Phase.DONE

    def _close_hold(self, now: float, cluster: Cluster) -> None:
        """Book the allocation held (if any) up to `now`: its time, and its GPUs' time on nodes that were down."""
        if self._held_since_s is not None:
            self._held_s += now - self._held_since_s
            self._held_since_s = None
            self.down_gpu_s += cluster.down_held_seconds(self.gpu_ids) - self._down_base_s
            self.unpaid_gpu_s += cluster.down_held_seconds(self.gpu_ids, unpaid=True) - self._unpaid_base_s

    def _count_requeued(self, now: float) -> None:
        """Book the wait since the job last asked for GPUs, if it had run before (else it is first queueing)."""
        if self.started_s is not None and self._asked_s is not None:
            self.requeued_s += now - self._asked_s
            self.timeline.append(Span(self._requeue_kind, self._asked_s, now))

    @property
    def process(self) -> simpy.Process:
        """The job's SimPy process (after `start`)."""
        assert self._process is not None
        return self._process

    @property
    def held_gpus(self) -> int:
        """GPUs the job holds once allocated: its layout plus hot spares."""
        return max(self.gpu_ids.size, self.gpus)

    @property
    def productive_s(self) -> float:
        """Wall-clock time of the steps that count, each at the step time of the placement it ran on."""
        return self._banked_s + (self.steps_done - self._banked_steps) * self.step_s

    @property
    def status(self) -> Literal["completed", "running", "queued"]:
        """queued (never started), running (started, not finished) or completed."""
        if self.finished_s is not None:
            return "completed"
        return "queued" if self.started_s is None else "running"
