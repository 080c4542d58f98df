"""Power caps, pure: the SM clock a chip sustains under a power cap (DVFS with a voltage floor), and the highest cap,
as one fraction of every pool's TDP, at which a whole site at full load fits a facility power budget
(docs/fleets.md).

Clock model. Under full compute load a chip draws a static part `P_s` (leakage, HBM, I/O: its idle power) plus a
dynamic part `C V^2 f`. Over the upper DVFS range the core voltage rises linearly with the clock; below a floor
clock it cannot drop further (the transistors' threshold sets a minimum voltage), so there power falls only
linearly with the clock. With x = f / f_max and v = V / V_max:

    v(x) = v_floor                                          for x <= x_floor
    v(x) = v_floor + (1 - v_floor) (x - x_floor) / (1 - x_floor)   above
    P(x) = P_s + (P_full - P_s) x v(x)^2

`P_full` is what the chip draws at its top clock under full load, which can be below its TDP (an H100 running
ViT-L drew 647 W under its 700 W limit: Ujeniya et al. 2026): a cap at or above it does not bind. The clock under
a cap is the x with P(x) = cap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

_BISECTIONS = 60  # halvings of [0, 1]: well below 1e-15 of the clock, deterministic


@dataclass(frozen=True)
class Dvfs:
    """A chip's voltage-frequency curve and full-load draw, the inputs of `clock_fraction_at_cap`."""

    tdp_w: float
    static_w: float  # drawn whatever the clock (idle power)
    full_load_w: float  # drawn at the top clock under full compute load (at most the TDP)
    voltage_floor: float  # V_min / V_max
    floor_clock: float  # clock fraction below which the voltage stays at its floor

    def voltage(self, clock: float) -> float:
        """Core voltage at clock fraction `clock`, as a fraction of the voltage at the top clock."""
        if clock <= self.floor_clock:
            return self.voltage_floor
        return self.voltage_floor + (1.0 - self.voltage_floor) * (clock - self.floor_clock) / (1.0 - self.floor_clock)

    def dynamic_fraction(self, clock: float) -> float:
        """Dynamic power at clock fraction `clock` over that at the top clock: x v(x)^2, rising from 0 to 1."""
        return clock * self.voltage(clock) ** 2

    def power_w(self, clock: float) -> float:
        """Full-load draw at clock fraction `clock`."""
        return self.static_w + (self.full_load_w - self.static_w) * self.dynamic_fraction(clock)

    def clock_at_cap(self, cap_w: float) -> float:
        """The highest clock fraction whose full-load draw stays within `cap_w` (1 where the cap does not bind;
        0 at or below the static power)."""
        if cap_w >= self.full_load_w:
            return 1.0
        return highest(lambda clock: self.power_w(clock) <= cap_w)


def clock_fraction_at_cap(cap_w: float, dvfs: Dvfs) -> float:
    """Fraction of its top SM clock a chip sustains under full compute load when held to `cap_w`."""
    return dvfs.clock_at_cap(cap_w)


def highest(fits: Callable[[float], bool]) -> float:
    """The largest x in [0, 1] with `fits(x)`, for `fits` true up to some point and false beyond (bisection); 1 if it
    fits at 1, 0 if it fits nowhere above 0."""
    if fits(1.0):
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


@dataclass(frozen=True)
class PoolDraw:
    """One pool as the site budget sees it: GPUs, their TDP, the caps they may take, and the server share."""

    gpus: int
    tdp_w: float
    lowest_cap_w: float  # the lowest limit the driver accepts (or just above the static power)
    highest_cap_w: float  # the TDP, or the user's own cap where lower
    server_overhead: float  # node wall power per chip / chip power

    def cap_w(self, fraction: float) -> float:
        """The chip cap at `fraction` of the TDP, kept within what the pool may take."""
        return min(self.highest_cap_w, max(self.lowest_cap_w, fraction * self.tdp_w))

    def wall_w(self, fraction: float) -> float:
        """The pool's wall power at full load with every chip at `cap_w(fraction)`."""
        return self.gpus * self.cap_w(fraction) * self.server_overhead


@dataclass(frozen=True)
class SiteCap:
    """The site's answer: the fraction of TDP every GPU is held to (1: no cap needed), each pool's chip cap, and the
    facility power at full load under them."""

    fraction: float
    caps_w: tuple[float, ...]
    facility_w: float


def facility_w(pools: Sequence[PoolDraw], fraction: float, network_w: float, pue: float) -> float:
    """Facility power of the site at full load with every GPU at `fraction` of its TDP (within its bounds)."""
    return (sum(pool.wall_w(fraction) for pool in pools) + network_w) * pue


def site_cap(pools: Sequence[PoolDraw], network_w: float, pue: float, budget_w: float) -> SiteCap | None:
    """The highest cap, the same fraction of its own TDP for every GPU (a lower user cap stays), at which the site at
    full load fits `budget_w`; None where even the lowest settable caps do not."""
    if facility_w(pools, 0.0, network_w, pue) > budget_w:
        return None
    fraction = highest(lambda f: facility_w(pools, f, network_w, pue) <= budget_w)
    return SiteCap(fraction, tuple(pool.cap_w(fraction) for pool in pools),
                   facility_w(pools, fraction, network_w, pue))
