"""A training job as one SimPy process: wait for its GPUs, then advance by whole spans of identical steps.

Without failures or checkpoints a job is one span from start to finish; later issues split spans at
checkpoint and failure events. Progress inside an unfinished span (when the simulation stops at its
horizon) is computed from elapsed time, so no step goes unaccounted.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np
import simpy

from simulator.engine.cluster import Cluster, GpuIds


@dataclass
class TrainingJob:
    """The state of one job as the simulation advances; read by the report builder at the end."""

    name: str
    gpus: int
    steps_total: int
    step_s: float
    power_w: float  # wall power per GPU while stepping (chip + server share), before PUE
    submitted_s: float
    started_s: float | None = None
    finished_s: float | None = None
    steps_done: int = 0
    productive_energy_j: float = 0.0  # wall power x time of its productive spans, all its GPUs, before PUE
    gpu_ids: GpuIds = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    _span_start_s: float | None = None

    def run(self, env: simpy.Environment, cluster: Cluster) -> Generator[simpy.Event, object, None]:
        """The SimPy process: submit, allocate, train in spans, release."""
        yield env.timeout(self.submitted_s)
        ids = cast(GpuIds, (yield cluster.request(self.gpus)))
        self.gpu_ids = ids
        self.started_s = env.now
        while self.steps_done < self.steps_total:
            span_steps = self.steps_total - self.steps_done
            self._span_start_s = env.now
            yield env.timeout(span_steps * self.step_s)
            self._span_start_s = None
            self._account(cluster, span_steps)
        self.finished_s = env.now
        cluster.release(ids)

    def settle(self, now: float, cluster: Cluster) -> None:
        """At the end of the simulation, credit the whole steps of a span still in progress."""
        if self._span_start_s is None:
            return
        done = min(math.floor((now - self._span_start_s) / self.step_s), self.steps_total - self.steps_done)
        self._account(cluster, done)
        self._span_start_s = None

    def _account(self, cluster: Cluster, steps: int) -> None:
        self.steps_done += steps
        self.productive_energy_j += steps * self.step_s * self.power_w * self.gpus
        cluster.record_productive(self.gpu_ids, steps * self.step_s, self.power_w)

    @property
    def status(self) -> Literal["completed", "running", "queued"]:
        """queued (never started), running (started, not finished) or completed."""
        if self.finished_s is not None:
            return "completed"
        return "queued" if self.started_s is None else "running"
