"""Workloads sharing one network. Whenever a workload is placed or gives its GPUs back, every workload whose
channels it touches is re-priced on the capacity the others leave it: a channel others keep busy a fraction u of
the time leaves 1 - u, but never less than an even split among the workloads that use it (max-min fairness when
all send at once). Workloads re-price at these events only, never per step, and only those that share a channel
with the one that changed (docs/network.md, "Shared links"). The channels' load is integrated over time for the
cluster report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import simpy

from simulator.models.topology.network import FloatArray, IntArray, Network
from simulator.models.workload.traffic import Placed

TOP_LINKS = 3
MAX_SERIES = 4096  # link-load change points kept for plots (a run with more keeps its first ones)


class FabricUser(Protocol):
    """A workload on the fabric: the engine's training and batch jobs, and services' KV transfers."""

    on_placement: Callable[[], None] | None  # the fabric's hook: call it on taking and on giving back GPUs

    @property
    def holds_gpus(self) -> bool:
        """Whether it holds GPUs now."""
        ...

    def set_contention(self, factor: float) -> None:
        """It runs `factor` times slower than alone on its GPUs from now on (1: not slowed)."""
        ...


@dataclass
class Contention:
    """What one workload met: its run-time factor over time (integrated while it held GPUs) and the links."""

    factor: float = 1.0
    since_s: float = 0.0
    weighted_s: float = 0.0  # integral of (factor - 1) dt while holding GPUs
    held_s: float = 0.0
    max_factor: float = 1.0
    links: list[str] = field(default_factory=list)
    holding: bool = False  # whether it held GPUs since since_s

    def mean_factor(self) -> float:
        """Time-weighted mean run-time factor while it held GPUs."""
        return 1.0 + self.weighted_s / self.held_s if self.held_s > 0 else 1.0

    def advance(self, now: float) -> None:
        """Count the time since the last change at the factor then in force."""
        if self.holding and now > self.since_s:
            self.weighted_s += (now - self.since_s) * (self.factor - 1.0)
            self.held_s += now - self.since_s
        self.since_s = now


@dataclass(eq=False)
class _Member:
    job: FabricUser
    placed: Callable[[], Placed]  # its traffic on the GPUs it holds now
    contention: Contention = field(default_factory=Contention)


class Fabric:
    """The shared network of a run and the workloads on it."""

    def __init__(self, env: simpy.Environment, network: Network, sharing: bool = True) -> None:
        self.env = env
        self.network = network
        # whether workloads slow each other (else each is priced alone; loads are still tracked): never on a network
        # that gives every job links of its own
        self.sharing = sharing and not network.isolates_jobs
        self._members: list[_Member] = []
        self._active: dict[_Member, Placed] = {}  # members holding GPUs whose traffic crosses channels
        self._total = np.zeros_like(network.capacity)  # sum of the active members' uncontended busy fractions
        self._users = np.zeros(network.capacity.size, dtype=np.int64)  # active members using each channel
        self._load = np.zeros_like(network.capacity)  # the channels' utilization: busy fractions / factors
        self._mark = np.zeros(network.capacity.size, dtype=bool)
        self.busy_s = np.zeros_like(network.capacity)  # per channel: time-integrated utilization by all
        self._load_since_s = 0.0
        names, index = network.tiers()
        self._tier_sizes = np.bincount(index, minlength=len(names))
        self.tier_series: list[tuple[float, FloatArray]] = []  # (time, mean load of each tier) at each change

    def join(self, job: FabricUser, placed: Callable[[], Placed]) -> Contention:
        """Price `job` against the others from now on (`placed`: its traffic on the GPUs it holds, asked only
        while it holds some); returns what it will meet."""
        member = _Member(job, placed)
        self._members.append(member)
        job.on_placement = lambda: self.changed(member)
        return member.contention

    def changed(self, member: _Member) -> None:
        """`member` was placed or released its GPUs: re-price it and every workload on a channel it touched."""
        self._integrate()
        now = self.env.now
        member.contention.advance(now)
        member.contention.holding = member.job.holds_gpus
        touched: list[IntArray] = []
        old = self._active.pop(member, None)
        if old is not None:
            self._leave(old, member.contention.factor)
            touched.append(old.footprint.channels)
        placed = member.placed() if member.job.holds_gpus else None
        if placed is not None and placed.footprint.channels.size:
            self._active[member] = placed
            self._enter(placed)
            touched.append(placed.footprint.channels)
        member.contention.factor = 1.0
        if member not in self._active:
            member.job.set_contention(1.0)
        if not touched:  # no traffic on the network before or after: nothing else changes
            return
        for channels in touched:
            self._mark[channels] = True
        affected = [m for m, p in self._active.items() if m is not member and self._mark[p.footprint.channels].any()]
        for channels in touched:
            self._mark[channels] = False
        for m in ([member] if member in self._active else []) + affected:
            self._reprice(m, now)
        self._record(now)

    def _enter(self, placed: Placed) -> None:
        fp = placed.footprint
        self._total[fp.channels] += fp.busy
        self._users[fp.channels] += 1
        self._load[fp.channels] += fp.busy

    def _leave(self, placed: Placed, factor: float) -> None:
        fp = placed.footprint
        self._total[fp.channels] -= fp.busy
        self._users[fp.channels] -= 1
        self._load[fp.channels] -= fp.busy / factor
        idle = fp.channels[self._users[fp.channels] == 0]  # exactly idle again, whatever the rounding
        self._total[idle] = 0.0
        self._load[idle] = 0.0

    def _reprice(self, m: _Member, now: float) -> None:
        """Member `m`'s factor on what the others leave it (its load moves with it: the same bytes over a
        longer run), and the links that slow it most."""
        placed = self._active[m]
        fp = placed.footprint
        c = m.contention
        factor, links = self._factor(placed) if self.sharing else (1.0, [])
        c.advance(now)
        self._load[fp.channels] += fp.busy / factor - fp.busy / c.factor
        c.factor = factor
        c.max_factor = max(c.max_factor, factor)
        if links:
            c.links = links
        m.job.set_contention(factor)

    def _factor(self, placed: Placed) -> tuple[float, list[str]]:
        fp = placed.footprint
        others = self._total[fp.channels] - fp.busy
        sharing = others > 1e-12
        if not sharing.any():
            return 1.0, []
        share = np.ones_like(fp.busy)
        fair = 1.0 / np.maximum(self._users[fp.channels], 1)
        share[sharing] = np.maximum(1.0 - others[sharing], fair[sharing])
        factor = placed.shared(share)
        if factor <= 1.0 + 1e-12:
            return 1.0, []
        pressure = np.where(sharing, fp.busy * (1.0 - share), 0.0)
        top = np.argsort(pressure)[::-1][:TOP_LINKS]
        return factor, [self.network.channel_names[int(fp.channels[i])] for i in top if pressure[i] > 0]

    def _integrate(self) -> None:
        """Count the channels' load since the last change."""
        now = self.env.now
        if now > self._load_since_s:
            self.busy_s += (now - self._load_since_s) * np.clip(self._load, 0.0, 1.0)
        self._load_since_s = now

    def _record(self, now: float) -> None:
        """The tiers' mean load from now on, for the plots."""
        names, index = self.network.tiers()
        per_tier = (np.bincount(index, weights=np.clip(self._load, 0.0, 1.0), minlength=len(names))
                    / self._tier_sizes)
        if self.tier_series and self.tier_series[-1][0] == now:
            self.tier_series.pop()  # several changes at one instant: the last state counts
        if len(self.tier_series) < MAX_SERIES:
            self.tier_series.append((now, per_tier))

    def settle(self) -> None:
        """At the end of a run: count the time since the last change (loads and every member's factor)."""
        self._integrate()
        for m in self._members:
            m.contention.advance(self.env.now)
