"""Dollar cost and energy arithmetic: rental GPU-hours plus metered electricity (pure functions).

Rental rates from clouds usually include power; owners amortize hardware into `gpu_hour_usd` and pay for
electricity separately. Issue 7 extends this with ownership, carbon and a fuller power model.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.units import JOULES_PER_KWH, SECONDS_PER_HOUR


@dataclass(frozen=True)
class Prices:
    """What one GPU-hour and one kWh at the meter cost, and the facility overhead on IT power."""

    gpu_hour_usd: float
    electricity_usd_per_kwh: float
    pue: float

    def facility_kwh(self, it_energy_j: float) -> float:
        """Energy at the meter for IT energy `it_energy_j` (cooling and power delivery via PUE)."""
        return it_energy_j * self.pue / JOULES_PER_KWH

    def cost_usd(self, gpu_seconds: float, facility_kwh: float) -> float:
        """Rental of `gpu_seconds` plus the electricity bill for `facility_kwh`."""
        return gpu_seconds / SECONDS_PER_HOUR * self.gpu_hour_usd + facility_kwh * self.electricity_usd_per_kwh
