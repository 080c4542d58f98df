"""Spot reclaims: one SimPy process per spot pool takes the pool's nodes back as the cloud would. Reclaim events
arrive as a Poisson process at `reclaims_per_node_hour x nodes / burst_nodes` per hour (one timeout per event,
not per node); each picks `burst_nodes` of the pool's nodes at random and takes those that are running (thinning:
a node that is away or down is skipped, so each running node is reclaimed at `reclaims_per_node_hour`). Their
holders are warned `notice` seconds ahead (Cluster.notify), then the nodes go down like failed ones
(Cluster.fail_node, cause "spot reclaim (pool NAME)") for an exponential time of mean `away_s`."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import simpy

from simulator.engine.cluster import Cluster
from simulator.scenario.capacity import SpotSpec, reclaim_cause
from simulator.units import SECONDS_PER_HOUR


@dataclass
class Reclaims:
    """One spot pool's reclaims so far: the pool's nodes are first_node .. first_node + nodes - 1."""

    pool: str
    first_node: int
    nodes: int
    spec: SpotSpec
    events: int = 0  # reclaim events that took at least one node (when the notice ended)
    nodes_taken: int = 0  # node reclaims (an event of a burst takes several)
    notices_acted: int = 0  # holders that prepared on a notice (a training job's checkpoint)
    away_node_s: float = 0.0  # node-seconds away, each absence counted whole (away_node_seconds clips it to now)
    _away: dict[int, tuple[float, float]] = field(default_factory=dict)  # node -> (taken at, back at), latest

    @property
    def cause(self) -> str:
        """The cause its node losses carry."""
        return reclaim_cause(self.pool)

    def away_node_seconds(self, now: float) -> float:
        """Node-seconds the pool's reclaimed nodes have been away by `now` (absences still under way: up to now)."""
        ongoing = sum(max(0.0, back - now) for _, back in self._away.values())
        return self.away_node_s - ongoing

    def run(self, env: simpy.Environment, cluster: Cluster,
            rng: np.random.Generator) -> Generator[simpy.Event, object, None]:
        """Reclaim for ever: wait for the next event, warn the holders of its running nodes, take them later."""
        rate_per_s = self.spec.reclaims_per_node_hour * self.nodes / self.spec.burst_nodes / SECONDS_PER_HOUR
        if rate_per_s <= 0:
            return
        warned: set[int] = set()  # nodes under notice now (another event may not pick them again)
        while True:
            yield env.timeout(float(rng.exponential(1.0 / rate_per_s)))
            picks = self.first_node + rng.choice(self.nodes, size=min(self.spec.burst_nodes, self.nodes),
                                                 replace=False)
            taken = [int(n) for n in np.sort(picks) if cluster.up[n] and int(n) not in warned]
            if not taken:
                continue
            away = [float(rng.exponential(self.spec.away_s)) for _ in taken]
            warned.update(taken)
            env.process(self._take(env, cluster, taken, away, warned))

    def _take(self, env: simpy.Environment, cluster: Cluster, taken: list[int], away: list[float],
              warned: set[int]) -> Generator[simpy.Event, object, None]:
        """Warn the holders of `taken`, wait the notice, and take the nodes still up away."""
        notice = self.spec.notice
        self.notices_acted += sum(cluster.notify(node, notice) for node in taken)
        yield env.timeout(notice)
        self.events += any(cluster.up[node] for node in taken)
        for node, away_s in zip(taken, away, strict=True):
            warned.discard(node)
            if cluster.up[node]:  # a failure in the notice took it first: it is already down
                self.nodes_taken += 1
                self.away_node_s += away_s
                self._away[node] = (env.now, env.now + away_s)
                cluster.fail_node(node, away_s, self.cause, paid=False)
