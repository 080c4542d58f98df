"""Distribution fitting and the KS distance (simulator/models/fitting.py), and the LANL record loader
(simulator/tools/lanl.py) on a small CSV written by hand: maximum-likelihood fits recover known parameters and
satisfy their own likelihood equations, KS distances of hand-made samples, and what the loader counts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from simulator.models.fitting import fit_lognormal, fit_weibull, ks_critical, ks_two_sample
from simulator.models.reliability import Distribution, Scope
from simulator.tools.lanl import fitted_component, load_system
from tests.conftest import data_file

SAMPLES = st.lists(st.floats(1.0, 1e4), min_size=5, max_size=60)


def profile_residual(samples: np.ndarray, k: float) -> float:
    """The Weibull likelihood equation in k: 1/k + mean(ln x) - sum(x^k ln x) / sum(x^k), zero at the MLE."""
    logs = np.log(samples)
    xk = samples**k
    return float(1.0 / k + logs.mean() - (xk * logs).sum() / xk.sum())


# --- Weibull -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [0.7, 1.0, 1.5, 3.0])
def test_weibull_fit_recovers_shape_and_scale(shape: float) -> None:
    samples = 1000.0 * np.random.default_rng(5).weibull(shape, 20_000)
    k, scale = fit_weibull(samples)
    assert k == pytest.approx(shape, rel=0.03)
    assert scale == pytest.approx(1000.0, rel=0.03)


@settings(max_examples=100, deadline=None)
@given(values=SAMPLES)
def test_weibull_fit_solves_the_likelihood_equations(values: list[float]) -> None:
    samples = np.array(values)
    assume(samples.max() / samples.min() > 1.5)  # identical samples have no finite maximum
    k, scale = fit_weibull(samples)
    assert k > 0
    assert abs(profile_residual(samples, k)) < 1e-6 / k
    assert scale == pytest.approx(float(np.mean(samples**k)) ** (1 / k), rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(values=SAMPLES, factor=st.floats(1e-3, 1e3))
def test_weibull_fit_is_scale_equivariant(values: list[float], factor: float) -> None:
    samples = np.array(values)
    assume(samples.max() / samples.min() > 1.5)
    k, scale = fit_weibull(samples)
    k2, scale2 = fit_weibull(samples * factor)
    assert k2 == pytest.approx(k, rel=1e-6)
    assert scale2 == pytest.approx(scale * factor, rel=1e-6)


def test_weibull_fit_ignores_samples_that_are_not_positive() -> None:
    samples = np.array([3.0, 10.0, 40.0, 7.0, 120.0])
    assert fit_weibull(np.concatenate([samples, [0.0, -5.0]])) == fit_weibull(samples)



def test_weibull_fit_of_tightly_clustered_large_samples_is_finite() -> None:
    """Weekly maintenance in seconds (k = 30): x^(2k) of the raw samples would overflow to inf."""
    weeks_s = 604_800.0 * np.random.default_rng(1).weibull(30.0, 500)
    k_days, scale_days = fit_weibull(weeks_s / 86400.0)
    assert k_days == pytest.approx(30.0, rel=0.1)  # in days the same samples fit fine
    k, scale = fit_weibull(weeks_s)
    assert k == pytest.approx(k_days, rel=1e-6) and scale == pytest.approx(scale_days * 86400.0, rel=1e-6)

# --- lognormal ---------------------------------------------------------------------------------------------------


def test_lognormal_fit_by_hand() -> None:
    # logs at mu - 1, mu, mu + 1: median e^mu, sample standard deviation exactly 1
    median, sigma = fit_lognormal(np.exp(np.array([1.0, 2.0, 3.0])))
    assert median == pytest.approx(math.e**2, rel=1e-12) and sigma == pytest.approx(1.0, rel=1e-12)
    median, sigma = fit_lognormal(np.array([1800.0, 3600.0, 7200.0, 0.0]))  # the zero is left out
    assert median == pytest.approx(3600.0, rel=1e-12) and sigma == pytest.approx(math.log(2), rel=1e-12)


def test_lognormal_fit_recovers_a_repair_distribution() -> None:
    samples = 3600.0 * np.exp(np.random.default_rng(2).normal(0.0, 1.1, 50_000))
    median, sigma = fit_lognormal(samples)
    assert median == pytest.approx(3600.0, rel=0.02) and sigma == pytest.approx(1.1, rel=0.02)


# --- Kolmogorov-Smirnov ----------------------------------------------------------------------------------------


def test_ks_by_hand() -> None:
    assert ks_two_sample(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])) == pytest.approx(1 / 3)
    assert ks_two_sample(np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])) == 1.0  # disjoint
    assert ks_two_sample(np.array([5.0, 1.0, 3.0]), np.array([1.0, 3.0, 5.0])) == 0.0  # order does not matter
    assert ks_two_sample(np.array([1.0, 1.0, 2.0, 2.0]), np.array([1.0, 2.0])) == 0.0  # same distribution


@settings(max_examples=100, deadline=None)
@given(a=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40),
       b=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40), shift=st.floats(-1e3, 1e3))
def test_ks_is_a_symmetric_distance_in_zero_one(a: list[float], b: list[float], shift: float) -> None:
    x, y = np.array(a), np.array(b)
    d = ks_two_sample(x, y)
    assert 0.0 <= d <= 1.0
    assert d == ks_two_sample(y, x)
    assert ks_two_sample(x, x) == 0.0
    assert ks_two_sample(-4 * y, -4 * x) == pytest.approx(d, rel=1e-12)  # only the order counts
    if np.all(x + shift != x):  # a shift moves every point: the distance to the unshifted sample is positive
        assert ks_two_sample(x, x + shift) > 0


def test_ks_critical_by_hand_and_shrinking_with_sample_size() -> None:
    # c(0.05) = sqrt(-ln(0.025) / 2) = 1.358 (the textbook constant)
    assert ks_critical(100, 100, alpha=0.05) == pytest.approx(1.3581 * math.sqrt(2 / 100), rel=1e-4)
    assert ks_critical(50, 200) == ks_critical(200, 50)
    assert ks_critical(1000, 1000) < ks_critical(100, 100)
    assert ks_critical(100, 100, alpha=0.001) > ks_critical(100, 100, alpha=0.05)


# --- the LANL loader -------------------------------------------------------------------------------------------

CSV_HEADER = "System,nodes,nodenumz,Prob Started,Down Time\n"
CSV_ROWS = [
    "7,4,0,1/1/2004 00:00,60",
    "7,4,2,1/1/2004 06:00,120",
    "7,4,2,1/1/2004 06:00,",  # a second record at the same minute: no gap, no repair time
    "7,4,0,1/2/2004 00:00,30",
    "7,4,1,1/3/2004 12:00,0",  # zero down time is not a repair
    "8,99,5,6/1/2005 00:00,600",  # another system
    "7,4,0,1/4/2004 00:00,",
]


def test_lanl_loader_counts_gaps_and_repairs(tmp_path: Path) -> None:
    path = tmp_path / "lanl.csv"
    path.write_text(CSV_HEADER + "\n".join(CSV_ROWS) + "\n", encoding="utf-8")
    records = load_system(path, "7")
    assert (records.nodes, records.failures) == (4, 6)
    assert records.span_s == 3 * 86400.0
    assert sorted(records.between_s.tolist()) == [86400.0, 2 * 86400.0]  # node 0's gaps; node 2's is zero
    assert sorted(records.repair_s.tolist()) == [1800.0, 3600.0, 7200.0]
    component = fitted_component(records)
    assert component.scope is Scope.NODE and component.distribution is Distribution.WEIBULL
    assert component.unit_mtbf_s == pytest.approx(3 * 86400.0 * 4 / 6)  # node-seconds per failure
    assert component.repair.median_s == pytest.approx(3600.0) and component.repair.sigma == pytest.approx(math.log(2))
    assert abs(profile_residual(records.between_s, component.weibull_shape)) < 1e-9


def test_lanl_system_20_is_512_nodes_over_3_7_years() -> None:
    path = data_file("lanl-failures-1996-2005", "system-20.csv")
    records = load_system(path, "20")
    assert records.nodes == 512
    assert records.span_s / (365.25 * 86400) == pytest.approx(3.7, abs=0.05)
    assert records.repair_s.size <= records.failures and records.between_s.size < records.failures
    assert np.all(records.between_s > 0) and np.all(records.repair_s > 0)
