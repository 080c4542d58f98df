"""Routers that send an arriving request to a replica, registered by the names simulator/scenario/policies.py
declares (each `Router` subclass is registered at the end, not by a class decorator, so that it compiles as a
native class with the serving engine), so a scenario's `router:` finds its class."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import get_args

import numpy as np

from simulator.engine.registry import Registry
from simulator.engine.serving.loads import DOWN, Pool
from simulator.engine.serving.replica import Replica
from simulator.engine.serving.requests import Seq
from simulator.scenario.policies import RouterName


class Router(ABC):
    """Picks a replica for each request; `rng` is the run's, for routers that draw."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    @abstractmethod
    def pick(self, replicas: Pool[Replica], seq: Seq) -> Replica | None:
        """The replica `seq` goes to among those up (None if none is); ties go to the lowest number."""


ROUTERS: Registry[RouterName, type[Router]] = Registry("router", get_args(RouterName))


class LeastOutstanding(Router):
    """Fewest requests queued and running (the common case: the pool keeps its replicas ordered by load,
    O(log replicas) per request)."""

    def pick(self, replicas: Pool[Replica], seq: Seq) -> Replica | None:
        best = replicas.least()  # the first of the least loaded: the lowest number
        return best if best is not None and best.load < DOWN else None


class RoundRobin(Router):
    """In turn, by request number, over the replicas up (O(1): the pool lists them)."""

    def pick(self, replicas: Pool[Replica], seq: Seq) -> Replica | None:
        up = replicas.up
        return up[seq.index % len(up)] if up else None


class PowerOfTwo(Router):
    """The less loaded of two replicas drawn at random (O(1))."""

    def pick(self, replicas: Pool[Replica], seq: Seq) -> Replica | None:
        up = replicas.up
        if len(up) > 1:
            a, b = self.rng.choice(len(up), size=2, replace=False)
            return min(up[int(a)], up[int(b)], key=lambda r: r.outstanding)
        return up[0] if up else None


class KvAware(Router):
    """Fewest tokens cached or about to be: balances memory, not request counts (a scan of the replicas up: the
    tokens of every replica move with each of its iterations, so no order is kept for them)."""

    def pick(self, replicas: Pool[Replica], seq: Seq) -> Replica | None:
        up = replicas.up
        return min(up, key=lambda r: r.kv_tokens) if up else None


class PrefixAware(Router):
    """A replica holding the request's prefix unless it has more than twice the least busy one's requests
    plus one (the balance rule of SGLang's cache-aware router); otherwise the least busy (the pool's index; the
    holders are found by a scan of the replicas up)."""

    def pick(self, replicas: Pool[Replica], seq: Seq) -> Replica | None:
        up, least = replicas.up, replicas.least()
        if least is None or least.load >= DOWN:
            return None
        holders = [r for r in up if seq.prefix in r.prefixes] if seq.prefix >= 0 else []
        if holders:
            holder = min(holders, key=lambda r: r.outstanding)
            if holder.outstanding <= 2 * least.outstanding + 1:
                return holder
        return least


ROUTERS.register("least_outstanding")(LeastOutstanding)
ROUTERS.register("round_robin")(RoundRobin)
ROUTERS.register("power_of_two")(PowerOfTwo)
ROUTERS.register("kv_aware")(KvAware)
ROUTERS.register("prefix_aware")(PrefixAware)
