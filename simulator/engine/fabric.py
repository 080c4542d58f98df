"""Training jobs sharing one network. Whenever a job is placed or gives its GPUs back, every job holding GPUs is
re-priced on the capacity the others leave it: a channel others keep busy a fraction u of the time leaves
1 - u, but never less than an even split among the jobs that use it (max-min fairness when all send at once).
Jobs re-price at these events only, never per step (docs/network.md, "Shared links"). The channels' load is
integrated over time for the cluster report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy

from simulator.engine.cluster import GpuIds
from simulator.engine.pace import JobWide
from simulator.engine.training import TrainingJob
from simulator.models.topology.network import FloatArray, Network
from simulator.models.workload.step_time import StepTime

Utilization = Callable[[GpuIds, StepTime], FloatArray]  # a job's busy fraction of each channel, placed on GPUs
SharedPricer = Callable[[GpuIds, FloatArray], StepTime]  # its step on GPUs with that share of each channel left
TOP_LINKS = 3
MAX_SERIES = 4096  # link-load change points kept for plots (a run with more keeps its first ones)


@dataclass
class Contention:
    """What one job met: its step-time factor over time (integrated while it held GPUs) and the links."""

    factor: float = 1.0
    since_s: float = 0.0
    weighted_s: float = 0.0  # integral of (factor - 1) dt while holding GPUs
    held_s: float = 0.0
    max_factor: float = 1.0
    links: list[str] = field(default_factory=list)
    holding: bool = False  # whether it held GPUs since since_s

    def mean_factor(self) -> float:
        """Time-weighted mean step-time factor while it held GPUs."""
        return 1.0 + self.weighted_s / self.held_s if self.held_s > 0 else 1.0


@dataclass
class _Member:
    job: TrainingJob
    utilization: Utilization
    shared: SharedPricer
    contention: Contention = field(default_factory=Contention)
    _footprint: dict[bytes, FloatArray] = field(default_factory=dict)

    def footprint(self) -> FloatArray:
        """Its channel utilization on its current GPUs, at its uncontended step (cached per placement)."""
        gpus = self.job.placed_gpus
        key = gpus.tobytes()
        if key not in self._footprint:
            assert self.job.placed_step is not None
            self._footprint[key] = self.utilization(gpus, self.job.placed_step)
        return self._footprint[key]


class Fabric:
    """The shared network of a run and the training jobs on it."""

    def __init__(self, env: simpy.Environment, network: Network, sharing: bool = True) -> None:
        self.env = env
        self.network = network
        self.sharing = sharing  # whether jobs slow each other (else each is priced alone; loads still tracked)
        self._members: list[_Member] = []
        self.busy_s = np.zeros_like(network.capacity)  # per channel: time-integrated utilization by all jobs
        self._load = np.zeros_like(network.capacity)  # the channels' utilization since the last change
        self._load_since_s = 0.0
        self.tier_series: list[tuple[float, FloatArray]] = []  # (time, mean load of each tier) at each change

    def join(self, job: TrainingJob, utilization: Utilization, shared: SharedPricer) -> Contention:
        """Price `job` against the others from now on; returns what it will meet."""
        member = _Member(job, utilization, shared)
        self._members.append(member)
        job.on_placement = self.changed
        return member.contention

    def changed(self) -> None:
        """A job was placed or released its GPUs: re-price every job that holds GPUs."""
        self.settle()
        holding = [m for m in self._members if m.job.holds_gpus and m.job.placed_step is not None]
        footprints = {id(m): m.footprint() for m in holding}
        total = sum(footprints.values(), np.zeros_like(self.network.capacity))
        users = sum(((f > 0).astype(np.int64) for f in footprints.values()), np.zeros(total.size, dtype=np.int64))
        load = np.zeros_like(total)
        for m in self._members:
            factor, links = 1.0, list[str]()
            if self.sharing and m in holding and len(holding) > 1:
                factor, links = self._factor(m, footprints[id(m)], total, users)
            if m in holding:  # the same bytes over a longer step
                load += footprints[id(m)] / factor
            m.contention.factor = factor
            m.contention.max_factor = max(m.contention.max_factor, factor)
            if links:
                m.contention.links = links
            m.job.set_pace(JobWide.CONTENTION, factor)
        self._load = np.minimum(load, 1.0)
        names, index = self.network.tiers()
        per_tier = (np.bincount(index, weights=self._load, minlength=len(names))
                    / np.bincount(index, minlength=len(names)))
        if self.tier_series and self.tier_series[-1][0] == self.env.now:
            self.tier_series.pop()  # several changes at one instant: the last state counts
        if len(self.tier_series) < MAX_SERIES:
            self.tier_series.append((self.env.now, per_tier))

    def settle(self) -> None:
        """Count the time since the last change at each job's factor (the end of a run calls it too)."""
        now = self.env.now
        self.busy_s += (now - self._load_since_s) * self._load
        self._load_since_s = now
        for m in self._members:
            c = m.contention
            if c.since_s < now and c.holding:
                c.weighted_s += (now - c.since_s) * (c.factor - 1.0)
                c.held_s += now - c.since_s
            c.since_s = now
            c.holding = m.job.holds_gpus

    def _factor(self, m: _Member, own: FloatArray, total: FloatArray, users: np.ndarray) -> tuple[float, list[str]]:
        """Step-time factor of member `m` on what the others leave it, and the links that slow it most."""
        others = total - own
        sharing = (own > 0) & (others > 0)
        if not sharing.any():
            return 1.0, []
        share = np.ones_like(total)
        fair = 1.0 / np.maximum(users, 1)
        share[sharing] = np.maximum(1.0 - others[sharing], fair[sharing])
        assert m.job.placed_step is not None
        factor = m.shared(m.job.placed_gpus, share).total_s / m.job.placed_step.total_s
        if factor <= 1.0 + 1e-12:
            return 1.0, []
        pressure = np.where(sharing, own * (1.0 - share), 0.0)
        top = np.argsort(pressure)[::-1][:TOP_LINKS]
        return factor, [self.network.channel_names[int(i)] for i in top if pressure[i] > 0]
