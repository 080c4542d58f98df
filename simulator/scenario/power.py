"""The schema of `cluster.site_power`: the facility's power budget and how the scheduler keeps to it
(docs/fleets.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.base import Strict
from simulator.units import Power

SitePolicy = Literal["cap", "queue"]


class SitePowerSpec(Strict):
    """A site's power budget at the meter (GPUs with their servers, and the network, times PUE), and the policy
    that keeps the cluster within it; without a budget, the run only reports its power over time."""

    budget_w: Power | None = Field(
        None, alias="budget", gt=0, le=1e10,
        description="facility power the site may draw, W (e.g. '50 MW'): (GPU wall power with server share + "
        "network) x pricing.pue; null: no budget, power is only reported",
    )
    policy: SitePolicy = Field(
        "cap", description="cap: before the run every GPU is held to the highest power cap, the same fraction of "
        "its TDP in every pool, at which the whole site at full load fits the budget (a lower power_cap stays); "
        "queue: no caps, the scheduler starts an allocation only while the site's committed draw (allocations at "
        "full load, the rest idle, the network) stays within the budget, and the rest wait",
    )
