"""Failure inputs and the checkpoint closed forms (simulator/models/reliability.py): Young's and Daly's intervals
minimise the cost models they come from, Meta's ETTR by hand, sampling means, and the input checks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulator.models.reliability import (
    Checkpoint,
    Component,
    Distribution,
    FailureModel,
    Recovery,
    Repair,
    Scope,
    daly_interval_s,
    meta_expected_ettr,
    young_interval_s,
)

WRITE_S = st.floats(1.0, 3600.0)
MTTF_S = st.floats(3600.0, 1e7)
NEARBY = (0.5, 0.9, 0.99, 1.01, 1.1, 2.0)


def first_order_waste(interval_s: float, write_s: float, mttf_s: float) -> float:
    """Young's cost: the write overhead per unit of work plus half an interval lost per failure."""
    return write_s / interval_s + interval_s / (2.0 * mttf_s)


def exact_exponential_cost(interval_s: float, write_s: float, mttf_s: float) -> float:
    """Daly 2006's expected wall time per unit of work under exponential failures (restart left out: it is a
    constant factor): (e^((tau + delta) / M) - 1) / tau."""
    return math.expm1((interval_s + write_s) / mttf_s) / interval_s


def exact_exponential_optimum(write_s: float, mttf_s: float) -> float:
    """The tau that zeroes the derivative of exact_exponential_cost: (1 - tau/M) e^((tau + delta)/M) = 1,
    found by bisection on (0, M) where the left side falls from e^(delta/M) - 1 > 0 to -1."""
    low, high = 0.0, mttf_s
    for _ in range(200):
        mid = (low + high) / 2
        if (1 - mid / mttf_s) * math.exp((mid + write_s) / mttf_s) - 1 > 0:
            low = mid
        else:
            high = mid
    return (low + high) / 2


# --- Young 1974 ----------------------------------------------------------------------------------------------


