"""What a failure does to whoever holds the node, written once for training jobs, batch jobs and serving replicas:
each holder answers four verbs (crash, slow, is_slowed, notice), and the effects are built from them here, so a
new effect touches this module, the failure process that raises it and the model that names it."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import simpy
from numpy.typing import NDArray

from simulator.models.reliability import CauseKind


@dataclass(frozen=True)
class Preempted:
    """Interrupt cause of a job's process: higher-priority work needs its GPUs (it gives them back, queues again)."""


@dataclass(frozen=True)
class Repaced:
    """Interrupt cause of a job's process: its pace changed (it keeps its progress and goes on at the new pace)."""


@dataclass(frozen=True)
class Stopped:
    """Interrupt cause of a job's process: a failure (or a network partition) stopped it; it loses the work since
    its last checkpoint."""

    cause: str


class Holder(Protocol):
    """Work on some nodes, told what happens to them."""

    def crash(self, node: int, cause: str) -> None:
        """`node` went down: the work on it stops (and recovers as its kind does)."""

    def slow(self, node: int, factor: float) -> None:
        """`node` runs `factor` times slower: the work on it stretches (ignored where none runs)."""

    def is_slowed(self, node: int) -> bool:
        """Whether a straggler on `node` still slows this holder's work."""

    def notice(self, node: int, seconds: float) -> bool:
        """`node` will be taken away (a spot reclaim) in `seconds`: prepare if it can; whether it acted."""


class Unwarned:
    """The default answer to a reclaim notice, for holders that cannot use one: nothing is done, the work on the
    node is lost when it goes, as at a failure."""

    def notice(self, node: int, seconds: float) -> bool:
        """Ignored (not acted on)."""
        return False


class Nodes(Protocol):
    """The node pool the effects act on (the cluster)."""

    @property
    def env(self) -> simpy.Environment:
        """The simulation the nodes live in."""

    @property
    def up(self) -> NDArray[np.bool_]:
        """Which nodes are healthy."""

    def fail_node(self, node: int, repair_s: float, cause: str) -> None:
        """Take `node` down for `repair_s` and tell its holders."""


@dataclass(frozen=True)
class Straggler:
    """A fail-slow node: `factor` times slower until it is found, `detection_s` later, and repaired."""

    factor: float
    detection_s: float
    repair_s: float
    cause: str


def straggle(nodes: Nodes, holder: Holder, node: int, straggler: Straggler) -> None:
    """Slow `holder`'s work on `node`; if that took hold, evict the node once the straggler is detected."""
    holder.slow(node, straggler.factor)
    if holder.is_slowed(node):
        nodes.env.process(_evict(nodes, holder, node, straggler))


def _evict(nodes: Nodes, holder: Holder, node: int, straggler: Straggler) -> Generator[simpy.Event, object, None]:
    """Take the node out for repair like a failed one, unless a failure or another holder's eviction took it
    down first or the holder no longer runs slow on it (it moved, finished or recovered without it)."""
    yield nodes.env.timeout(straggler.detection_s)
    if nodes.up[node] and holder.is_slowed(node):
        nodes.fail_node(node, straggler.repair_s, CauseKind.STRAGGLER.label(straggler.cause))
