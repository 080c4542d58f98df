"""The economics of a run: the price of a GPU-hour (given, rented from the catalog, or owned and written off),
of energy and carbon, the power model of a GPU, and the network's draw."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from simulator.models.cost import PowerModel, Prices, owned_gpu_hour_usd
from simulator.models.hardware import Accelerator, PriceKind
from simulator.plan.network import MissingFigure, network_power
from simulator.scenario.pools import PoolSpec
from simulator.scenario.schema import ClusterSpec, PricingSpec, Scenario
from simulator.scenario.yaml_lines import Path


@dataclass(frozen=True)
class Economy:
    """What a run's GPU time and energy cost, what its GPUs and network draw, and where the price comes from."""

    prices: Prices
    power: PowerModel
    price_source: str
    network_w: float


def economy_of(scenario: Scenario) -> Economy:
    """The run's prices, power model and network power."""
    return economy_of_specs(scenario.pricing, scenario.cluster)


@functools.lru_cache(maxsize=64)
def economy_of_specs(pricing: PricingSpec, cluster: ClusterSpec) -> Economy:
    """The economy of `cluster` (its first pool's accelerator) under `pricing`; cached: pure in the immutable
    specs, and the network's power needs its graph."""
    acc = cluster.accelerator
    return Economy(prices(pricing, acc), power_model(pricing, acc), gpu_hour_rate(pricing, acc)[1],
                   network_power(cluster, pricing))


def pool_gpu_hour_rate(pricing: PricingSpec, pool: PoolSpec, where: Path = ()) -> tuple[float, str]:
    """(USD per GPU-hour, where it comes from) of a pool: its own price or rental kind, else the scenario's
    pricing for its accelerator (`where`: the pool's data path, for a missing rental price)."""
    if pool.gpu_hour_usd is not None:
        return pool.gpu_hour_usd, f"cluster.pools.{pool.name}.gpu_hour_usd"
    if pool.rental is not None:
        return rental_rate(pool.rental, pool.accelerator, (*where, "rental"))
    return gpu_hour_rate(pricing, pool.accelerator)


def rental_rate(kind: str, acc: Accelerator, where: Path) -> tuple[float, str]:
    """The catalog's latest dated rental price of `kind` for `acc`; MissingFigure (at `where`) without one."""
    price = acc.latest_price(PriceKind(kind))
    if price is None:
        kinds = sorted({p.kind.value for p in acc.prices if p.kind is not PriceKind.PURCHASE})
        raise MissingFigure(where, (
            f"the catalog has no {kind} price for {acc.name} (it has: {', '.join(kinds) or 'none'}); "
            f"give gpu_hour_usd"
        ))
    return price.usd, f"{price.offer}, {price.kind.value}, {price.date} ({price.source})"


def gpu_hour_rate(pricing: PricingSpec, acc: Accelerator) -> tuple[float, str]:
    """(USD per GPU-hour, where it comes from): as given, the catalog's latest rental price of a kind, or the
    amortized ownership cost; MissingFigure when the catalog has no such price."""
    if pricing.gpu_hour_usd is not None:
        return pricing.gpu_hour_usd, "pricing.gpu_hour_usd"
    if pricing.rental is not None:
        return rental_rate(pricing.rental, acc, ("pricing", "rental"))
    own = pricing.ownership
    assert own is not None  # the schema requires one of the three
    purchase = own.purchase_usd
    source = "pricing.ownership.purchase_usd"
    if purchase is None:
        price = acc.latest_price(PriceKind.PURCHASE)
        if price is None:
            raise MissingFigure(("pricing", "ownership"), (
                f"the catalog has no purchase price for {acc.name}; give ownership.purchase_usd"
            ))
        purchase, source = price.usd, f"{price.offer}, {price.date} ({price.source})"
    rate = owned_gpu_hour_usd(purchase, own.server_overhead, own.network_fraction, own.amortization, own.years)
    life = "32.2 %/yr" if own.amortization.value == "epoch" else f"{own.years:g} years"
    return rate, (f"owned: ${purchase:,.0f} per GPU ({source}) x {own.server_overhead:g} server / "
                  f"(1 - {own.network_fraction:g} network), written off at {life}")


def prices(pricing: PricingSpec, acc: Accelerator) -> Prices:
    """The price of a GPU-hour and of energy, and the grid's carbon intensity."""
    return Prices(gpu_hour_rate(pricing, acc)[0], pricing.electricity_usd_per_kwh, pricing.pue,
                  pricing.carbon_kg_per_kwh)


def power_model(pricing: PricingSpec, acc: Accelerator) -> PowerModel:
    """Wall power per GPU in each state."""
    p = pricing.power
    return PowerModel.of(acc, p.communicating_load, p.down_w_per_gpu, p.average_w_per_gpu)