def test_young_by_hand() -> None:
    assert young_interval_s(60.0, 3600.0) == pytest.approx(math.sqrt(432_000.0))  # 657.3 s
    assert young_interval_s(0.0, 3600.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(write_s=WRITE_S, mttf_s=MTTF_S)
def test_young_minimises_the_first_order_waste(write_s: float, mttf_s: float) -> None:
    young = young_interval_s(write_s, mttf_s)
    best = first_order_waste(young, write_s, mttf_s)
    assert best == pytest.approx(math.sqrt(2.0 * write_s / mttf_s), rel=1e-12)  # the minimum, by hand
    for factor in NEARBY:
        assert first_order_waste(young * factor, write_s, mttf_s) >= best * (1 - 1e-12)


@settings(max_examples=100, deadline=None)
@given(write_s=WRITE_S, mttf_s=MTTF_S, k=st.floats(1.01, 100.0))
def test_young_grows_as_the_square_root_of_both_inputs(write_s: float, mttf_s: float, k: float) -> None:
    young = young_interval_s(write_s, mttf_s)
    assert young_interval_s(write_s * k, mttf_s) == pytest.approx(young * math.sqrt(k), rel=1e-12)
    assert young_interval_s(write_s, mttf_s * k) == pytest.approx(young * math.sqrt(k), rel=1e-12)


# --- Daly 2006 -----------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(write_s=WRITE_S, mttf_s=MTTF_S)
def test_daly_is_young_minus_two_thirds_of_the_write_plus_a_small_term(write_s: float, mttf_s: float) -> None:
    # sqrt(2dM) (1 + sqrt(d/2M)/3 + d/(18M)) - d = young + d/3 + young d/(18M) - d
    young = young_interval_s(write_s, mttf_s)
    expected = young - 2 * write_s / 3 + young * write_s / (18 * mttf_s)
    assert daly_interval_s(write_s, mttf_s) == pytest.approx(expected, rel=1e-9)
    assert daly_interval_s(write_s, mttf_s) < young


@pytest.mark.parametrize(("write_s", "mttf_s"), [(60, 3600), (60, 86400), (300, 7200), (600, 3600), (10, 1e6),
                                                 (1000, 1500)])
def test_daly_is_within_one_percent_of_the_exact_optimum_and_closer_than_young(write_s: float,
                                                                              mttf_s: float) -> None:
    optimum = exact_exponential_optimum(write_s, mttf_s)
    daly, young = daly_interval_s(write_s, mttf_s), young_interval_s(write_s, mttf_s)
    assert abs(daly / optimum - 1) < 0.01
    assert abs(daly - optimum) < abs(young - optimum)
    cost = exact_exponential_cost(optimum, write_s, mttf_s)
    assert all(exact_exponential_cost(optimum * f, write_s, mttf_s) > cost for f in NEARBY)


@pytest.mark.parametrize(("write_s", "mttf_s"), [(7200.0, 3600.0), (10_000.0, 3600.0), (2.0, 1.0)])
def test_daly_is_the_mttf_itself_when_the_write_takes_at_least_twice_as_long(write_s: float, mttf_s: float) -> None:
    assert daly_interval_s(write_s, mttf_s) == mttf_s


# --- Meta's expected ETTR (Kokolis et al. 2025) ---------------------------------------------------------------


def test_meta_ettr_by_hand() -> None:
    # 100 nodes, one failure per node per 1e6 s, 600 s restart, hourly checkpoints of 60 s:
    # (1 - 100e-6 (600 + 1800)) / (1 + 60/3600) = 0.76 / (61/60)
    assert meta_expected_ettr(100, 1e-6, 600.0, 3600.0, 60.0) == pytest.approx(0.76 * 60 / 61, rel=1e-12)
    assert meta_expected_ettr(1, 0.0, 600.0, 3600.0, 0.0) == 1.0  # nothing fails, nothing is written


@settings(max_examples=100, deadline=None)
@given(nodes=st.integers(1, 10_000), interval_s=st.floats(60.0, 86400.0), write_s=st.floats(0.0, 600.0))
def test_meta_ettr_without_failures_is_the_checkpoint_duty_cycle(nodes: int, interval_s: float,
                                                                 write_s: float) -> None:
    assert meta_expected_ettr(nodes, 0.0, 900.0, interval_s, write_s) == pytest.approx(
        interval_s / (interval_s + write_s), rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(nodes=st.integers(1, 4096), mtbf_s=st.floats(1e6, 1e9), restart_s=st.floats(0.0, 1800.0),
       write_s=st.floats(1.0, 600.0))
def test_meta_ettr_is_maximal_at_its_stationary_interval(nodes: int, mtbf_s: float, restart_s: float,
                                                         write_s: float) -> None:
    # d/dtau of tau (1 - a - b tau) / (tau + w) = 0 with a = N r u0, b = N r / 2:
    # tau* = -w + sqrt(w^2 + (1 - a) w / b)
    rate = 1.0 / mtbf_s
    a, b = nodes * rate * restart_s, nodes * rate / 2
    assume(a < 0.5)  # beyond, restarts alone eat half the time: the formula's regime of validity is left
    best = -write_s + math.sqrt(write_s**2 + (1 - a) * write_s / b)
    top = meta_expected_ettr(nodes, rate, restart_s, best, write_s)
    for factor in NEARBY:
        assert meta_expected_ettr(nodes, rate, restart_s, best * factor, write_s) <= top + 1e-12


def test_meta_ettr_falls_with_more_nodes_and_longer_restarts() -> None:
    base = meta_expected_ettr(1000, 1e-7, 600.0, 3600.0, 60.0)
    assert meta_expected_ettr(2000, 1e-7, 600.0, 3600.0, 60.0) < base
    assert meta_expected_ettr(1000, 1e-7, 1200.0, 3600.0, 60.0) < base
    assert meta_expected_ettr(1000, 1e-7, 600.0, 3600.0, 120.0) < base


# --- components: rates, validation, sampling -----------------------------------------------------------------


def node(**fields: Any) -> Component:
    return Component.model_validate({"name": "node", **fields})


def test_rate_from_failures_per_1000_node_days() -> None:
    rsc1 = node(failures_per_1000_node_days=6.5)  # Meta RSC-1
    assert rsc1.unit_mtbf_s == pytest.approx(1000 * 86400 / 6.5)
    assert node(mtbf="50000 h").unit_mtbf_s == 50000 * 3600.0


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "exactly one of mtbf and failures_per_1000_node_days"),
    ({"mtbf": "1 h", "failures_per_1000_node_days": 6.5}, "exactly one"),
    ({"mtbf": 0.5}, "at least 1 s"),
    ({"failures_per_1000_node_days": 6.5, "scope": "gpu"}, "applies to scope: node"),
    ({"mtbf": "1 d", "scope": "link", "effect": "slowdown"}, "not to links or storage"),
    ({"mtbf": "1 d", "scope": "storage", "effect": "slowdown"}, "not to links or storage"),
    ({"mtbf": "1 d", "weibull_shape": 0.7}, "weibull_shape needs distribution: weibull"),
    ({"mtbf": "1 d", "causes": {"gpu": 3, "nic": 0}}, "cause weights must be positive"),
    ({"mtbf": "1 d", "name": "two words"}, "pattern"),
    ({"mtbf": "1 d", "repeat_offender_factor": 0.5}, "greater than or equal to 1"),
    ({"mtbf": "1 d", "colour": "red"}, "Extra inputs are not permitted"),
])
def test_bad_components_are_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        node(**fields)


