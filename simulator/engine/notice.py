"""How a training job meets a spot reclaim (simulator/engine/reclaims.py): warned that one of its nodes goes in
so many seconds, it saves its progress at once when a checkpoint written now is durable before the node goes;
when the node goes it stops as at a failure, and every stop books the steps it rolls back under its cause."""

from __future__ import annotations

from typing import Protocol

import simpy

from simulator.engine.cluster import Cluster
from simulator.engine.effects import Repaced
from simulator.engine.job_nodes import JobNodes
from simulator.engine.phases import Phase
from simulator.plan.training import RecoveryPlan


class _Job(Protocol):
    """What the mixin reads and changes of a training job."""

    recovery: RecoveryPlan
    steps_done: int
    step_s: float
    notices_acted: int
    rolled_back_s: dict[str, float]
    _nodes: JobNodes
    _phase: Phase
    _process: simpy.Process | None
    _save_now: bool
    _durable: int

    def _halt(self, env: simpy.Environment, cluster: Cluster) -> None: ...

    def _roll_back(self) -> None: ...


class ReclaimAware:
    """Mixed into the training job: its answer to a reclaim notice, and its bookkeeping of a stop."""

    notices_acted: int = 0  # reclaim notices it saved a checkpoint on
    _save_now: bool = False  # a checkpoint is owed at once: the next span saves before it computes

    def notice(self: _Job, node: int, seconds: float) -> bool:
        """`node` goes in `seconds`: if the job computes on it and a checkpoint started now is durable by then
        (its write time fits in the notice), cut the span at its whole steps and save them; whether it did."""
        if (node not in self._nodes or self._phase is not Phase.COMPUTING or not self.recovery.interval_steps
                or self.recovery.write_s > seconds or self._save_now or self._process is None):
            return False
        self._save_now = True
        self.notices_acted += 1
        self._process.interrupt(Repaced())  # cut at whole steps; the next span starts with the checkpoint
        return True

    def _interrupted(self: _Job, env: simpy.Environment, cluster: Cluster, cause: str) -> None:
        """Account for the interrupted phase and roll back to the last durable checkpoint, booking the time of
        the steps rolled back under `cause`."""
        self._halt(env, cluster)
        rolled = (self.steps_done - self._durable) * self.step_s
        self.rolled_back_s[cause] = self.rolled_back_s.get(cause, 0.0) + rolled
        self._roll_back()
        self._save_now = False  # a save owed for a node that went first is moot: recovery restores the last one
        self._phase = Phase.RECOVERING
