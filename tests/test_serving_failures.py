"""Replica outages drawn from the failure model (simulator/engine/serving_failures.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.engine.serving import ReplicaLimits, RouterPolicy, simulate_serving
from simulator.engine.serving_failures import replica_outages
from simulator.models.reliability import Component, FailureModel
from tests.test_serving_engine import FixedIterations


def node_failures(mtbf: str, **extra: object) -> FailureModel:
    return FailureModel.model_validate({"components": [
        {"name": "node", "scope": "node", "mtbf": mtbf, "repair": {"median": "100 s", "sigma": 0}, **extra}]})


def test_a_node_failure_takes_down_every_replica_on_it_at_the_renewal_rate() -> None:
    outages = replica_outages(node_failures("1000 s"), 64, 1, 8, 1e6, np.random.default_rng(0))
    starts = np.array([o.start_s for o in outages])
    assert len(outages) % 8 == 0 and np.all(np.diff(starts) >= 0)
    assert all(o.duration_s == 100.0 for o in outages)
    # a renewal process of 1,000 s up and 100 s down on each of 8 nodes
    expected = 8 * 1e6 / 1100
    assert len(outages) / 8 == pytest.approx(expected, abs=4 * math.sqrt(expected))
    first = [o.replica for o in outages[:8]]
    assert first == list(range(first[0], first[0] + 8)) and first[0] % 8 == 0  # one node's eight replicas


def test_a_replica_spanning_two_nodes_fails_with_either() -> None:
    outages = replica_outages(node_failures("1000 s"), 4, 16, 8, 2e5, np.random.default_rng(1))
    expected = 8 * 2e5 / 1100  # 8 nodes, one replica each
    assert len(outages) == pytest.approx(expected, abs=4 * math.sqrt(expected))
    assert {o.replica for o in outages} == {0, 1, 2, 3}


def test_fail_slow_components_are_refused() -> None:
    model = FailureModel(components=[Component.model_validate(
        {"name": "slow", "scope": "gpu", "mtbf": "1000 h", "effect": "slowdown"})])
    with pytest.raises(ValueError, match="only crash failures"):
        replica_outages(model, 2, 1, 8, 1e5, np.random.default_rng(0))


def test_drawn_outages_are_retried_and_every_request_is_accounted_for() -> None:
    rng = np.random.default_rng(2)
    outages = replica_outages(node_failures("20 s"), 4, 2, 4, 60.0, rng)
    assert outages
    count = 300
    arrival = np.sort(rng.uniform(0, 50, count))
    inputs, outputs = rng.integers(10, 600, count), rng.integers(5, 100, count)
    out = simulate_serving(FixedIterations(), ReplicaLimits(8, 512, 500, 16), 4, arrival, inputs, outputs,
                           RouterPolicy.LEAST_OUTSTANDING, rng, None, None, outages)
    assert out.retried > 0
    assert int(np.isfinite(out.finish_s).sum()) + int(out.failed.sum()) == count
