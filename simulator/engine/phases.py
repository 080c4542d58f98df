"""What a training job is doing (its phase), and the time it loses to each kind of overhead: an interrupted phase
books its time to its own loss."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Phase(Enum):
    """What the job is doing; the time of an interrupted phase is booked to its loss (Losses.book)."""

    QUEUED = "queued"  # waiting for GPUs
    COMPUTING = "computing"
    CHECKPOINTING = "checkpointing"
    DETECTING = "detecting"  # a failure, not yet noticed
    WAITING = "waiting"  # for a repair, a reconnection or the checkpoint store
    RESTARTING = "restarting"  # restart and restore, or a spare swapped in
    RECOVERING = "recovering"  # just interrupted: about to recover, or to continue at a new pace
    DONE = "done"


@dataclass
class Losses:
    """Seconds (wall clock of the whole job) lost to each kind of overhead."""

    redone_s: float = 0.0  # computed steps thrown away by failures
    detection_s: float = 0.0
    waiting_s: float = 0.0  # for a repair when no spare was left
    restart_s: float = 0.0
    restore_s: float = 0.0
    checkpoint_s: float = 0.0  # checkpoint stalls
    slowdown_s: float = 0.0  # extra step time while a straggler slowed the job

    def book(self, phase: Phase, seconds: float) -> None:
        """Add `seconds` spent in `phase` to its loss (computing and queueing lose nothing here)."""
        match phase:
            case Phase.CHECKPOINTING:
                self.checkpoint_s += seconds
            case Phase.DETECTING:
                self.detection_s += seconds
            case Phase.WAITING:
                self.waiting_s += seconds
            case Phase.RESTARTING:
                self.restart_s += seconds
            case _:
                pass
