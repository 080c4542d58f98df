"""Network link state during a run: failed links lower bundle bandwidth, so every running training job is
re-priced on the degraded network; a job the failures partition stops until a repair reconnects it."""

from __future__ import annotations

from collections.abc import Callable, Generator

import simpy

from simulator.engine.cluster import GpuIds
from simulator.engine.pace import JobWide
from simulator.engine.training import TrainingJob
from simulator.models.reliability import CauseKind
from simulator.models.topology.network import Network, Partitioned

Pricer = Callable[[Network, GpuIds], float]  # step time of a job on a network with its ranks on those GPUs


class LinkState:
    """Which links are down, and the jobs that care."""

    def __init__(self, env: simpy.Environment, network: Network, candidates: list[tuple[object, object]]) -> None:
        self.env = env
        self.network = network
        self.candidates = candidates
        self.failed: list[tuple[object, object]] = []
        self.link_failures = 0
        self._jobs: list[tuple[TrainingJob, Pricer]] = []
        self._healthy_s: dict[tuple[int, bytes], float] = {}  # (job, its GPUs) -> step on the healthy network
        self._blocked: dict[int, simpy.Event] = {}

    def watch(self, job: TrainingJob, pricer: Pricer) -> None:
        """Re-price `job` on its GPUs whenever links fail or come back (raises Partitioned where they cannot
        reach each other)."""
        self._jobs.append((job, pricer))

    def fail(self, edge: tuple[object, object], repair_s: float, cause: str) -> None:
        """Take `edge` down for `repair_s`."""
        self.link_failures += 1
        self.failed.append(edge)
        self.env.process(self._repair(edge, repair_s, cause))
        self._reprice(cause)

    def _repair(self, edge: tuple[object, object], repair_s: float,
                cause: str) -> Generator[simpy.Event, object, None]:
        yield self.env.timeout(repair_s)
        self.failed.remove(edge)
        self._reprice(cause)

    def _reprice(self, cause: str) -> None:
        degraded = self.network.degraded(self.failed)
        for index, (job, pricer) in enumerate(self._jobs):
            if job.finished_s is not None or job.started_s is None:
                continue
            gpus = job.placed_gpus
            key = (index, gpus.tobytes())
            if key not in self._healthy_s:
                self._healthy_s[key] = pricer(self.network, gpus)
            try:  # on the job's own GPUs: the links near them matter, not those near GPUs 0..n-1
                factor = pricer(degraded, gpus) / self._healthy_s[key]
            except Partitioned:
                if index not in self._blocked:
                    self._blocked[index] = self.env.event()
                    job.partition(self._blocked[index], CauseKind.PARTITION.label(cause))
                continue
            blocked = self._blocked.pop(index, None)
            if blocked is not None:
                blocked.succeed()
            job.set_pace(JobWide.NETWORK, factor)
