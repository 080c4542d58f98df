"""The autoscaler of a service's main pool: every interval it reads a load metric (registered by the names
simulator/scenario/policies.py declares) over the replicas taking requests, starts one more replica above the
plan's threshold (serving after a cold start, paid from its start) and switches an idle one off below it."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Generator
from typing import Protocol, get_args

import simpy

from simulator.engine.registry import Registry
from simulator.engine.serving.loads import Pool
from simulator.engine.serving.replica import Replica
from simulator.engine.serving.requests import Seq
from simulator.engine.spans import ReplicaEvent
from simulator.plan.serving import Autoscaler
from simulator.scenario.policies import LoadMetricName


class LoadMetric(ABC):
    """The load the autoscaler compares with its thresholds, read once per `interval_s`."""

    def __init__(self, pool: Pool[Replica], interval_s: float) -> None:
        self.pool = pool
        self.interval_s = interval_s

    @abstractmethod
    def read(self, serving: list[Replica], stranded: int) -> float:
        """The load of the replicas taking requests (`stranded`: requests waiting for any to be up)."""


METRICS: Registry[LoadMetricName, type[LoadMetric]] = Registry("autoscaling metric", get_args(LoadMetricName))
metric = METRICS.register


@metric("outstanding")
class Outstanding(LoadMetric):
    """Requests queued and running per serving replica (stranded ones included)."""

    def read(self, serving: list[Replica], stranded: int) -> float:
        return (sum(r.outstanding for r in serving) + stranded) / max(1, len(serving))


@metric("busy")
class Busy(LoadMetric):
    """The fraction of the last interval the serving replicas spent iterating (an iteration in flight counts
    when it ends); infinite while none serves."""

    def __init__(self, pool: Pool[Replica], interval_s: float) -> None:
        super().__init__(pool, interval_s)
        self.busy_before = [r.busy_s for r in pool]

    def read(self, serving: list[Replica], stranded: int) -> float:
        busy = sum(r.busy_s - self.busy_before[r.number] for r in serving)
        self.busy_before = [r.busy_s for r in self.pool]
        return float(busy) / (self.interval_s * max(1, len(serving))) if serving else math.inf


class Scaled(Protocol):
    """What the autoscaler reads and changes of a deployment (engine/serving/deployment.py)."""

    env: simpy.Environment
    pool: Pool[Replica]
    stranded: deque[Seq]
    unsettled: int
    starting: set[int]
    acquire: Callable[[int], simpy.Event] | None
    give_back: Callable[[int], None] | None
    log: list[ReplicaEvent]

    def repaired(self) -> None:
        """A replica is up: route the waiting requests again."""

    def stop_paying(self, replica: Replica) -> None:
        """Close the replica's provisioned time at now."""


def _switch(deployment: Scaled, replica: Replica, on: bool) -> None:
    """Pay for `replica` from now on, or stop paying and give its GPUs back."""
    if on:
        replica.provisioned_since_s = deployment.env.now
        deployment.log.append(ReplicaEvent("scale_up", replica.number, deployment.env.now, deployment.env.now))
    elif replica.provisioned_since_s is not None:
        deployment.log.append(ReplicaEvent("scale_down", replica.number, deployment.env.now, deployment.env.now))
        deployment.stop_paying(replica)
        replica.down = True
        if deployment.give_back is not None:
            deployment.give_back(replica.number)


def _start(deployment: Scaled, replica: Replica, cold_start_s: float) -> Generator[simpy.Event, object, None]:
    if deployment.acquire is not None:  # wait for the cluster to grant its GPUs (paid from then)
        deployment.starting.add(replica.number)
        yield deployment.acquire(replica.number)
        deployment.starting.discard(replica.number)
        if not deployment.unsettled:
            return  # the service ended as they came: it gave them back and pays for nothing more
    _switch(deployment, replica, True)
    yield deployment.env.timeout(cold_start_s)
    replica.down = False
    deployment.repaired()


def autoscale(deployment: Scaled, scaler: Autoscaler) -> Generator[simpy.Event, object, None]:
    """Watch the load until all work is done, starting and stopping main-pool replicas."""
    env, pool = deployment.env, deployment.pool
    load_metric = METRICS[scaler.metric](pool, scaler.interval_s)
    while deployment.unsettled:
        yield env.timeout(scaler.interval_s)
        if not deployment.unsettled:
            break  # the service ended during the interval: its GPUs are already given back
        serving = [r for r in pool if not r.down]
        provisioned = [r for r in pool if r.provisioned_since_s is not None or r.number in deployment.starting]
        load = load_metric.read(serving, len(deployment.stranded))
        if load > scaler.scale_up_at and len(provisioned) < scaler.max_replicas:
            env.process(_start(deployment, next(r for r in pool if r.provisioned_since_s is None
                                                and r.number not in deployment.starting), scaler.cold_start_s))
        elif load < scaler.scale_down_at and len(provisioned) > scaler.min_replicas:
            idle = [r for r in serving if r.outstanding == 0]
            if idle:
                _switch(deployment, idle[-1], False)
