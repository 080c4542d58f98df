"""Replica outages drawn from the failure model (simulator/models/reliability.py): every failing unit (GPU, node,
leaf, rack) is a renewal process from steady state, as for training, and a failure takes down every replica
with a GPU on the nodes it hits, for the repair time. Links and storage do not stop a serving replica here.
"""

from __future__ import annotations

import numpy as np

from simulator.engine.failures import steady_state_start, unit_nodes
from simulator.engine.serving import Outage
from simulator.models.reliability import Effect, FailureModel, Scope


def replica_outages(model: FailureModel, replicas: int, gpus_per_replica: int, gpus_per_node: int,
                    horizon_s: float, rng: np.random.Generator,
                    leaves: tuple[int, int] = (16, 1)) -> list[Outage]:
    """Outages of replicas placed on consecutive GPUs (replica r on GPUs r*g .. r*g + g - 1) until
    `horizon_s`, in time order. Fail-slow components are rejected: a slow replica is not modelled."""
    nodes = -(-replicas * gpus_per_replica // gpus_per_node)
    # replicas with a GPU on each node
    on_node: list[list[int]] = [[] for _ in range(nodes)]
    for replica in range(replicas):
        first, last = replica * gpus_per_replica, (replica + 1) * gpus_per_replica - 1
        for node in range(first // gpus_per_node, last // gpus_per_node + 1):
            on_node[node].append(replica)
    outages: list[Outage] = []
    for component in model.components:
        if component.scope in (Scope.LINK, Scope.STORAGE):
            continue
        if component.effect is not Effect.CRASH:
            raise ValueError(f"{component.name}: only crash failures take serving replicas down")
        victims = unit_nodes(component, model, nodes, gpus_per_node, leaves)
        mean = np.full(len(victims), component.unit_mtbf_s)
        offenders = rng.random(len(victims)) < component.repeat_offender_fraction
        mean[offenders] /= component.repeat_offender_factor
        next_failure = steady_state_start(component, rng, mean)
        while True:
            due = np.flatnonzero(next_failure < horizon_s)
            if due.size == 0:
                break
            repairs = np.asarray(component.repair.sample(rng, due.size), dtype=np.float64)
            for unit, start, repair in zip(due, next_failure[due], repairs, strict=True):
                hit = sorted({r for node in victims[unit] for r in on_node[int(node)]})
                outages += [Outage(float(start), r, float(repair)) for r in hit]
            next_failure[due] += repairs + component.sample_uptime(rng, mean[due])
    return sorted(outages, key=lambda o: (o.start_s, o.replica))
