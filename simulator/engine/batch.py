"""Batch jobs as SimPy processes: each waits for its GPUs (gang), runs for its duration, and on a failure of
one of its nodes loses the work since its last checkpoint, gives its GPUs back and queues again, so the
scheduler places it anew; a straggler node stretches its remaining run time until the node is evicted (then
it is stopped as by a failure). A job with traffic runs at the pace of the GPUs it was given and of what the
other workloads on its links leave it (the shared fabric re-paces it). Thousands of them share one cluster;
each costs a few events per attempt."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, fields
from typing import Literal, cast

import simpy

from simulator.engine.cluster import Cluster, GpuIds
from simulator.engine.effects import Preempted, Repaced, Stopped, Unwarned
from simulator.engine.fabric import Contention
from simulator.models.workload.traffic import Placed
from simulator.plan.jobs import JobDemand
from simulator.plan.pools import Need, Shares


@dataclass
class BatchJob(JobDemand, Unwarned):
    """One job's demand and what happened to it."""

    preemptions: int = 0
    started_s: float | None = None
    finished_s: float | None = None
    queued_s: float = 0.0  # waiting for GPUs, every attempt
    held_s: float = 0.0  # holding GPUs, every attempt (GPUs x this = GPU-seconds paid)
    lost_s: float = 0.0  # run time thrown away by interruptions
    interruptions: int = 0
    remaining_s: float = math.nan  # run time still to do
    process: simpy.Process | None = None
    _env: simpy.Environment | None = None
    _attempt_start_s: float | None = None
    _waiting_since_s: float | None = None
    _stopping: bool = False  # an interruption of this attempt is on its way (a rack takes several nodes)
    _slow: dict[int, float] = field(default_factory=dict)  # straggling node of this attempt -> factor
    _worked_s: float = 0.0  # run time done in this attempt until the pace last changed
    _paced_since_s: float = 0.0  # when the pace last changed (or the attempt started)
    _ids: GpuIds | None = None  # the GPUs of the attempt under way
    placed: Placed | None = None  # its traffic on them
    _contention: float = 1.0  # run-time factor from other workloads on its links
    on_placement: Callable[[], None] | None = None  # the shared fabric's hook
    contention: Contention | None = None  # what it met there (None: not on the fabric)
    options: tuple[Need, ...] = ()  # the pools it may run on (none: anywhere)
    pool_power_w: tuple[float, ...] = ()  # its power_w in each pool, where pools differ
    _shares: Shares | None = None  # of its GPUs in each pool, this attempt
    pool: int = 0  # the pool of its latest attempt

    @classmethod
    def of(cls, demand: JobDemand) -> BatchJob:
        """A job that has not been submitted yet."""
        return cls(**{f.name: getattr(demand, f.name) for f in fields(JobDemand)})

    def start(self, env: simpy.Environment, cluster: Cluster) -> None:
        """Create the job's SimPy process."""
        self.remaining_s = self.duration_s
        self._env = env
        self.process = env.process(self._run(env, cluster))

    def _run(self, env: simpy.Environment, cluster: Cluster) -> Generator[simpy.Event, object, None]:
        yield env.timeout(self.submitted_s)
        while self.remaining_s > 0:
            self._waiting_since_s = env.now
            ids = cast(GpuIds, (yield cluster.request(self.gpus, self.priority, self.remaining_s, self.tenant,
                                                      self.options)))
            self._shares, self.pool = Shares.of(cluster.shares(ids)), cluster.pool_of(ids)
            if self.pool_power_w:
                self.power_w = self.pool_power_w[cluster.pool_of(ids)]
            self.queued_s += env.now - self._waiting_since_s
            self._waiting_since_s = None
            if self.started_s is None:
                self.started_s = env.now
            cluster.hold(ids, self)
            if self.preemptible:
                cluster.make_preemptible(ids, self.priority, self._on_preempt)
            self._attempt_start_s, self._stopping, self._slow = env.now, False, {}
            self._worked_s, self._paced_since_s = 0.0, env.now
            self._ids = ids
            self.placed = self.traffic(ids) if self.traffic is not None else None
            if self.on_placement is not None:
                self.on_placement()
            yield from self._attempt(env, cluster)
            self._attempt_start_s = None
            cluster.release(ids)
            if self.on_placement is not None:
                self.on_placement()
            self._ids = None
        self.finished_s = env.now

    def _attempt(self, env: simpy.Environment, cluster: Cluster) -> Generator[simpy.Event, object, None]:
        """Run on the GPUs held until done, or until stopped (keeping the work up to its last checkpoint, or all
        of it when preempted with a checkpoint on the way out); a new pace only stretches what is left."""
        while True:
            try:
                yield env.timeout(max(0.0, self.remaining_s - self._worked_s) * self._pace())
                self._account(env.now, cluster, kept_s=self.remaining_s)
                return
            except simpy.Interrupt as stop:
                if isinstance(stop.cause, Repaced):
                    continue
                worked = self._work_s(env.now)
                interval = self.checkpoint_interval_s
                kept = math.floor(worked / interval) * interval if interval > 0 else 0.0
                if isinstance(stop.cause, Preempted):
                    self.preemptions += 1
                    kept = worked if self.checkpoint_on_preempt else kept
                else:
                    self.interruptions += 1
                self._account(env.now, cluster, kept_s=min(kept, self.remaining_s))
                self.lost_s += worked - kept
                return

    def _pace(self) -> float:
        """Run-time factor: its GPUs' (placement), the slowest straggler's and the contention's."""
        placement = self.placed.pace if self.placed is not None else 1.0
        return placement * max(self._slow.values(), default=1.0) * self._contention

    def _work_s(self, now: float) -> float:
        """Run time done in this attempt by `now` (a straggler stretches the wall clock, not the work)."""
        return self._worked_s + (now - self._paced_since_s) / self._pace()

    def _account(self, now: float, cluster: Cluster, kept_s: float) -> None:
        assert self._attempt_start_s is not None
        ran = now - self._attempt_start_s
        self.held_s += ran
        self.remaining_s -= kept_s
        cluster.record_busy(self.gpus, ran, self.power_w, self._shares)
        # the kept work at the pace of its GPUs alone (stragglers and contention are not productive time)
        cluster.record_productive(kept_s * (self.placed.pace if self.placed is not None else 1.0) * self.gpus,
                                  self._shares)

    def crash(self, node: int, cause: str) -> None:
        """A node of the job failed (or a straggler was evicted): the attempt stops."""
        self._interrupt(Stopped(cause))

    def _on_preempt(self) -> None:
        self._interrupt(Preempted())

    def _interrupt(self, cause: Stopped | Preempted) -> None:
        if self.process is not None and self._attempt_start_s is not None and not self._stopping:
            self._stopping = True
            self.process.interrupt(cause)

    def slow(self, node: int, factor: float) -> None:
        """A node of the job turned slow: what is left of the attempt runs `factor` times slower until the node
        is evicted."""
        self._repace(lambda: self._slow.__setitem__(node, max(factor, self._slow.get(node, 1.0))))

    def set_contention(self, factor: float) -> None:
        """Other workloads on its links leave it `factor` times slower than alone (1: not slowed)."""
        if factor != self._contention:
            self._repace(lambda: setattr(self, "_contention", factor))

    def _repace(self, change: Callable[[], None]) -> None:
        """Bank the work done at the old pace, apply `change`, and let the attempt under way run what is left at
        the new pace (an attempt not under way, or its own process, picks the pace up when it next waits)."""
        if self.process is None or self._env is None or self._attempt_start_s is None or self._stopping:
            change()
            return
        now = self._env.now
        self._worked_s, self._paced_since_s = self._work_s(now), now
        change()
        if self._env.active_process is not self.process:
            self.process.interrupt(Repaced())

    @property
    def holds_gpus(self) -> bool:
        """Whether an attempt holds GPUs now (for the shared fabric)."""
        return self._ids is not None and self._attempt_start_s is not None

    @property
    def placed_gpus(self) -> GpuIds:
        """The GPUs of the attempt under way."""
        assert self._ids is not None
        return self._ids

    def is_slowed(self, node: int) -> bool:
        """Whether straggler `node` still slows the attempt under way."""
        return node in self._slow and self._attempt_start_s is not None and not self._stopping

    def settle(self, now: float, cluster: Cluster) -> None:
        """At the end of the simulation: book the attempt under way (its run time counts as done) and the wait
        of a job still queued."""
        if self._attempt_start_s is not None:
            self._account(now, cluster, kept_s=min(self._work_s(now), self.remaining_s))
            self._attempt_start_s = None
        if self._waiting_since_s is not None:
            self.queued_s += now - self._waiting_since_s
            self._waiting_since_s = None

    @property
    def running(self) -> bool:
        """Holding its GPUs right now."""
        return self._attempt_start_s is not None

    @property
    def waiting(self) -> bool:
        """Queued for GPUs right now."""
        return self._waiting_since_s is not None

    @property
    def status(self) -> Literal["completed", "running", "queued"]:
        """completed, running (started, unfinished at the end) or queued (never started)."""
        if self.finished_s is not None:
            return "completed"
        return "running" if self.started_s is not None else "queued"
