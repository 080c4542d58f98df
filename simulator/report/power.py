"""The site power section of the run report (present where the scenario has `cluster.site_power`): the budget and
its policy, the caps chosen, the site's draw at full load, the facility power the run drew, and the waits for
power (docs/fleets.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.report.output import Output


class SitePowerReport(Output):
    """Facility power of the run against the site's budget (W at the meter: IT power x PUE)."""

    budget_w: float | None = Field(description="cluster.site_power.budget, W (null: none, power only reported)")
    policy: Literal["cap", "queue"] = Field(description="how the budget is kept: caps set before the run, or "
                                            "allocations queued until the committed draw fits")
    cap_fraction: float | None = Field(description="policy cap: the power cap chosen, as a fraction of every GPU's "
                                       "TDP (1: the site fits uncapped; null: policy queue or no budget)")
    caps_w: dict[str, float | None] = Field(description="each pool's chip power cap as the run had it, W (null: "
                                            "uncapped)")
    uncapped_full_load_w: float = Field(description="facility power of the site with every GPU at full load "
                                        "without the policy's caps (users' caps kept), W")
    full_load_w: float = Field(description="facility power of the site with every GPU at full load as it ran "
                               "(under the caps chosen), W")
    peak_facility_w: float = Field(description="highest facility power among the samples of the power series, W")
    mean_facility_w: float = Field(description="cluster energy_kwh over the simulated span, as a mean power, W")
    power_waits: int = Field(description="policy queue: allocations that waited for power (0 otherwise)")
    mean_power_wait_s: float = Field(description="policy queue: their mean wait from the first refusal for power "
                                     "until they started (or the end), s (0 with none)")
    max_power_wait_s: float = Field(description="policy queue: the longest such wait, s (0 with none)")
