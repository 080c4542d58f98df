"""The report of each spot pool: its reclaims, the notices acted on, the capacity away and the training work the
reclaims rolled back."""

from __future__ import annotations

from simulator.engine.reclaims import Reclaims
from simulator.engine.training import TrainingJob
from simulator.report.model import SpotReport
from simulator.units import SECONDS_PER_HOUR


def spot_reports(reclaims: list[Reclaims], jobs: list[TrainingJob], now: float,
                 gpus_per_node: int) -> dict[str, SpotReport]:
    """Per spot pool, by name, at simulated time `now`."""
    return {r.pool: SpotReport(
        nodes=r.nodes,
        notice_s=r.spec.notice,
        reclaims=r.events,
        nodes_reclaimed=r.nodes_taken,
        notices_acted=r.notices_acted,
        reclaimed_gpu_hours=r.away_node_seconds(now) * gpus_per_node / SECONDS_PER_HOUR,
        lost_gpu_hours=sum(job.rolled_back_s.get(r.cause, 0.0) * job.gpus for job in jobs) / SECONDS_PER_HOUR,
    ) for r in reclaims}
