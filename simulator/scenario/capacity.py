"""The schema of spot capacity (`cluster.pools[].spot`): the cloud may take a pool's nodes back at any time,
after a short notice, and gives them back some time later (docs/fleets.md). Every default is a published
figure or our arithmetic on one; the sources are the constants' comments and /work/research/spot.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.base import Strict
from simulator.units import SECONDS_PER_HOUR, Duration, NonNegativeDuration

SpotProvider = Literal["aws", "gcp", "azure"]

# The warning a reclaimed instance gets before it stops, s:
# aws: EC2 User Guide, "Spot Instance interruption notices": two minutes, best effort;
# gcp: Compute Engine API, Scheduling.skipGuestOsShutdown: 30 s between ACPI soft-off and hard-off for Spot VMs;
# azure: Azure docs, "Scheduled Events for Linux VMs", minimum notice of a Preempt event: 30 s.
NOTICE_S: dict[str, float] = {"aws": 120.0, "gcp": 30.0, "azure": 30.0}

# Reclaims per node-hour while it runs: Can't Be Late (Wu et al., NSDI 2024), traces github.com/skypilot-org/
# spot-traces preemption/4-node/aws-08-03-2023 (4 x p3.2xlarge per zone, 13 days): 0.46, 0.060 and 0.24 instance
# losses per instance-hour up in its three zones (our count, research/spot.yaml); the default is the median zone.
DEFAULT_RECLAIMS_PER_NODE_HOUR = 0.24

# Mean time a reclaimed node stays away: the same paper's 1-node traces (p3.2xlarge, 4 zones, 7 days) give mean
# up-runs of 1.36, 1.75, 3.13 and 2.24 h at up-fractions 0.31, 0.59, 0.79 and 0.73, so mean gaps of
# lifetime x (1 - up) / up = 3.0, 1.2, 0.83 and 0.83 h (derived); the default is their median, about 1 h.
DEFAULT_AWAY_S = 1.0 * SECONDS_PER_HOUR


def reclaim_cause(pool: str) -> str:
    """The failure cause a reclaim of pool `pool` is booked under (jobs' interruptions and rolled-back steps)."""
    return f"spot reclaim (pool {pool})"


class SpotSpec(Strict):
    """Spot capacity: nodes the cloud takes back after a notice, and gives back later.

    Reclaim events arrive as a Poisson process, each takes `burst_nodes` nodes of the pool (those running at the
    time; nodes already away are skipped), whose holders get `notice` seconds of warning; each node comes back
    after an exponential time of mean `away`."""

    provider: SpotProvider = Field(
        "aws", description="whose spot market: aws, gcp or azure (sets the default notice: 120 s, 30 s, 30 s, "
        "from each cloud's documentation)",
    )
    notice_s: NonNegativeDuration | None = Field(
        None, alias="notice", le=3600, description="warning before a reclaimed node stops, s (null: the "
        "provider's: AWS 120 s, GCP 30 s, Azure 30 s)",
    )
    reclaims_per_node_hour: float = Field(
        DEFAULT_RECLAIMS_PER_NODE_HOUR, ge=0, le=100, description="reclaims per node-hour of running capacity "
        "(default 0.24, the median zone of Can't Be Late's 4-node AWS p3 trace; its zones span 0.06-0.46, and "
        "1-node traces 0.31-0.74: V100s in 2023, no GPU figure for H100 or A100 was found)",
    )
    burst_nodes: int = Field(
        1, ge=1, le=131_072, description="nodes one reclaim event takes at once (1: independent reclaims; an "
        "assumption: co-interruptions are reported, their sizes were not found)",
    )
    away_s: Duration = Field(
        DEFAULT_AWAY_S, alias="away", gt=0, description="mean time a reclaimed node stays away before it can be "
        "had again, exponential, s (default 1 h: the median mean gap between Can't Be Late's 1-node AWS runs, "
        "0.83-3.0 h by zone, derived)",
    )

    @property
    def notice(self) -> float:
        """The warning a holder gets before its node is taken, s."""
        return NOTICE_S[self.provider] if self.notice_s is None else self.notice_s
