"""Dollar cost, energy and carbon arithmetic (pure functions): what a GPU-hour costs (rented, or owned and
amortized), what a GPU draws in each state, what the network draws, and the bill for facility energy.

Rental rates from clouds usually include power; owners amortize hardware into the GPU-hour and pay for
electricity separately.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from simulator.models.hardware import Accelerator
from simulator.units import JOULES_PER_KWH, SECONDS_PER_HOUR

HOURS_PER_YEAR = 8766.0  # 365.25 days
# Cottier et al. 2024 (arXiv 2405.21015), repo constants: hardware written off at 32.2 % of its price a year
EPOCH_DEPRECIATION_PER_YEAR = 0.322


class Amortization(StrEnum):
    """How an owner spreads the purchase over time."""

    STRAIGHT_LINE = "straight_line"  # the price over `years` of service
    EPOCH = "epoch"  # 32.2 % of the price per year (Cottier et al. 2024)


def owned_gpu_hour_usd(purchase_usd: float, server_overhead: float, network_fraction: float,
                       amortization: Amortization, years: float) -> float:
    """The hourly capital cost of one GPU: its price times the server overhead (CPUs, memory, chassis per GPU),
    grossed up so that the interconnect is `network_fraction` of the cluster's cost, written off per hour."""
    if not (purchase_usd >= 0 and server_overhead >= 1 and 0 <= network_fraction < 1 and years > 0):
        raise ValueError("purchase >= 0, server_overhead >= 1, 0 <= network_fraction < 1 and years > 0")
    capital = purchase_usd * server_overhead / (1.0 - network_fraction)
    per_year = EPOCH_DEPRECIATION_PER_YEAR if amortization is Amortization.EPOCH else 1.0 / years
    return capital * per_year / HOURS_PER_YEAR


@dataclass(frozen=True)
class PowerModel:
    """Wall power per GPU (its chip and its share of the server, before PUE) in each state it can be in."""

    computing_w: float
    communicating_w: float  # exposed communication of a step: kernels keep part of the chip busy
    idle_w: float  # allocated but waiting, or unallocated
    down_w: float  # on a failed node, under repair

    @classmethod
    def of(cls, acc: Accelerator, communicating_load: float, down_w: float,
           average_w: float | None = None) -> PowerModel:
        """From the accelerator's TDP, idle fraction and server overhead; `average_w` (a measured average wall
        power per GPU) replaces every state but down."""
        if average_w is not None:
            return cls(average_w, average_w, average_w, down_w)
        return cls(acc.power_w(1.0), acc.power_w(communicating_load), acc.power_w(0.0), down_w)

    def step_w(self, compute_s: float, total_s: float) -> float:
        """Average power over a step that computes for `compute_s` of `total_s` and communicates the rest."""
        if total_s <= 0:
            return self.computing_w
        share = min(1.0, compute_s / total_s)
        return share * self.computing_w + (1.0 - share) * self.communicating_w


TRANSCEIVER_GBPS = 400.0  # one optical module per 400 Gb/s of a link end


def network_power_w(switches: int, optical_link_gbps: list[float], switch_w: float, transceiver_w: float) -> float:
    """Switches at `switch_w` each, plus a transceiver per 400 Gb/s (rounded up) at both ends of every optical
    link (`optical_link_gbps`: each link's bandwidth)."""
    modules = sum(2 * math.ceil(gbps / TRANSCEIVER_GBPS - 1e-9) for gbps in optical_link_gbps)
    return switches * switch_w + modules * transceiver_w


@dataclass(frozen=True)
class Prices:
    """What one GPU-hour and one kWh at the meter cost, the facility overhead on IT power, and the grid's
    carbon intensity."""

    gpu_hour_usd: float
    electricity_usd_per_kwh: float | None  # None: not set (energy costs nothing extra)
    pue: float
    carbon_kg_per_kwh: float | None = None  # None: not set

    def facility_kwh(self, it_energy_j: float) -> float:
        """Energy at the meter for IT energy `it_energy_j` (cooling and power delivery via PUE)."""
        return it_energy_j * self.pue / JOULES_PER_KWH

    def cost_usd(self, gpu_seconds: float, facility_kwh: float) -> float:
        """GPU time (rental or amortized ownership) of `gpu_seconds` plus the electricity bill for `facility_kwh`."""
        return gpu_seconds / SECONDS_PER_HOUR * self.gpu_hour_usd + facility_kwh * (self.electricity_usd_per_kwh or 0.0)

    def tco2e(self, facility_kwh: float) -> float | None:
        """Tonnes of CO2-equivalent for `facility_kwh` at the grid's intensity (None where that is not set)."""
        return None if self.carbon_kg_per_kwh is None else facility_kwh * self.carbon_kg_per_kwh / 1000.0
