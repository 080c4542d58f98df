"""Failure processes: one SimPy process per component class, keeping every unit's next failure time in a
numpy array (a renewal process per unit: uptime drawn from the component's distribution, then a repair),
so a 16,000-GPU cluster costs one event per failure, not one process per GPU."""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import simpy

from simulator.engine.cluster import Cluster
from simulator.engine.links import LinkState
from simulator.models.reliability import Component, Distribution, Effect, FailureModel, Scope
from simulator.models.topology.network import Network


def unit_nodes(component: Component, model: FailureModel, nodes: int, gpus_per_node: int,
               leaves: tuple[int, int] = (16, 1)) -> list[np.ndarray]:
    """For each failing unit of `component`, the nodes it takes down (`leaves`: the topology's nodes per
    leaf failure and leaves per such group, e.g. one per rail of a scalable unit)."""
    ids = np.arange(nodes)
    if component.scope is Scope.GPU:
        return [np.array([g // gpus_per_node]) for g in range(nodes * gpus_per_node)]
    if component.scope is Scope.NODE:
        return [ids[i:i + 1] for i in range(nodes)]
    if component.scope is Scope.RACK:
        return [ids[i:i + model.nodes_per_rack] for i in range(0, nodes, model.nodes_per_rack)]
    size = model.leaf_nodes(leaves[0])
    repeat = leaves[1] if model.nodes_per_leaf is None else 1
    return [ids[i:i + size] for i in range(0, nodes, size) for _ in range(repeat)]


LINK_KINDS = frozenset({"leaf_spine", "spine_core", "local", "global", "ici", "ocs"})


def network_links(network: Network) -> list[tuple[object, object]]:
    """The links a `scope: link` component fails: every switch-to-switch or chip-to-chip edge."""
    return [(u, v) for u, v, data in network.graph.edges(data=True) if data["kind"] in LINK_KINDS]


def failure_process(env: simpy.Environment, cluster: Cluster, component: Component, model: FailureModel,
                    rng: np.random.Generator, links: LinkState | None = None,
                    leaves: tuple[int, int] = (16, 1)) -> Generator[simpy.Event, object, None]:
    """Fail units of `component` for ever: the earliest next failure fires, its nodes (or link) go down for a
    repair time, and the unit's next failure is drawn from after the repair."""
    victims: list[np.ndarray] = []
    if component.scope is Scope.LINK:
        assert links is not None
        edges = links.candidates
        units = len(edges)
    elif component.scope is Scope.STORAGE:
        units = 1
    else:
        victims = unit_nodes(component, model, cluster.nodes, cluster.gpus_per_node, leaves)
        units = len(victims)
    if units == 0:
        return
    mean = np.full(units, component.unit_mtbf_s)
    offenders = rng.random(units) < component.repeat_offender_fraction
    mean[offenders] /= component.repeat_offender_factor
    next_failure = steady_state_start(component, rng, mean)
    labels = list(component.causes) or [component.name]
    weights = np.array(list(component.causes.values()) or [1.0])
    weights = weights / weights.sum()
    while True:
        unit = int(np.argmin(next_failure))
        yield env.timeout(float(next_failure[unit]) - env.now)
        repair = float(component.repair.sample(rng))
        cause = labels[int(rng.choice(len(labels), p=weights))] if len(labels) > 1 else labels[0]
        if component.scope is Scope.LINK:
            assert links is not None
            links.fail(edges[unit], repair, cause)
        elif component.scope is Scope.STORAGE:
            cluster.fail_storage(repair)
        for node in victims[unit] if victims else ():
            if component.effect is Effect.SLOWDOWN:
                cluster.slow_node(int(node), 1.0 + component.slowdown, component.straggler_detection_s, repair, cause)
            else:
                cluster.fail_node(int(node), repair, cause)
        next_failure[unit] = env.now + repair + float(component.sample_uptime(rng, mean[unit:unit + 1])[0])


WARM_UP_MEANS = 10.0  # renewal processes run this many mean lifetimes before time 0


def steady_state_start(component: Component, rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    """First failure times of units already in service (not all new at time 0): renew every unit from
    -WARM_UP_MEANS x mean until it passes 0. With Weibull shape < 1 new units fail early, so starting them
    fresh would overstate the failure rate of a finite run."""
    if component.distribution is Distribution.PERIODIC:
        return np.asarray(rng.uniform(0.0, 1.0, mean.shape) * mean)  # rolling maintenance: units at own phases
    clock = -WARM_UP_MEANS * mean
    while np.any(clock <= 0):
        pending = clock <= 0
        clock[pending] += component.sample_uptime(rng, mean[pending])
    return clock
