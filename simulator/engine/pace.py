"""How much slower than its base step time a training job steps, and why: its slowest straggler node times every
job-wide factor (a degraded network, data-parallel replicas dropped while their node is repaired)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True)
class NodeSlow:
    """A straggling node of the job: a synchronous job steps at its slowest straggler's pace."""

    node: int


class JobWide(Enum):
    """A reason the whole job steps slower; these multiply."""

    NETWORK = "network"  # failed links: the job's collectives run on a degraded network
    SHRUNK = "shrunk"  # data-parallel replicas dropped: the rest carry the global batch
    CONTENTION = "contention"  # other workloads' traffic on links the job's collectives cross


PaceKey = NodeSlow | JobWide


@dataclass
class Pace:
    """The step-time factors of one job, by reason (a factor of 1 is no entry)."""

    _factors: dict[PaceKey, float] = field(default_factory=dict)

    def factor(self) -> float:
        """Step-time factor: the slowest straggler node times every job-wide factor."""
        nodes = [f for k, f in self._factors.items() if isinstance(k, NodeSlow)]
        wide = [f for k, f in self._factors.items() if isinstance(k, JobWide)]
        return max(nodes, default=1.0) * math.prod(wide)

    def set(self, key: JobWide, factor: float) -> bool:
        """Steps take `factor` times their base time for reason `key` (1 clears it); whether that changed."""
        if factor <= 1.0 + 1e-12:
            return self._factors.pop(key, None) is not None
        changed = self._factors.get(key) != factor
        self._factors[key] = factor
        return changed

    def slow_node(self, node: int, factor: float) -> None:
        """`node` straggles, `factor` times slower (the worst of its slowdowns counts)."""
        key = NodeSlow(node)
        self._factors[key] = max(factor, self._factors.get(key, 1.0))

    def forget_node(self, node: int) -> None:
        """`node` no longer slows the job (it failed and was swapped out, dropped or waited for)."""
        self._factors.pop(NodeSlow(node), None)

    def slowed_by(self, node: int) -> bool:
        """Whether straggler `node` slows the job."""
        return NodeSlow(node) in self._factors

    def clear(self) -> None:
        """The job left its GPUs: none of their slowdowns follow it."""
        self._factors.clear()
