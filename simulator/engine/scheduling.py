"""Scheduling policies, one small class each, registered under the names the scenario schema accepts
(SchedulerName in simulator/scenario/policies.py): where a new request joins the queue, and which requests may
start behind a blocked head."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, get_args

import simpy

from simulator.engine.registry import Registry
from simulator.plan.pools import Need
from simulator.scenario.policies import SchedulerName


@dataclass(eq=False)  # a request is itself: the queue finds and removes it by identity
class Request:
    """A gang request for GPUs, waiting in the queue: anywhere in the cluster, or as one of `options`, the ways
    it may be split over pools, in order of preference."""

    count: int
    event: simpy.Event
    priority: int
    estimate_s: float  # expected holding time (inf: unknown, such as a serving deployment)
    order: int
    tenant: str
    options: tuple[Need, ...] = ()

    @property
    def pools(self) -> frozenset[int]:
        """Every pool it may take GPUs from (empty: it is not bound to pools)."""
        return frozenset(pool for need in self.options for pool, _ in need)


class Pool(Protocol):
    """What a policy sees of the GPU pool (the cluster)."""

    @property
    def now(self) -> float:
        """The simulated time."""

    def draining_gpus(self) -> int:
        """GPUs of preempted allocations on their way back (the head's)."""

    def expected_releases(self) -> list[tuple[float, int]]:
        """(expected release time, no earlier than now; GPUs) of every allocation held and not draining, in
        that order."""

    def within_quota(self, request: Request) -> bool:
        """Whether `request` would keep its tenant within its quota."""


class Policy:
    """A scheduling policy; by default higher priority first, then submission order, and nothing starts behind
    a blocked head."""

    def enqueue(self, waiting: list[Request], request: Request) -> None:
        """Put `request` in its place in `waiting` (kept in grant order)."""
        at = next((i for i, r in enumerate(waiting) if r.priority < request.priority), len(waiting))
        waiting.insert(at, request)

    def behind_head(self, queue: list[Request], free: int, pool: Pool) -> Iterator[Request]:
        """Requests behind the blocked head `queue[0]` to start now, one at a time (each is started before the
        next is chosen), with `free` GPUs usable: none."""
        return iter(())


POLICIES: Registry[SchedulerName, type[Policy]] = Registry("scheduling policy", get_args(SchedulerName))


@POLICIES.register("fifo")
class Fifo(Policy):
    """Submission order; the head blocks."""

    def enqueue(self, waiting: list[Request], request: Request) -> None:
        """At the back."""
        waiting.append(request)


@POLICIES.register("priority")
class Priority(Policy):
    """Higher priority first, then submission order; the head blocks."""


@POLICIES.register("backfill")
class Backfill(Priority):
    """Priority order, and EASY backfill: the head's reservation is when enough held GPUs are expected back; a
    later request may start now if it fits and ends by then, or uses only GPUs the head will not need."""

    def behind_head(self, queue: list[Request], free: int, pool: Pool) -> Iterator[Request]:
        """Requests that fit now and do not delay the head's reservation, in queue order."""
        if len(queue) < 2:
            return
        head, now = queue[0], pool.now
        # GPUs of preempted allocations on their way back are the head's
        available, shadow_s, extra = free + pool.draining_gpus(), math.inf, 0
        if available >= head.count:
            shadow_s, extra = now, available - head.count
        for end, count in pool.expected_releases():
            if shadow_s < math.inf:
                break
            available += count
            if available >= head.count:
                shadow_s, extra = end, available - head.count
        for request in queue[1:]:
            if request.count > free or not pool.within_quota(request):
                continue
            by_then = now + request.estimate_s <= shadow_s
            if by_then or request.count <= extra:
                yield request
                free -= request.count
                if not by_then:
                    extra -= request.count
