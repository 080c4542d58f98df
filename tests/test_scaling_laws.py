"""Scaling laws against the published figures: Chinchilla Table 3 (approach 1), the parametric-loss optimum
(approach 3), the 20-tokens rule and Kaplan et al. 2020; C = 6 N D everywhere; and the self-sustaining MFU
the budget planner's compute rests on."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.models.workload import scaling_laws as sl
from tests.conftest import data_file

# Hoffmann et al. 2022 (arXiv 2203.15556), Table 3, the two rows the issue quotes (params, FLOPs, Gopher
# units, tokens), checked against the shared reference's copy in tests/data/reference.
ROW_1T = (1e12, 1.27e26, 221.3, 21.2e12)
ROW_10T = (10e12, 1.30e28, 22515.9, 216.2e12)


def _rel(value: float, expected: float) -> float:
    return abs(value / expected - 1)


@pytest.mark.parametrize("row", [ROW_1T, ROW_10T], ids=["1T", "10T"])
def test_approach1_reproduces_table3_from_params(row: tuple[float, float, float, float]) -> None:
    params, flops, gopher_units, tokens = row
    plan = sl.chinchilla_approach1().for_params(params)
    assert _rel(plan.tokens, tokens) < 0.02
    assert _rel(plan.flops, flops) < 0.02
    assert _rel(plan.gopher_units, gopher_units) < 0.02


def test_approach1_from_compute_gives_one_trillion_parameters() -> None:
    assert _rel(sl.chinchilla_approach1().for_compute(1.27e26).params, 1e12) < 0.02


def test_every_table3_row_within_five_percent() -> None:
    """Both directions for every row. Worst: the 67B (Gopher-budget) row, whose tabulated 1.5T tokens break its
    own C = 6 N D by 4.7 % (6 N D = 6.03e23 vs 5.76e23): tokens from its parameters are 6.8 % low, so its tokens
    get 7 %; params from compute (1.2 %) and FLOPs from params (2.4 %) stay within 5 % there too. Every other
    row is within 0.7 % on all three."""
    law = sl.chinchilla_approach1()
    worst: dict[str, tuple[float, float]] = {}
    for row in sl.CHINCHILLA_TABLE3:
        errors = {
            "params_from_compute": _rel(law.params_for_compute(row.flops), row.params),
            "flops_from_params": _rel(law.for_params(row.params).flops, row.flops),
            "tokens_from_params": _rel(law.for_params(row.params).tokens, row.tokens),
        }
        gopher_row = row.params == 67e9
        for name, error in errors.items():
            limit = 0.07 if gopher_row and name == "tokens_from_params" else 0.05 if gopher_row else 0.007
            assert error < limit, (row, name, error)
            if error > worst.get(name, (0.0, 0.0))[1]:
                worst[name] = (row.params, error)
    assert all(params == 67e9 for params, _ in worst.values())  # the worst row in every direction


def test_table3_in_code_matches_shared_reference() -> None:
    # PyYAML reads 400.0e6 (no exponent sign) as a string, so every figure goes through float().
    table = yaml.safe_load(data_file("reference", "scaling_laws.yaml").read_text(encoding="utf-8"))
    rows = [{k: float(v) for k, v in r.items()} for r in table["chinchilla_table3"]]
    assert [(r["params"], r["flops"], r["tokens"]) for r in rows] == [
        (r.params, r.flops, r.tokens) for r in sl.CHINCHILLA_TABLE3
    ]
    for row in rows:
        if "gopher_units" in row:  # the column rounds FLOPs differently; 0.5 % covers it
            assert _rel(row["flops"] / sl.GOPHER_FLOPS, row["gopher_units"]) < 0.005


def test_fit_constants_and_why_the_exponent_is_fitted() -> None:
    law = sl.chinchilla_approach1()
    assert law.exponent == pytest.approx(0.498, abs=5e-4)  # the paper's a = 0.50 to two decimals
    assert law.coefficient == pytest.approx(0.242, abs=5e-4)
    coefficient, exponent = sl.fit_power_law(sl.CHINCHILLA_TABLE3, exponent=0.5)
    fixed = sl.ScalingLaw("fixed", "a = 0.5", coefficient, exponent, 6.0, "test")
    assert 1 / coefficient**2 == pytest.approx(20.9, abs=0.05)  # tokens per parameter at a = 0.5
    # With a pinned at 0.5 the 10T row is out by more than 3 %: Table 3's D/N drifts from 20 to 21.6.
    assert _rel(fixed.for_params(10e12).tokens, ROW_10T[3]) > 0.03


def test_approach3_is_the_minimum_of_the_parametric_loss() -> None:
    law = sl.chinchilla_approach3()
    alpha, beta = sl.CHINCHILLA_ALPHA, sl.CHINCHILLA_BETA
    assert law.exponent == pytest.approx(beta / (alpha + beta))
    assert law.coefficient == pytest.approx((alpha * 406.4 / (beta * 410.7)) ** (1 / (alpha + beta)))
    for flops in (1e21, sl.GOPHER_FLOPS, 1e26):
        best = law.for_compute(flops)
        loss = sl.chinchilla_loss(best.params, best.tokens)
        for factor in (0.9, 0.99, 1.01, 1.1):
            n = best.params * factor
            assert sl.chinchilla_loss(n, flops / (6 * n)) > loss


def test_kaplan_constant_and_growth_per_tenfold_compute() -> None:
    law = sl.kaplan()
    assert law.params_for_compute(sl.PF_DAY_FLOPS) == pytest.approx(1.3e9)  # Kaplan 2020 Fig. 14: 1.3e9 at 1 PF-day
    low, high = law.for_compute(1e22), law.for_compute(1e23)
    assert high.params / low.params == pytest.approx(10**0.73)
    assert high.tokens / low.tokens == pytest.approx(10**0.27)
    # Hoffmann et al. 2022 restate Kaplan as x5.5 parameters and x1.8 tokens per 10x; Kaplan's own exponents
    # give x5.37 (2.4 % below) and x1.86 (3.4 % above), so 2 % cannot hold for both: 2.5 % and 3.5 % do.
    assert _rel(high.params / low.params, 5.5) < 0.025
    assert _rel(high.tokens / low.tokens, 1.8) < 0.035


def test_twenty_tokens_per_parameter() -> None:
    law = sl.tokens_per_param_rule()
    for flops in (1e20, 1e24, 1e28):
        plan = law.for_compute(flops)
        assert plan.tokens == pytest.approx(20 * plan.params)
    assert law.for_params(70e9).tokens == pytest.approx(1.4e12)


@pytest.mark.parametrize("law", sl.all_laws(), ids=lambda law: law.key)
def test_compute_is_six_n_d_and_inverse_round_trips(law: sl.ScalingLaw) -> None:
    for flops in (1e19, 5.76e23, 1e27):
        plan = law.for_compute(flops)
        assert 6 * plan.params * plan.tokens == pytest.approx(flops, rel=1e-12)
        assert law.for_params(plan.params).flops == pytest.approx(flops, rel=1e-9)
        assert law.for_params(plan.params).tokens == pytest.approx(plan.tokens, rel=1e-9)
    assert law.for_compute(2e24).params > law.for_compute(1e24).params  # more compute, larger model


def test_gpus_for_days_and_days_for_gpus() -> None:
    peak, mfu = 989e12, 0.4
    flops = 3.0 * peak * mfu * 86400 * 10  # exactly 3 GPUs for 10 days
    exact = sl.gpus_for_days(flops, 10, peak, mfu)
    assert exact.gpus == 3
    assert exact.days == pytest.approx(10)
    more = sl.gpus_for_days(flops * 1.001, 10, peak, mfu)
    assert more.gpus == 4 and more.days < 10
    assert more.gpu_hours == pytest.approx(flops * 1.001 / (peak * mfu) / 3600)
    assert sl.days_for_gpus(flops, 6, peak, mfu).days == pytest.approx(5)


# --- the self-sustaining MFU (the budget planner's compute) ----------------------------------------------------


def _check_sustained(mfu_at: Callable[[float], float], found: sl.SustainedMfu) -> None:
    """`found.mfu` sustains itself, `found.above` does not (or is 1), and they are within the tolerance."""
    assert found.above - found.mfu <= sl.MFU_TOLERANCE * found.above
    assert mfu_at(found.mfu) >= found.mfu
    assert found.above == 1.0 or mfu_at(found.above) < found.above


@settings(max_examples=300, deadline=None)
@given(below=st.floats(0.05, 1.0), above=st.floats(0.0, 1.0), jump=st.floats(0.01, 0.99),
       start=st.floats(0.05, 0.95))
def test_a_jumping_mfu_converges_to_its_jump(below: float, above: float, jump: float, start: float) -> None:
    def mfu_at(value: float) -> float:  # a layout switch at `jump`: a step, often with no fixed point
        return below if value < jump else above

    found = sl.sustained_mfu(mfu_at, start)
    _check_sustained(mfu_at, found)
    # the bracket halves at least every three evaluations (a step that did not halve it against the width two
    # steps back is followed by a bisection), down to a width of the tolerance times the MFU found
    assert found.evaluations <= 3 * math.ceil(math.log2(1 / (sl.MFU_TOLERANCE * found.above))) + 4
    if below < jump and above < jump:  # a fixed point below the jump and none above it: that one, to tolerance
        assert found.mfu <= below < found.above


@settings(max_examples=200, deadline=None)
@given(level=st.floats(0.05, 0.9), slope=st.floats(0.0, 2.0), start=st.floats(0.05, 0.95))
def test_a_falling_mfu_converges_in_a_few_evaluations(level: float, slope: float, start: float) -> None:
    def mfu_at(value: float) -> float:
        return level / (1 + slope * value)

    found = sl.sustained_mfu(mfu_at, start)
    _check_sustained(mfu_at, found)
    assert found.evaluations <= 8


def test_an_mfu_no_work_sustains_is_zero() -> None:
    found = sl.sustained_mfu(lambda value: 0.0, 0.4)
    assert found.mfu == 0.0 and found.above <= sl.MFU_TOLERANCE and found.evaluations <= 2


def test_a_constant_mfu_is_its_own_fixed_point() -> None:
    found = sl.sustained_mfu(lambda value: 0.45, 0.4)
    assert found.mfu == 0.45 and found.evaluations <= 4
