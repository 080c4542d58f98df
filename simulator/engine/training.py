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
from simulator.engine.sampler import Marks
from simulator.models.reliability import CauseKind, NoSpare
from simulator.plan.training import NO_FAILURES, RecoveryPlan


@dataclass(frozen=True)
class Preempted:
    """Interrupt cause: higher-priority work needs the job's GPUs (it gives them back and queues again)."""


@dataclass(frozen=True)
class Slowdown:
    """Interrupt cause: a node of the job turned slow (the job keeps its progress)."""

    node: int


@dataclass
class Losses:
    """Seconds (wall clock of the whole job) lost to each kind of overhead."""

    redone_s: float = 0.0  # computed steps thrown away by failures
    detection_s: float = 0.0
    waiting_s: float = 0.0  # for a repair when no spare was left
    restart_s: float = 0.0
    restore_s: float = 0.0
    checkpoint_s: float = 0.0  # checkpoint stalls
    slowdown_s: float = 0.0  # extra step time while a straggler slowed the job


@dataclass
class TrainingJob:
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
    causes: Counter[str] = field(default_factory=Counter)
    losses: Losses = field(default_factory=Losses)
    gpu_ids: GpuIds = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    _gpus_per_node: int = 1
    _process: simpy.Process | None = None
    _env: simpy.Environment | None = None
    _cluster_fail: Callable[[int, float, str], None] = field(default=lambda node, repair, cause: None)
    _last_failure_s: float = -1.0
    _phase: str = "queued"  # queued, computing, checkpointing, recovering, done
    _phase_start_s: float = 0.0
    _durable: int = 0  # steps saved in the last durable checkpoint
    _pending: tuple[float, int] | None = None  # (time it becomes durable, steps) of an async checkpoint
    _active_nodes: list[int] = field(default_factory=list)
    _spares: list[int] = field(default_factory=list)
    _failed: list[int] = field(default_factory=list)
    _position: dict[int, int] = field(default_factory=dict)  # active node -> its index in _active_nodes
    _dropped: int = 0  # data-parallel replicas dropped while their failed node is repaired
    _slow: dict[object, float] = field(default_factory=dict)  # straggling node (or "network") -> factor
    _blocked: list[simpy.Event] = field(default_factory=list)  # repairs that must happen before a restart
    _span_step_s: float = 0.0  # step time of the current computing span

    def start(self, env: simpy.Environment, cluster: Cluster) -> None:
        """Create the job's SimPy process."""
        self._env = env
        self._cluster_fail = cluster.fail_node
        self._process = env.process(self._run(env, cluster))

    def _allocate(self, env: simpy.Environment, cluster: Cluster) -> Generator[simpy.Event, object, GpuIds]:
        """Wait for the job's GPUs (and spares), place its nodes, and listen for failures (and preemption)."""
        gpn = cluster.gpus_per_node
        estimate_s = (self.steps_total - self.steps_done) * self.step_s  # failure-free: what backfilling plans with
        self._asked_s = env.now
        ids = cast(GpuIds, (yield cluster.request(self.gpus + self.recovery.spare_nodes * gpn, self.priority,
                                                  estimate_s, self.tenant)))
        self._count_requeued(env.now)
        self._asked_s = None
        self.gpu_ids = ids
        nodes = sorted({int(n) for n in ids // gpn})
        self._spares = nodes[len(nodes) - self.recovery.spare_nodes:] if self.recovery.spare_nodes else []
        self._active_nodes = [n for n in nodes if n not in self._spares]
        self._position = {n: i for i, n in enumerate(self._active_nodes)}
        self._gpus_per_node = gpn
        cluster.hold(ids, self._on_failure, self._on_slowdown)
        if self.preemptible:
            cluster.make_preemptible(ids, self.priority, self._on_preempt)
        self._held_since_s = env.now
        if self.started_s is None:
            self.started_s = env.now
        return ids

    def _run(self, env: simpy.Environment, cluster: Cluster) -> Generator[simpy.Event, object, None]:
        yield env.timeout(self.submitted_s)
        while self.steps_done < self.steps_total:
            ids = yield from self._allocate(env, cluster)
            placed = True
            while self.steps_done < self.steps_total and placed:
                try:
                    if self._resume_pending:
                        yield from self._resume(env)
                    if self._failed or self._blocked:
                        placed = yield from self._recover(env, cluster)
                    if placed:
                        yield from self._compute_span(env, cluster)
                except simpy.Interrupt as interrupt:
                    if isinstance(interrupt.cause, Slowdown):
                        self._slowed(env, cluster)
                    elif isinstance(interrupt.cause, Preempted):
                        self._preempted(env, cluster)
                        placed = False
                    else:
                        self._interrupted(env, cluster)
            self._give_back(env, cluster, ids)
        self._phase = "done"
        self.finished_s = env.now

    def _give_back(self, env: simpy.Environment, cluster: Cluster, ids: GpuIds) -> None:
        if self._held_since_s is not None:
            self._held_s += env.now - self._held_since_s
            self._held_since_s = None
        cluster.release(ids)

    def holding_s(self, now: float) -> float:
        """Time the job has held GPUs, counting an allocation still held."""
        return self._held_s + (now - self._held_since_s if self._held_since_s is not None else 0.0)

    def _on_preempt(self) -> None:
        if self._process is not None and self._phase not in ("queued", "done"):
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
        self._queue_again()

    def _queue_again(self) -> None:
        """Forget the allocation's failures and slow nodes and wait in the queue; restart and restore are owed
        when GPUs come back."""
        self._failed, self._blocked, self._slow, self._dropped = [], [], {}, 0
        self._resume_pending = True
        self._phase = "queued"

    def _resume(self, env: simpy.Environment) -> Generator[simpy.Event, object, None]:
        self._begin("restarting", env)
        yield env.timeout(self.recovery.restart_s + self.recovery.restore_s)
        self.losses.restart_s += self.recovery.restart_s
        self.losses.restore_s += self.recovery.restore_s
        self._resume_pending = False

    def _compute_span(self, env: simpy.Environment, cluster: Cluster) -> Generator[simpy.Event, object, None]:
        interval = self.recovery.interval_steps
        target = self.steps_total
        if interval:
            target = min(target, (self.steps_done // interval + 1) * interval)
        self._begin("computing", env)
        self._span_step_s = self.step_s * self._pace()
        yield env.timeout((target - self.steps_done) * self._span_step_s)
        self._credit(cluster, target - self.steps_done)
        if interval and target < self.steps_total and not cluster.storage_up:
            self.checkpoints_skipped += 1  # nowhere to write it: the next failure loses more
        elif interval and target < self.steps_total:
            self._begin("checkpointing", env)
            yield env.timeout(self.recovery.stall_s)
            self.losses.checkpoint_s += self.recovery.stall_s
            self.checkpoints += 1
            self.checkpoint_marks.add(env.now, "")
            self._settle_pending(env)
            self._pending = (env.now + self.recovery.write_s - self.recovery.stall_s, self.steps_done)

    def _recover(self, env: simpy.Environment, cluster: Cluster) -> Generator[simpy.Event, object, bool]:
        """Detect, then swap in spares, shrink or wait for repairs, and restart; False when the job requeues
        instead (its GPUs go back to the scheduler)."""
        self._begin("detecting", env)
        yield env.timeout(self.recovery.detection_s)
        self.losses.detection_s += self.recovery.detection_s
        while self._failed:
            node = self._failed[0]
            self._slow.pop(node, None)
            spare = self._healthy_spare_group(cluster)
            if node in self._position and spare:
                # swap the failed node's group (a node, or an OCS cube) for a healthy spare group; the failed
                # group becomes a spare again once repaired
                group = self._group_of(node)
                for old, new in zip(group, spare, strict=True):
                    at = self._position.pop(old)
                    self._active_nodes[at] = new
                    self._position[new] = at
                    self._spares[self._spares.index(new)] = old
                if self.recovery.swap_delay_s:
                    self._begin("restarting", env)
                    yield env.timeout(self.recovery.swap_delay_s)
                    self.losses.restart_s += self.recovery.swap_delay_s
            elif (node in self._position and self.recovery.on_no_spare is NoSpare.SHRINK
                  and self._dropped + self.recovery.replicas_per_node < self.recovery.dp):
                # drop the failed node's replicas: the rest carry the global batch until the node is back
                self._dropped += self.recovery.replicas_per_node
                self.set_pace("shrink", self.recovery.dp / (self.recovery.dp - self._dropped))
                env.process(self._regrow(cluster.repaired(node)))
            elif node in self._position and self.recovery.on_no_spare is NoSpare.REQUEUE:
                self.requeues += 1
                self._queue_again()
                return False
            elif node in self._position:
                self._begin("waiting", env)
                yield cluster.repaired(node)
                self.losses.waiting_s += env.now - self._phase_start_s
            self._failed.pop(0)
        while self._blocked:
            self._begin("waiting", env)
            yield self._blocked[0]
            self.losses.waiting_s += env.now - self._phase_start_s
            self._blocked.pop(0)
        if not cluster.storage_up and self._durable:
            self._begin("waiting", env)  # the checkpoint to restore is on the store that is down
            yield cluster.storage_repaired()
            self.losses.waiting_s += env.now - self._phase_start_s
        self._begin("restarting", env)
        yield env.timeout(self.recovery.restart_s + self.recovery.restore_s)
        self.losses.restart_s += self.recovery.restart_s
        self.losses.restore_s += self.recovery.restore_s
        return True

    @property
    def placed_gpus(self) -> GpuIds:
        """The GPU of each rank: the active nodes' GPUs in node position order (spares swapped in take the
        failed node's place). Computed when asked (link failures price a job on it), not on every swap."""
        held = np.sort(self.gpu_ids)
        nodes = held // self._gpus_per_node
        starts = np.searchsorted(nodes, self._active_nodes, side="left")
        ends = np.searchsorted(nodes, self._active_nodes, side="right")
        return np.concatenate([held[a:b] for a, b in zip(starts, ends, strict=True)])[:self.gpus]

    def _regrow(self, repaired: simpy.Event) -> Generator[simpy.Event, object, None]:
        """Take a dropped replica back when its node is repaired."""
        yield repaired
        if self._dropped and self._phase != "done":
            self._dropped -= self.recovery.replicas_per_node
            self.set_pace("shrink", self.recovery.dp / (self.recovery.dp - self._dropped))

    def _group_of(self, node: int) -> list[int]:
        """The active nodes swapped together with `node` (its aligned group of `swap_nodes`)."""
        size = self.recovery.swap_nodes
        first = node - node % size
        return [n for n in range(first, first + size) if n in self._position]

    def _healthy_spare_group(self, cluster: Cluster) -> list[int]:
        """A whole spare group whose nodes are all up, or [] if none."""
        size = self.recovery.swap_nodes
        for start in range(0, len(self._spares), size):
            group = self._spares[start:start + size]
            if len(group) == size and all(cluster.up[n] for n in group):
                return group
        return []

    def _on_failure(self, node: int, cause: str) -> None:
        """Called by the cluster when one of the job's nodes fails."""
        if node in self._spares or self._phase == "done" or self._env is None:
            return  # an idle spare: it is simply unavailable until repaired
        if node not in self._failed:
            self._failed.append(node)
        if self._last_failure_s == self._env.now:
            return  # the same event (a rack, a leaf switch) took several nodes: one interruption
        self._last_failure_s = self._env.now
        self._failed_event(cause)
        if self._process is not None and self._phase != "queued":
            self._process.interrupt(cause)

    def _failed_event(self, cause: str) -> None:
        """Count an interruption and mark it for the report's time line."""
        self.interruptions += 1
        self.causes[cause] += 1
        if self._env is not None:
            self.failure_marks.add(self._env.now, cause)

    @property
    def computing(self) -> bool:
        """Whether the job is running steps right now."""
        return self._phase == "computing"

    def progress(self, now: float) -> float:
        """Fraction of the steps done by `now`, counting the span under way."""
        done = float(self.steps_done)
        if self._phase == "computing" and self._span_step_s > 0:
            done += min((now - self._phase_start_s) / self._span_step_s, self.steps_total - self.steps_done)
        return done / self.steps_total if self.steps_total else 1.0

    def _interrupted(self, env: simpy.Environment, cluster: Cluster) -> None:
        """Account for the interrupted phase and roll back to the last durable checkpoint."""
        self._halt(env, cluster)
        self._roll_back()
        self._phase = "recovering"

    def _halt(self, env: simpy.Environment, cluster: Cluster) -> None:
        """Stop the phase under way: credit the whole steps of a span (the partial one is redone), or book the
        phase's time to its loss; a checkpoint written by now becomes durable."""
        if self._phase == "computing":
            spent = env.now - self._phase_start_s
            done_in_span = self._steps_in(spent)
            cluster.record_busy(self.gpus, spent, self.power_w)
            self.busy_s += spent
            self.steps_done += done_in_span
            self.losses.slowdown_s += done_in_span * (self._span_step_s - self.step_s)
            self.losses.redone_s += spent - done_in_span * self._span_step_s
        else:
            self._account_phase(env.now)
        self._settle_pending(env)

    def _roll_back(self) -> None:
        """Back to the last durable checkpoint: the steps since are redone."""
        self.losses.redone_s += (self.steps_done - self._durable) * self.step_s
        self.steps_done = self._durable

    def _account_phase(self, now: float) -> None:
        """Book the time spent so far in a non-computing phase to its loss."""
        spent = now - self._phase_start_s
        bucket = {"checkpointing": "checkpoint_s", "detecting": "detection_s", "waiting": "waiting_s",
                  "restarting": "restart_s"}.get(self._phase)
        if bucket is not None:
            setattr(self.losses, bucket, getattr(self.losses, bucket) + spent)

    def _settle_pending(self, env: simpy.Environment) -> None:
        if self._pending is not None and self._pending[0] <= env.now:
            self._durable = self._pending[1]
            self._pending = None

    def _steps_in(self, spent: float) -> int:
        return min(math.floor(spent / self._span_step_s), self.steps_total - self.steps_done)

    def _credit(self, cluster: Cluster, steps: int) -> None:
        self.steps_done += steps
        self.busy_s += steps * self._span_step_s
        self.losses.slowdown_s += steps * (self._span_step_s - self.step_s)
        cluster.record_busy(self.gpus, steps * self._span_step_s, self.power_w)

    def _pace(self) -> float:
        """Step-time factor: the slowest straggler node times every job-wide factor (network, shrink)."""
        nodes = [f for k, f in self._slow.items() if isinstance(k, int)]
        others = [f for k, f in self._slow.items() if not isinstance(k, int)]
        return max(nodes, default=1.0) * math.prod(others)

    def set_pace(self, key: object, factor: float) -> None:
        """Steps take `factor` times their base time for reason `key` (e.g. a degraded network); 1 clears it.
        A computing span is cut at its whole steps and continues at the new pace."""
        if factor <= 1.0 + 1e-12:
            changed = self._slow.pop(key, None) is not None
        else:
            changed = self._slow.get(key) != factor
            self._slow[key] = factor
        if changed and self._phase == "computing" and self._process is not None:
            self._process.interrupt(Slowdown(-1))

    def partition(self, reconnected: simpy.Event, cause: str) -> None:
        """The network no longer joins the job's GPUs: it stops now and restarts once `reconnected` fires."""
        if self._phase == "done" or self._env is None:
            return
        self._blocked.append(reconnected)
        self._failed_event(cause)
        self._last_failure_s = self._env.now
        if self._process is not None and self._phase != "queued":
            self._process.interrupt(cause)

    def _on_slowdown(self, node: int, factor: float, detection_s: float, repair_s: float, cause: str) -> None:
        """Called by the cluster when one of the job's nodes turns slow: the job runs at the straggler's pace
        until it is detected, then evicts it like a failed node (restart from the last checkpoint)."""
        if node not in self._position or self._phase == "done" or self._env is None:
            return
        self._slow[node] = max(factor, self._slow.get(node, 1.0))
        if self._phase == "computing" and self._process is not None:
            self._process.interrupt(Slowdown(node))
        self._env.process(self._evict(self._env, node, detection_s, repair_s, cause))

    def _evict(self, env: simpy.Environment, node: int, detection_s: float, repair_s: float,
               cause: str) -> Generator[simpy.Event, object, None]:
        yield env.timeout(detection_s)
        if node in self._slow and node in self._position and self._phase != "done":
            self._cluster_fail(node, repair_s, CauseKind.STRAGGLER.label(cause))

    def _slowed(self, env: simpy.Environment, cluster: Cluster) -> None:
        """A computing span was cut short by a slowdown: keep its whole steps, continue at the new pace."""
        spent = env.now - self._phase_start_s
        done = self._steps_in(spent)
        self._credit(cluster, done)
        leftover = spent - done * self._span_step_s  # a partial step, redone at the new pace
        cluster.record_busy(self.gpus, leftover, self.power_w)
        self.busy_s += leftover
        self.losses.redone_s += leftover
        self._phase = "recovering"

    def _begin(self, phase: str, env: simpy.Environment) -> None:
        self._phase = phase
        self._phase_start_s = env.now

    def settle(self, now: float, cluster: Cluster) -> None:
        """At the end of the simulation, credit the whole steps of a span still in progress, or book the time
        of the phase under way (detection, a wait, a restart, a checkpoint) to its loss."""
        if self._phase == "computing":
            self._credit(cluster, self._steps_in(now - self._phase_start_s))
        elif self._phase not in ("done", "queued"):
            self._account_phase(now)
        if self._held_since_s is not None:
            self._held_s += now - self._held_since_s
            self._held_since_s = None
        self._count_requeued(now)
        self._phase = "done"

    def _count_requeued(self, now: float) -> None:
        """Book the wait since the job last asked for GPUs, if it had run before (else it is first queueing)."""
        if self.started_s is not None and self._asked_s is not None:
            self.requeued_s += now - self._asked_s

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
        """Wall-clock time of the steps that count."""
        return self.steps_done * self.step_s

    @property
    def status(self) -> Literal["completed", "running", "queued"]:
        """queued (never started), running (started, not finished) or completed."""
        if self.finished_s is not None:
            return "completed"
        return "queued" if self.started_s is None else "running"
