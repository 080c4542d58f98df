"""How a data-parallel job spread over pools of different speed divides its micro-batches: heterogeneity-aware
trainers (Whale, ATC'22; HetPipe, ATC'20; FlashFlex) give faster replicas more of the global batch so that every
replica reaches the gradient synchronisation at about the same time; a naive split gives each the same."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PoolShare:
    """A pool's part of the step: `extra` of its replicas run `micro_batches + 1`, the rest `micro_batches`."""

    replicas: int
    micro_batches: int
    extra: int = 0

    @property
    def most(self) -> int:
        """Micro-batches of its busiest replica."""
        return self.micro_batches + (1 if self.extra else 0)

    @property
    def total(self) -> int:
        """Micro-batches over all its replicas."""
        return self.replicas * self.micro_batches + self.extra


def even_split(replicas: Sequence[int], micro_batches: int) -> tuple[PoolShare, ...]:
    """Every replica runs `micro_batches` (the slowest pool sets the pace)."""
    return tuple(PoolShare(r, micro_batches) for r in replicas)


def balanced_split(replicas: Sequence[int], total: int, base_s: Sequence[float],
                   per_micro_batch_s: Sequence[float]) -> tuple[PoolShare, ...]:
    """`total` micro-batches over the pools' replicas (each at least one) so that the slowest replica, at
    `base_s + per_micro_batch_s * m` for its m micro-batches, finishes as early as it can: the greedy that gives
    the next micro-batch to the replica that would finish it first is optimal for these increasing linear times,
    and replicas of one pool fill level by level, so it runs in levels rather than micro-batches."""
    if len(replicas) != len(base_s) or len(replicas) != len(per_micro_batch_s):
        raise ValueError("one replica count, base time and per-micro-batch time per pool")
    if any(r <= 0 for r in replicas) or any(b <= 0 for b in per_micro_batch_s):
        raise ValueError("replicas and per-micro-batch times must be positive")
    if total < sum(replicas):
        raise ValueError(f"{total} micro-batches cannot give each of {sum(replicas)} replicas one")
    level = [1] * len(replicas)  # micro-batches every replica of the pool has
    extra = [0] * len(replicas)  # replicas of the pool with one more
    left = total - sum(replicas)
    while left:
        pool = min(range(len(replicas)), key=lambda p: (base_s[p] + per_micro_batch_s[p] * (level[p] + 1), p))
        take = min(left, replicas[pool] - extra[pool])
        extra[pool] += take
        left -= take
        if extra[pool] == replicas[pool]:
            level[pool], extra[pool] = level[pool] + 1, 0
    return tuple(PoolShare(r, m, e) for r, m, e in zip(replicas, level, extra, strict=True))
