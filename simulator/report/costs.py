"""How paid GPU time splits into useful work, checkpoint stalls, failure losses and idle time, in dollars: one
rule for training jobs, batch jobs and serving replicas, so their parts always sum to what they paid."""

from __future__ import annotations

from dataclasses import replace

from simulator.plan.economy import Economy
from simulator.report.model import CostBreakdown
from simulator.units import SECONDS_PER_HOUR


def breakdown(economy: Economy, paid_gpu_s: float, useful_gpu_s: float, checkpoint_gpu_s: float,
              failure_gpu_s: float, facility_kwh: float) -> CostBreakdown:
    """Split the GPU time paid for into useful work, checkpoint stalls, failure losses and the rest (idle)."""
    rate = economy.prices.gpu_hour_usd / SECONDS_PER_HOUR
    idle = max(0.0, paid_gpu_s - useful_gpu_s - checkpoint_gpu_s - failure_gpu_s)
    return CostBreakdown(useful_usd=useful_gpu_s * rate, checkpoint_usd=checkpoint_gpu_s * rate,
                         failure_usd=failure_gpu_s * rate, idle_usd=idle * rate,
                         energy_usd=economy.prices.cost_usd(0.0, facility_kwh))


def paid_at(economy: Economy, fraction: float) -> Economy:
    """`economy` with its GPU-hour price times `fraction`: the rate over all GPU time held when only that fraction
    of it was paid for (spot capacity taken back), so that a breakdown of all of it sums to what was paid."""
    return replace(economy, prices=replace(economy.prices, gpu_hour_usd=economy.prices.gpu_hour_usd * fraction))