def test_slowdown_is_allowed_on_the_scopes_that_hold_jobs() -> None:
    for scope in (Scope.GPU, Scope.NODE, Scope.LEAF, Scope.RACK):
        component = node(mtbf="1 d", scope=scope, effect="slowdown", straggler_detection="10 min")
        assert component.straggler_detection_s == 600.0


@pytest.mark.parametrize(("distribution", "shape"), [("exponential", 1.0), ("weibull", 0.7), ("weibull", 1.0),
                                                     ("weibull", 3.0)])
def test_sampled_uptimes_have_the_asked_mean(distribution: str, shape: float) -> None:
    component = node(mtbf="1 d", distribution=distribution, weibull_shape=shape)
    means = np.array([1000.0, 5000.0])
    samples = component.sample_uptime(np.random.default_rng(11), np.tile(means, 20_000)).reshape(-1, 2)
    assert samples.shape == (20_000, 2) and np.all(samples > 0)
    spread = samples.std(axis=0) / math.sqrt(samples.shape[0])
    assert np.all(np.abs(samples.mean(axis=0) - means) < 5 * spread)


def test_weibull_shape_sets_the_spread() -> None:
    rng = np.random.default_rng(7)
    means = np.full(50_000, 100.0)
    # coefficient of variation of a Weibull: sqrt(G(1 + 2/k) / G(1 + 1/k)^2 - 1); 1 for the exponential
    for shape in (0.7, 1.0, 2.0):
        samples = node(mtbf="1 d", distribution="weibull", weibull_shape=shape).sample_uptime(rng, means)
        cv = math.sqrt(math.gamma(1 + 2 / shape) / math.gamma(1 + 1 / shape) ** 2 - 1)
        assert samples.std() / samples.mean() == pytest.approx(cv, rel=0.05)


def test_periodic_uptimes_are_the_means_in_a_fresh_array() -> None:
    component = node(mtbf="1 d", distribution=Distribution.PERIODIC)
    means = np.array([86400.0, 3600.0])
    uptimes = component.sample_uptime(np.random.default_rng(0), means)
    assert uptimes.tolist() == [86400.0, 3600.0]
    uptimes[0] = 0.0
    assert means[0] == 86400.0  # the caller's array is untouched


def test_repairs_are_lognormal_around_their_median() -> None:
    repair = Repair.model_validate({"median": "1 h", "sigma": 1.1})
    samples = np.asarray(repair.sample(np.random.default_rng(3), 100_000))
    logs = np.log(samples)
    assert math.exp(np.median(logs)) == pytest.approx(3600.0, rel=0.02)
    assert logs.std() == pytest.approx(1.1, rel=0.02)


def test_zero_sigma_repairs_always_take_the_median() -> None:
    repair = Repair.model_validate({"median": "30 min", "sigma": 0})
    rng = np.random.default_rng(0)
    assert repair.sample(rng) == 1800.0
    assert np.asarray(repair.sample(rng, 3)).tolist() == [1800.0] * 3


# --- the failures section, checkpoints and recovery ------------------------------------------------------------


def test_component_names_must_be_unique_and_leaf_size_defaults_to_the_topology() -> None:
    one = {"name": "node", "mtbf": "1 d"}
    with pytest.raises(ValidationError, match="unique"):
        FailureModel.model_validate({"components": [one, one]})
    with pytest.raises(ValidationError):
        FailureModel.model_validate({"components": []})
    model = FailureModel.model_validate({"components": [one]})
    assert model.leaf_nodes(32) == 32 and model.nodes_per_rack == 4
    assert FailureModel.model_validate({"components": [one], "nodes_per_leaf": 16}).leaf_nodes(32) == 16


def test_checkpoint_stall_is_the_write_when_sync_and_the_copy_when_async() -> None:
    sync = Checkpoint.model_validate({"interval": "30 min", "write": "2 min"})
    assert (sync.interval_s, sync.write_s, sync.stall_s) == (1800.0, 120.0, 120.0)
    lazy = Checkpoint.model_validate({"write": "2 min", "mode": "async", "async_stall": "3 s"})
    assert lazy.stall_s == 3.0
    with pytest.raises(ValidationError):
        Checkpoint.model_validate({"interval": 0})
    with pytest.raises(ValidationError):
        Checkpoint.model_validate({"policy": "hourly"})


def test_recovery_defaults_and_choices() -> None:
    default = Recovery()
    assert (default.detection_s, default.restart_s, default.spare_nodes, default.on_no_spare) == (
        600.0, 900.0, 0, "wait")
    assert Recovery.model_validate({"detection": "30 s", "on_no_spare": "requeue"}).detection_s == 30.0
    with pytest.raises(ValidationError):
        Recovery.model_validate({"on_no_spare": "panic"})
    with pytest.raises(ValidationError):
        Recovery.model_validate({"spare_nodes": -1})
