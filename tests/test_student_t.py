"""Student's t quantiles (simulator/experiments/student_t.py) against published values, and the intervals built
on them: wider than the normal approximation at small n, none for one value."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import pytest

from simulator.experiments.student_t import LARGE_DF, ci95_half_width, t_quantile, two_sided_probability

# t(0.975, df) to 12+ digits (tables of Student's t; R's qt(0.975, df))
KNOWN_975 = {1: 12.7062047361747, 2: 4.30265272974946, 3: 3.18244630528371, 4: 2.77644510519779,
             7: 2.36462425159278, 10: 2.22813885198627, 30: 2.04227245630124, 100: 1.98397151852355,
             1000: 1.96233908082641}


@pytest.mark.parametrize(("df", "expected"), sorted(KNOWN_975.items()))
def test_t_975_matches_published_values(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-10)


def test_the_values_the_issue_names_within_their_rounding() -> None:
    for df, expected, half_unit in ((1, 12.706, 5e-4), (7, 2.3646, 5e-5), (30, 2.0423, 5e-5)):
        assert abs(t_quantile(0.975, df) - expected) < half_unit
    assert abs(t_quantile(0.975, 10**9) - 1.95996) < 1e-4
    assert t_quantile(0.975, 10**9) == pytest.approx(NormalDist().inv_cdf(0.975), abs=1e-8)


def test_other_probabilities_and_symmetry() -> None:
    assert t_quantile(0.995, 1) == pytest.approx(63.6567411628715, abs=1e-9)
    assert t_quantile(0.9, 4) == pytest.approx(1.53320627405894, abs=1e-10)
    assert t_quantile(0.95, 20) == pytest.approx(1.72471824292079, abs=1e-10)
    assert t_quantile(0.5, 5) == pytest.approx(0.0, abs=1e-12)
    for df in (1, 2, 9, 2000):
        assert t_quantile(0.025, df) == -t_quantile(0.975, df)


def test_the_large_df_expansion_joins_the_exact_inversion() -> None:
    below, above = t_quantile(0.975, LARGE_DF), t_quantile(0.975, LARGE_DF + 1)
    assert below > above
    assert below - above < 1e-5  # about the change of one degree of freedom there
    values = [t_quantile(0.975, df) for df in range(1, 60)]
    assert all(a > b for a, b in itertools.pairwise(values))  # falls towards 1.96


def test_two_sided_probability_closed_forms() -> None:
    # df 1 is the Cauchy distribution: P(|T| <= t) = 2 atan(t) / pi; df 2: t / sqrt(2 + t^2)
    for t in (0.3, 1.0, 4.0):
        assert two_sided_probability(math.atan(t), 1) == pytest.approx(2 * math.atan(t) / math.pi, rel=1e-14)
        assert two_sided_probability(math.atan(t / math.sqrt(2)), 2) == pytest.approx(t / math.sqrt(2 + t * t),
                                                                                       rel=1e-14)
    assert two_sided_probability(math.pi / 2, 7) == pytest.approx(1.0, abs=1e-14)
    assert two_sided_probability(0.0, 8) == 0.0


def test_bad_arguments_are_refused() -> None:
    for p in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="p must be"):
            t_quantile(p, 5)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0.975, 0)


def test_half_width_is_t_std_over_root_n_and_none_for_one_value() -> None:
    assert ci95_half_width(2.0, 8) == pytest.approx(2.36462425159278 * 2.0 / math.sqrt(8), rel=1e-12)
    assert ci95_half_width(3.0, 1) is None
    wider = ci95_half_width(1.0, 8)
    assert wider is not None and wider / (1.96 / math.sqrt(8)) > 1.2  # the normal interval is ~17 % too narrow
