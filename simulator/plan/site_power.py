"""The site power budget before the run (docs/fleets.md): what the site draws at full load, the caps policy
`cap` sets (simulator/models/power.py site_cap) applied to every pool's accelerator, and what policy `queue`
admits against; problems located at `cluster.site_power` for simulator/plan/checks.py."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.models.power import PoolDraw, SiteCap, facility_w, site_cap
from simulator.plan.network import network_power
from simulator.scenario.pools import PoolSpec
from simulator.scenario.power import SitePowerSpec
from simulator.scenario.schema import ClusterSpec, PricingSpec, Scenario, TrainingWorkload
from simulator.units import format_si

# A chip without a published lowest settable limit may be capped down to just above its static power (a cap at the
# static power leaves no clock): 1 W above it, assumed.
ABOVE_STATIC_W = 1.0


@dataclass(frozen=True)
class SitePlan:
    """The budget, its policy, the scenario as it runs (caps applied under policy `cap`), and the site's draw."""

    spec: SitePowerSpec
    scenario: Scenario  # with the caps policy `cap` chose; the input scenario otherwise
    fraction: float | None  # cap as a fraction of TDP policy `cap` chose (1: no cap needed); None for queue/none
    caps_w: dict[str, float | None]  # each pool's chip cap as the run has it (None: uncapped)
    uncapped_facility_w: float  # the site at full load without the policy's caps (user caps kept)
    facility_w: float  # the site at full load as it runs
    network_w: float
    pue: float
    full_load_w: dict[str, float]  # wall power per GPU at full load, by pool, as it runs
    idle_w: dict[str, float]  # wall power per idle GPU, by pool


def pool_draw(pool: PoolSpec) -> PoolDraw:
    """A pool as the budget sees it (its accelerator has a TDP: checks refuse one without)."""
    acc = pool.accelerator
    assert acc.tdp_w is not None
    lowest = acc.min_power_cap_w if acc.min_power_cap_w is not None else acc.static_power_w + ABOVE_STATIC_W
    highest = acc.full_load_chip_w
    return PoolDraw(pool.gpus, acc.tdp_w, min(lowest, highest), highest, acc.server_power_overhead)


def _draws(cluster: ClusterSpec) -> list[PoolDraw]:
    return [pool_draw(pool) for pool in cluster.pool_specs]


def chosen_cap(cluster: ClusterSpec, pricing: PricingSpec, budget_w: float) -> SiteCap | None:
    """Policy `cap`'s answer for `cluster` (None: even the lowest settable caps do not fit `budget_w`)."""
    return site_cap(_draws(cluster), network_power(cluster, pricing), pricing.pue, budget_w)


def capped_cluster(cluster: ClusterSpec, caps_w: tuple[float, ...]) -> ClusterSpec:
    """`cluster` with each pool's chips held to its cap in `caps_w` (in pool order; a cap at the TDP sets none)."""
    def cap(pool: PoolSpec, cap_w: float) -> PoolSpec:
        tdp = pool.accelerator.tdp_w
        if tdp is None or cap_w >= tdp:
            return pool
        return pool.model_copy(update={"power_cap_w": cap_w,
                                       "accelerator": pool.accelerator.model_copy(update={"power_cap_w": cap_w})})

    pools = tuple(cap(p, c) for p, c in zip(cluster.pool_specs, caps_w, strict=True))
    if cluster.pools is not None:
        return cluster.model_copy(update={"pools": pools, "accelerator": pools[0].accelerator})
    only = pools[0]
    return cluster.model_copy(update={"power_cap_w": only.power_cap_w, "accelerator": only.accelerator})


def site_plan(scenario: Scenario) -> SitePlan | None:
    """The run's site power plan; None without `cluster.site_power`. Checks have refused an impossible budget."""
    spec = scenario.cluster.site_power
    if spec is None:
        return None
    pricing = scenario.pricing
    network_w = network_power(scenario.cluster, pricing)
    uncapped = facility_w(_draws(scenario.cluster), 1.0, network_w, pricing.pue)
    fraction = None
    if spec.budget_w is not None and spec.policy == "cap":
        chosen = chosen_cap(scenario.cluster, pricing, spec.budget_w)
        assert chosen is not None, "checks refuse a budget no cap fits"
        fraction = chosen.fraction
        if chosen.fraction < 1.0:
            scenario = scenario.model_copy(update={"cluster": capped_cluster(scenario.cluster, chosen.caps_w)})
    pools = scenario.cluster.pool_specs
    return SitePlan(
        spec=spec, scenario=scenario, fraction=fraction,
        caps_w={p.name: p.accelerator.power_cap_w for p in pools},
        uncapped_facility_w=uncapped,
        facility_w=facility_w(_draws(scenario.cluster), 1.0, network_w, pricing.pue),
        network_w=network_w, pue=pricing.pue,
        full_load_w={p.name: p.accelerator.power_w(1.0) for p in pools},
        idle_w={p.name: p.accelerator.power_w(0.0) for p in pools},
    )


def site_power_problem(scenario: Scenario) -> str | None:
    """Why the site's budget cannot be kept, or None: under `cap`, even the lowest settable caps at full load
    exceed it; under `queue`, the network and every GPU idle already do, or a workload's start alone would."""
    spec = scenario.cluster.site_power
    if spec is None or spec.budget_w is None:
        return None
    cluster, pricing = scenario.cluster, scenario.pricing
    if any(p.accelerator.tdp_w is None for p in cluster.pool_specs):
        return None  # the pool check says so
    draws = _draws(cluster)
    network_w = network_power(cluster, pricing)
    budget = spec.budget_w
    if spec.policy == "cap":
        if chosen_cap(cluster, pricing, budget) is not None:
            return None
        lowest = facility_w(draws, 0.0, network_w, pricing.pue)
        return (f"site power budget {format_si(budget, 'W')} is below what the site draws at full load with every GPU "
                f"at its lowest settable cap ({format_si(lowest, 'W')} incl. PUE {pricing.pue:g}): no cap fits; "
                "raise the budget or use fewer nodes")
    idle = (sum(p.gpus * p.accelerator.power_w(0.0) for p in cluster.pool_specs) + network_w) * pricing.pue
    if idle > budget:
        return (f"site power budget {format_si(budget, 'W')} is below the site's draw with every GPU idle "
                f"({format_si(idle, 'W')} incl. PUE {pricing.pue:g}): nothing could start")
    largest = max(p.accelerator.power_w(1.0) - p.accelerator.power_w(0.0) for p in cluster.pool_specs)
    needed = max([w.parallelism.world for w in scenario.workloads if isinstance(w, TrainingWorkload)], default=0)
    worst = idle + needed * largest * pricing.pue
    if worst > budget:
        return (f"site power budget {format_si(budget, 'W')} cannot start the largest training job ({needed:,} GPUs at "
                f"full load, the rest idle, the network: {format_si(worst, 'W')} incl. PUE {pricing.pue:g}); under "
                "policy queue it would wait for ever")
    return None
