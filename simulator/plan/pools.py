"""Pools as the engine and the report see them: which pools an allocation may come from, what a GPU-hour and a
watt cost in each, and the blend of them a job spread over several pools pays."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.models.cost import PowerModel, Prices
from simulator.plan.economy import Economy, economy_of_specs, pool_gpu_hour_rate, power_model
from simulator.scenario.schema import ClusterSpec, PricingSpec, Scenario

Need = tuple[tuple[int, int], ...]  # (pool, GPUs from it): one way an allocation may be split over pools


def allocation_options(cluster: ClusterSpec, gpus: int, pool: str | None = None,
                       split: dict[str, int] | None = None, among: tuple[str, ...] | None = None) -> tuple[Need, ...]:
    """The ways an allocation of `gpus` may take its GPUs: the parts of a split over pools (any GPUs beyond the
    parts, such as spares, from the first), one named pool, or with several pools and none named, any one
    whole pool (of those named in `among`, default all) in the cluster's order; the old form's one pool: anywhere
    (no options)."""
    if cluster.pools is None:
        return ()
    if split:
        parts = [(cluster.pool_index(name), n) for name, n in split.items()]
        first, n = parts[0]
        return (((first, n + gpus - sum(n for _, n in parts)), *parts[1:]),)
    if pool is not None:
        return (((cluster.pool_index(pool), gpus),),)
    return tuple(((index, gpus),) for index, spec in enumerate(cluster.pools) if among is None or spec.name in among)


@dataclass(frozen=True)
class PoolEconomy:
    """Each pool's prices and power (the scenario's pricing for the pool's accelerator, or the pool's own
    price), and the cluster's, whose network power it carries once."""

    cluster: Economy
    pools: tuple[Economy, ...]

    def of(self, shares: np.ndarray) -> Economy:
        """The economy of GPUs spread over the pools by `shares` (fractions summing to 1): GPU-weighted prices and
        powers, so cost and energy stay linear in GPUs; one pool's own where shares are one-hot."""
        if np.count_nonzero(shares) == 1:
            return self.pools[int(np.argmax(shares))]
        weights = [float(w) for w in shares]

        def mean(values: list[float]) -> float:
            return sum(w * v for w, v in zip(weights, values, strict=True))

        first = self.pools[0].prices
        powers = [e.power for e in self.pools]
        return Economy(
            Prices(mean([e.prices.gpu_hour_usd for e in self.pools]), first.electricity_usd_per_kwh, first.pue,
                   first.carbon_kg_per_kwh),
            PowerModel(mean([p.computing_w for p in powers]), mean([p.communicating_w for p in powers]),
                       mean([p.idle_w for p in powers]), mean([p.down_w for p in powers])),
            "; ".join(f"{w:.0%} {e.price_source}" for w, e in zip(weights, self.pools, strict=True) if w),
            self.cluster.network_w,
        )


def pool_economy(scenario: Scenario) -> PoolEconomy:
    """Prices and power of every pool, and of the cluster as a whole."""
    return _pool_economy(scenario.pricing, scenario.cluster)


@functools.lru_cache(maxsize=64)
def _pool_economy(pricing: PricingSpec, cluster: ClusterSpec) -> PoolEconomy:
    whole = economy_of_specs(pricing, cluster)
    if cluster.pools is None:
        return PoolEconomy(whole, (whole,))
    pools = tuple(
        Economy(Prices(pool_gpu_hour_rate(pricing, pool)[0], pricing.electricity_usd_per_kwh, pricing.pue,
                       pricing.carbon_kg_per_kwh),
                power_model(pricing, pool.accelerator), pool_gpu_hour_rate(pricing, pool)[1], whole.network_w)
        for pool in cluster.pools)
    return PoolEconomy(whole, pools)


@dataclass(frozen=True)
class Shares:
    """An allocation spread over the pools: the fraction of its GPUs in each, and of its busy power (they differ
    where a job spans pools of different chips)."""

    gpus: NDArray[np.float64]
    energy: NDArray[np.float64]

    @classmethod
    def of(cls, gpus: NDArray[np.float64], power_w: NDArray[np.float64] | None = None) -> Shares:
        """GPU fractions `gpus`, and the power fractions they give at `power_w` per GPU in each pool (None: the
        same power everywhere)."""
        if power_w is None:
            return cls(gpus, gpus)
        drawn = gpus * power_w
        return cls(gpus, drawn / drawn.sum())

    @classmethod
    def one(cls, pool: int, pools: int) -> Shares:
        """Everything in pool `pool` of `pools`."""
        only = np.zeros(pools)
        only[pool] = 1.0
        return cls(only, only)


def shared_units(cluster: ClusterSpec, unit_gpus: int) -> list[str]:
    """Notes on pools that share a scalable unit (leaf group, pod) of the topology with the pool before them: their
    traffic meets on that unit's switches (a pool sized in whole units, `unit_gpus` GPUs each, has its own)."""
    unit_nodes = max(1, unit_gpus // cluster.gpus_per_node)
    pools = cluster.pools or ()
    return [f"pool {pool.name} starts in the middle of a {unit_nodes}-node unit of the topology (node "
            f"{cluster.first_node(index)}): it shares that unit's switches with pool {pools[index - 1].name}"
            for index, pool in enumerate(pools) if index and cluster.first_node(index) % unit_nodes]
