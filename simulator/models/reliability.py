"""Failure and recovery inputs, and the closed forms the simulation is checked against.

Specs: which components fail (per GPU, per node, per leaf switch, per rack), how often (MTBF or failures
per 1,000 node-days), with which time-between-failures distribution (exponential; Weibull with shape < 1
is what HPC data shows), how long repairs take (lognormal), which share is "repeat offenders", and what
a training job does about it (detection, restart, spares, checkpoints). Formulas: Young 1974, Daly 2006,
and Meta's expected ETTR (Kokolis et al., HPCA 2025), as in ../shared/reference/reliability.yaml.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from simulator.base import Strict
from simulator.units import Duration, NonNegativeDuration

Generator = np.random.Generator


class Scope(StrEnum):
    """What one failing unit is, and so what it takes down."""

    GPU = "gpu"  # one GPU: its node's job stops (a synchronous job cannot lose one rank)
    NODE = "node"  # a host: the node
    LEAF = "leaf"  # a leaf switch: every node under it (nodes_per_leaf)
    RACK = "rack"  # a rack or power domain: its nodes (nodes_per_rack)
    LINK = "link"  # one switch-to-switch (or chip-to-chip) link: bandwidth drops; jobs slow down or partition
    STORAGE = "storage"  # the shared checkpoint store: no checkpoint becomes durable and none can be restored


class Distribution(StrEnum):
    """Time between failures of one unit."""

    EXPONENTIAL = "exponential"
    WEIBULL = "weibull"
    PERIODIC = "periodic"  # planned maintenance: exactly every mtbf, units at random phases (rolling)


class Effect(StrEnum):
    """What a failure does to a job on the unit."""

    CRASH = "crash"  # the job stops and recovers from its last checkpoint
    SLOWDOWN = "slowdown"  # fail-slow: the job runs slower until the straggler is detected and evicted


class NoSpare(StrEnum):
    """What a training job does after a failure when no healthy spare node is left."""

    WAIT = "wait"  # for the repair
    SHRINK = "shrink"  # drop the failed node's data-parallel replicas until it is back
    REQUEUE = "requeue"  # give every GPU back and queue for healthy ones


class CauseKind(StrEnum):
    """How a failure cause reaches a workload, and so the prefix of its label in `interruptions_by_cause`."""

    STOP = ""  # it stops the work (a crash, or a straggler evicted after detection)
    STRAGGLER = "straggler"  # a slow node, taken out once detected
    PARTITION = "partitioned"  # links down until the job has no healthy path

    def label(self, cause: str) -> str:
        """`cause` as reports count it: the cause itself, or prefixed with the kind."""
        return f"{self.value}:{cause}" if self.value else cause


def cause_kind(scope: Scope, effect: Effect) -> CauseKind | None:
    """How a failure of this scope and effect interrupts work (None: it never does, as the checkpoint store)."""
    if scope is Scope.STORAGE:
        return None
    if scope is Scope.LINK:
        return CauseKind.PARTITION
    return CauseKind.STRAGGLER if effect is Effect.SLOWDOWN else CauseKind.STOP


class Repair(Strict):
    """Repair time of a failed unit: lognormal with this median and log-space sigma (LANL: ~1 h, 1.1-1.2)."""

    median_s: NonNegativeDuration = Field(3600.0, alias="median", description="median repair time")
    sigma: float = Field(1.1, ge=0, le=5, description="log-space standard deviation (0 = always the median)")

    def sample(self, rng: Generator, size: int | None = None) -> float | np.ndarray:
        """Repair durations, seconds."""
        if self.sigma == 0:
            return self.median_s if size is None else np.full(size, self.median_s)
        return self.median_s * np.exp(rng.normal(0.0, self.sigma, size))


class Component(Strict):
    """A class of failing units: its rate, distribution, repair, blast radius and causes."""

    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$", description="label in reports")
    scope: Scope = Field(Scope.NODE, description="gpu, node, leaf or rack: the unit that fails")
    mtbf_s: Duration | None = Field(
        None, alias="mtbf", gt=0, description="mean time between failures of ONE unit (e.g. 50000 h; at least 1 s)"
    )
    failures_per_1000_node_days: float | None = Field(
        None, gt=0, le=1e6, description="instead of mtbf: failures per 1,000 node-days (Meta RSC-1: 6.5)"
    )
    distribution: Distribution = Field(Distribution.EXPONENTIAL, description="exponential or weibull")
    weibull_shape: float = Field(1.0, gt=0, le=20, description="Weibull shape k (< 1: decreasing hazard)")
    repair: Repair = Field(default_factory=Repair, description="time until the unit is healthy again")
    effect: Effect = Field(Effect.CRASH, description="crash, or slowdown (fail-slow stragglers)")
    slowdown: float = Field(
        0.5, gt=0, le=100, description="slowdown: steps take (1 + slowdown) times longer while it lasts"
    )
    straggler_detection_s: NonNegativeDuration = Field(
        1800.0, alias="straggler_detection",
        description="slowdown: time until the straggler is found and evicted (the job then restarts without it)",
    )
    repeat_offender_fraction: float = Field(
        0.0, ge=0, le=1, description="share of units that fail more often (lemon nodes, Kokolis et al.)"
    )
    repeat_offender_factor: float = Field(1.0, ge=1, le=1000, description="how many times more often they fail")
    causes: dict[str, float] = Field(
        default_factory=dict, description="labels with relative weights, e.g. Llama 3 Table 5's counts"
    )

    @field_validator("mtbf_s")
    @classmethod
    def _simulable(cls, mtbf_s: float | None) -> float | None:
        if mtbf_s is not None and mtbf_s < 1.0:
            raise ValueError("mtbf must be at least 1 s (failures are simulated one by one)")
        return mtbf_s

    @model_validator(mode="after")
    def _one_rate(self) -> Component:
        if (self.mtbf_s is None) == (self.failures_per_1000_node_days is None):
            raise ValueError("give exactly one of mtbf and failures_per_1000_node_days")
        if self.failures_per_1000_node_days is not None and self.scope is not Scope.NODE:
            raise ValueError("failures_per_1000_node_days applies to scope: node; give mtbf for other scopes")
        if self.scope in (Scope.LINK, Scope.STORAGE) and self.effect is not Effect.CRASH:
            raise ValueError("effect applies to gpu, node, leaf and rack scopes, not to links or storage")
        if self.distribution is not Distribution.WEIBULL and self.weibull_shape != 1.0:
            raise ValueError("weibull_shape needs distribution: weibull")
        if any(w <= 0 for w in self.causes.values()):
            raise ValueError("cause weights must be positive")
        return self

    @property
    def unit_mtbf_s(self) -> float:
        """Mean time between failures of one unit, seconds."""
        if self.mtbf_s is not None:
            return self.mtbf_s
        assert self.failures_per_1000_node_days is not None
        return 1000.0 * 86400.0 / self.failures_per_1000_node_days

    def sample_uptime(self, rng: Generator, mean_s: np.ndarray) -> np.ndarray:
        """Times to the next failure of units whose mean time between failures is `mean_s`."""
        if self.distribution is Distribution.EXPONENTIAL:
            return rng.exponential(mean_s)
        if self.distribution is Distribution.PERIODIC:
            return np.array(mean_s, dtype=np.float64, copy=True)
        scale = mean_s / math.gamma(1.0 + 1.0 / self.weibull_shape)
        return scale * rng.weibull(self.weibull_shape, mean_s.shape)


class FailureModel(Strict):
    """The scenario's `failures:` section."""

    components: list[Component] = Field(min_length=1, max_length=100, description="failing component classes")
    nodes_per_leaf: int | None = Field(
        None, gt=0, le=4096,
        description="nodes a leaf-switch failure takes down (scope: leaf); default from the topology: a rail-"
        "optimized fat tree's scalable unit (every node loses a rail), else the nodes wired to one leaf",
    )
    nodes_per_rack: int = Field(4, gt=0, le=4096, description="nodes per rack or power domain (scope: rack)")

    def leaf_nodes(self, topology_default: int) -> int:
        """Nodes per leaf-switch failure: as given, else the topology's."""
        return self.nodes_per_leaf or topology_default

    def leaf_units(self, nodes: int, leaves: tuple[int, int]) -> int:
        """Leaf switches over `nodes` consecutive nodes, given the topology's (nodes per leaf, leaves per group)."""
        return -(-nodes // self.leaf_nodes(leaves[0])) * (leaves[1] if self.nodes_per_leaf is None else 1)

    @model_validator(mode="after")
    def _unique(self) -> FailureModel:
        names = [c.name for c in self.components]
        if len(names) != len(set(names)):
            raise ValueError(f"component names must be unique, got {names}")
        return self


class CheckpointPolicy(StrEnum):
    """How the checkpoint interval is chosen (each name has its rule in INTERVAL_RULES)."""

    NONE = "none"
    FIXED = "fixed"
    YOUNG = "young"
    DALY = "daly"


class Checkpoint(Strict):
    """A training job's checkpoints."""

    policy: CheckpointPolicy = Field(CheckpointPolicy.FIXED, description="none, fixed, young or daly")
    interval_s: Duration = Field(3600.0, alias="interval", gt=0, description="between checkpoints (fixed)")
    write_s: NonNegativeDuration = Field(60.0, alias="write", description="time to write one checkpoint")
    mode: Literal["sync", "async"] = Field("sync", description="sync stalls for the write; async only briefly")
    async_stall_s: NonNegativeDuration = Field(
        5.0, alias="async_stall", description="stall of an async checkpoint (copy to host memory)"
    )
    restore_s: NonNegativeDuration = Field(300.0, alias="restore", description="time to load a checkpoint")

    @property
    def stall_s(self) -> float:
        """Training time lost per checkpoint."""
        return self.write_s if self.mode == "sync" else self.async_stall_s

    def chosen_interval_s(self, mttf_s: float) -> float:
        """Seconds between checkpoints under the policy, for a job whose mean time to failure is `mttf_s`
        (0: never checkpoint)."""
        return INTERVAL_RULES[self.policy](self, mttf_s)


class Recovery(Strict):
    """What a training job does when a failure stops it."""

    detection_s: NonNegativeDuration = Field(
        600.0, alias="detection", description="time to notice (NCCL timeouts can take 30 min; health checks ~30 s)"
    )
    restart_s: NonNegativeDuration = Field(900.0, alias="restart", description="reschedule and re-initialise")
    spare_nodes: int = Field(
        0, ge=0, le=1_000_000, description="idle healthy nodes the job may swap in; without one it waits for repair"
    )
    on_no_spare: NoSpare = Field(
        NoSpare.WAIT,
        description="without a healthy spare: wait for the repair; shrink data parallelism (drop the failed "
        "node's replica, keep the global batch: steps take dp/(dp - dropped) longer) until the node is back; or "
        "requeue (give every GPU back and queue again, as Slurm's --requeue does: the scheduler places the job "
        "anew on healthy GPUs, and the wait is reported as requeued_s)",
    )


def young_interval_s(write_s: float, mttf_s: float) -> float:
    """Young 1974: sqrt(2 delta M)."""
    return math.sqrt(2.0 * write_s * mttf_s)


def daly_interval_s(write_s: float, mttf_s: float) -> float:
    """Daly 2006's higher-order optimum; M itself when the write takes at least 2M."""
    if write_s >= 2.0 * mttf_s:
        return mttf_s
    ratio = write_s / (2.0 * mttf_s)
    return math.sqrt(2.0 * write_s * mttf_s) * (1 + math.sqrt(ratio) / 3 + ratio / 9) - write_s


IntervalRule = Callable[[Checkpoint, float], float]  # (checkpoint spec, job MTTF s) -> interval s (0: none)


def _optimum(rule: Callable[[float, float], float]) -> IntervalRule:
    """A closed-form optimum of the stall and the MTTF; no checkpoints for a job that never fails."""
    return lambda checkpoint, mttf_s: rule(checkpoint.stall_s, mttf_s) if math.isfinite(mttf_s) else 0.0


INTERVAL_RULES: dict[CheckpointPolicy, IntervalRule] = {
    CheckpointPolicy.NONE: lambda checkpoint, mttf_s: 0.0,
    CheckpointPolicy.FIXED: lambda checkpoint, mttf_s: checkpoint.interval_s,
    CheckpointPolicy.YOUNG: _optimum(young_interval_s),
    CheckpointPolicy.DALY: _optimum(daly_interval_s),
}


def meta_expected_ettr(nodes: int, rate_per_node_s: float, restart_s: float, interval_s: float,
                       write_s: float) -> float:
    """Kokolis et al.: E[ETTR] ~ (1 - N r (u0 + dt/2)) / (1 + w/dt)."""
    return (1.0 - nodes * rate_per_node_s * (restart_s + interval_s / 2.0)) / (1.0 + write_s / interval_s)
