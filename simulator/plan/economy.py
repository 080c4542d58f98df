"""The economics of a run: the price of a GPU-hour and of energy, the power model, the network's draw, and
how GPU time splits into useful work, checkpoints, failures and idle time in the report."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from simulator.models.cost import PowerModel, Prices
from simulator.plan.resolve import gpu_hour_rate, network_power, power_model, prices
from simulator.report.model import CostBreakdown
from simulator.scenario.schema import ClusterSpec, PricingSpec, Scenario
from simulator.units import SECONDS_PER_HOUR


@dataclass(frozen=True)
class Economy:
    """What a run's GPU time and energy cost, what its GPUs and network draw, and where the price comes from."""

    prices: Prices
    power: PowerModel
    price_source: str
    network_w: float


def economy_of(scenario: Scenario) -> Economy:
    """The run's prices, power model and network power."""
    return _economy(scenario.pricing, scenario.cluster)


@functools.lru_cache(maxsize=64)
def _economy(pricing: PricingSpec, cluster: ClusterSpec) -> Economy:
    """Cached: pure in the immutable specs, and the network's power needs its graph."""
    acc = cluster.accelerator
    return Economy(prices(pricing, acc), power_model(pricing, acc), gpu_hour_rate(pricing, acc)[1],
                   network_power(cluster, pricing))


def breakdown(economy: Economy, paid_gpu_s: float, useful_gpu_s: float, checkpoint_gpu_s: float,
              failure_gpu_s: float, facility_kwh: float) -> CostBreakdown:
    """Split the GPU time paid for into useful work, checkpoint stalls, failure losses and the rest (idle)."""
    rate = economy.prices.gpu_hour_usd / SECONDS_PER_HOUR
    idle = max(0.0, paid_gpu_s - useful_gpu_s - checkpoint_gpu_s - failure_gpu_s)
    return CostBreakdown(useful_usd=useful_gpu_s * rate, checkpoint_usd=checkpoint_gpu_s * rate,
                         failure_usd=failure_gpu_s * rate, idle_usd=idle * rate,
                         energy_usd=economy.prices.cost_usd(0.0, facility_kwh))
