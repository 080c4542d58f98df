"""What a run keeps beyond its JSON report, for the exported files and the trace (report/export.py, trace.py):
every request of every service, each replica's busy stretches, and every phase, failure, wait and autoscaler
switch of the workloads. `simulate()` attaches it to the report it returns (`Report.records`); it is not part
of the report's JSON (a million requests would bloat it) and a report read back from JSON has none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# where a request ended, as RequestCounts counts them (arrived = completed + failed + queued + in flight)
OUTCOMES = ("completed", "failed", "queued_at_end", "in_flight_at_end", "not_arrived")


@dataclass(frozen=True)
class ServiceRecords:
    """One inference workload's requests (arrays indexed by request, in arrival order) and replicas (indexed by
    replica number: the main pool's first, then the decode pool's)."""

    workload: str
    arrival_s: np.ndarray
    first_token_s: np.ndarray  # NaN: none yet
    finish_s: np.ndarray  # NaN: not completed
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    replica: np.ndarray  # where it was last routed: the replica that finished a completed one (-1: none)
    retries: np.ndarray  # restarts on another replica after a failure
    preemptions: np.ndarray  # times it lost its KV blocks to make room
    outcome: np.ndarray  # index into OUTCOMES
    pools: tuple[str, ...]  # per replica: "main", or "prefill" / "decode" with a decode pool
    replica_gpus: tuple[int, ...]
    busy: tuple[tuple[np.ndarray, np.ndarray], ...]  # per replica: starts and ends of its busy stretches, s


class Activity(NamedTuple):
    """Something a workload did or met: a training job's step span ("steps"), checkpoint stall, failure (until
    it computes again), detection, wait for a repair, restart, wait for GPUs after a preemption or a requeue; a
    service replica's failure (until repaired) or autoscaler switch ("scale_up", "scale_down": instants)."""

    workload: str
    kind: str
    replica: int  # the service replica (-1: a training job)
    start_s: float
    duration_s: float
    gpus: int  # GPUs it concerns: the job's, or the replica's
    cause: str  # a failure's cause (empty otherwise)


@dataclass(frozen=True)
class RunRecords:
    """Everything `simulate()` keeps for the exports and the trace, deterministic for a scenario and seed."""

    services: tuple[ServiceRecords, ...]
    activities: tuple[Activity, ...]  # by workload in scenario order, then in time order
