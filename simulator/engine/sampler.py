"""A bounded time series of a run's state for the HTML report: one SimPy process reads a set of probes every
interval; when the buffer holds MAX_POINTS samples it keeps every other one and doubles the interval, so a
run of any length costs at most a few thousand events and never more than MAX_POINTS samples."""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from enum import Enum

import simpy

MAX_POINTS = 512
FIRST_INTERVAL_S = 1.0
MAX_MARKS = 1_000  # failure (or checkpoint) markers kept per workload; counts stay exact beyond it


class GaugeKind(Enum):
    """What a probe reads."""

    ALLOCATED_GPUS = "allocated GPUs"
    BUSY_GPUS = "busy GPUs"
    DOWN_GPUS = "down GPUs"
    WAITING_WORKLOADS = "workloads waiting for GPUs"
    FRAGMENTATION = "free GPUs stranded on partly used nodes"
    BATCH_RUNNING = "batch jobs running"
    TENANT_GPUS = "GPUs a tenant holds"
    PROGRESS = "a workload's progress"
    QUEUED = "a service's queued requests"
    RUNNING = "a service's running requests"
    SERVICE_BUSY_GPUS = "a service's GPUs iterating"
    REPLICAS_UP = "a service's replicas taking requests"
    KV_USE = "a service's KV-cache blocks held / capacity of its replicas up"
    BUSY_REPLICA_S = "a service's replica-seconds iterating so far (cumulative)"
    PROVISIONED_REPLICA_S = "a service's replica-seconds provisioned so far (cumulative)"
    IT_POWER = "GPUs with their servers and the network, W before PUE"


@dataclass(frozen=True)
class Gauge:
    """One probe's key: what it reads and of whom (a workload or tenant name; empty for the cluster)."""

    kind: GaugeKind
    subject: str = ""


Probes = Mapping[Gauge, Callable[[], float]]


@dataclass
class Samples:
    """Sample times and one value series per probe, same length."""

    time_s: list[float] = field(default_factory=list)
    values: dict[Gauge, list[float]] = field(default_factory=dict)

    def record(self, now: float, probes: Probes) -> None:
        """Append one sample of every probe at `now` (a run's probes are the same at every sample, so the series
        are matched to them by position, not looked up by key)."""
        if not self.time_s:
            self.values = {gauge: [] for gauge in probes}
        assert len(self.values) == len(probes)
        self.time_s.append(now)
        for series, probe in zip(self.values.values(), probes.values(), strict=True):
            series.append(float(probe()))

    def thin(self) -> None:
        """Keep every other sample (the first included)."""
        self.time_s = self.time_s[::2]
        for series in self.values.values():
            del series[1::2]


@dataclass
class Marks:
    """Timeline markers of one kind, at most MAX_MARKS: past that, every other one is dropped and only every
    `stride`-th new one is kept, so they stay spread over the whole run."""

    kept: list[tuple[float, str]] = field(default_factory=list)  # (time, cause)
    seen: int = 0
    stride: int = 1

    def add(self, time_s: float, cause: str) -> None:
        """Note one event (kept or not)."""
        if self.seen % self.stride == 0:
            self.kept.append((time_s, cause))
            if len(self.kept) >= MAX_MARKS:
                self.kept = self.kept[::2]
                self.stride *= 2
        self.seen += 1


def sampler(env: simpy.Environment, probes: Probes,
            samples: Samples) -> Generator[simpy.Event, object, None]:
    """Sample for ever; the caller stops the environment and records the final state itself."""
    interval = FIRST_INTERVAL_S
    while True:
        samples.record(env.now, probes)
        if len(samples.time_s) >= MAX_POINTS:
            samples.thin()
            interval *= 2.0
        yield env.timeout(interval)
