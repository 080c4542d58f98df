"""What the engine remembers of a run's course for the exported files and the trace (simulator/report/export.py,
trace.py): a training job's phases as spans, a replica's stretches of back-to-back iterations, and a service's
replica outages and autoscaler switches. Each is noted when a phase or stretch ends, never per step or per
iteration."""

from __future__ import annotations

import math
from array import array
from typing import NamedTuple

from simulator.engine.phases import Phase

# the phases a training job's timeline keeps, by the name the exports give them (queueing is a "preemption" or
# a "requeue" span, noted when the GPUs come back; "recovering" lasts no time)
PHASE_KINDS = {Phase.COMPUTING: "steps", Phase.CHECKPOINTING: "checkpoint", Phase.DETECTING: "detection",
               Phase.WAITING: "waiting", Phase.RESTARTING: "restart"}


class Span(NamedTuple):
    """Something a workload did or met from `start_s` to `end_s` (equal for an instant), with its cause."""

    kind: str
    start_s: float
    end_s: float
    cause: str = ""


def note_phase(timeline: list[Span], phase: Phase, start_s: float, now: float) -> None:
    """Note `phase`, under way since `start_s`, as ended at `now` (phases the timeline does not keep are not)."""
    kind = PHASE_KINDS.get(phase)
    if kind is not None:
        timeline.append(Span(kind, start_s, now))


class ReplicaEvent(NamedTuple):
    """A replica's outage (`kind` "failure", until its repair: `end_s` NaN while unrepaired) or an autoscaler
    switch ("scale_up": paid from then, "scale_down": switched off), at `start_s`."""

    kind: str
    replica: int
    start_s: float
    end_s: float = math.nan


class BusySpans:
    """A replica's stretches of back-to-back iterations, in typed arrays (compact, nothing for the garbage
    collector to walk): a stretch opens when an idle replica starts an iteration and closes when it goes idle,
    fails or the run ends."""

    __slots__ = ("end_s", "since_s", "start_s")

    def __init__(self) -> None:
        self.since_s = -1.0  # start of the stretch under way (-1: idle)
        self.start_s = array("d")
        self.end_s = array("d")

    def open(self, now: float) -> None:
        """The replica may start iterating now (a stretch under way goes on)."""
        if self.since_s < 0.0:
            self.since_s = now

    def close(self, now: float) -> None:
        """The replica stops iterating now: the stretch under way is kept if it lasted."""
        if self.since_s >= 0.0:
            if now > self.since_s:
                self.start_s.append(self.since_s)
                self.end_s.append(now)
            self.since_s = -1.0
