"""The cost arithmetic itself (simulator/models/cost.py), below the scenario level that tests/test_costs.py
covers: amortization adds back up to the capital, power stays between its states, transceivers round up per
400 Gb/s, and a bill's parts sum to the whole."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.models.cost import (
    EPOCH_DEPRECIATION_PER_YEAR,
    HOURS_PER_YEAR,
    Amortization,
    PowerModel,
    Prices,
    network_power_w,
    owned_gpu_hour_usd,
)
from simulator.models.hardware import Accelerator

PURCHASE = st.floats(0.0, 1e6)
OVERHEAD = st.floats(1.0, 5.0)
NETWORK = st.floats(0.0, 0.9)
YEARS = st.floats(0.5, 10.0)


@settings(max_examples=100, deadline=None)
@given(purchase=PURCHASE, overhead=OVERHEAD, network=NETWORK, years=YEARS)
def test_straight_line_hours_over_the_service_life_repay_the_capital(purchase: float, overhead: float,
                                                                     network: float, years: float) -> None:
    hourly = owned_gpu_hour_usd(purchase, overhead, network, Amortization.STRAIGHT_LINE, years)
    capital = purchase * overhead / (1 - network)
    assert hourly * years * HOURS_PER_YEAR == pytest.approx(capital, rel=1e-12, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(purchase=PURCHASE, overhead=OVERHEAD, network=NETWORK, years=YEARS)
def test_epoch_amortization_writes_off_a_fixed_share_a_year_whatever_the_life(purchase: float, overhead: float,
                                                                              network: float, years: float) -> None:
    hourly = owned_gpu_hour_usd(purchase, overhead, network, Amortization.EPOCH, years)
    assert hourly == owned_gpu_hour_usd(purchase, overhead, network, Amortization.EPOCH, 1.0)
    capital = purchase * overhead / (1 - network)
    assert hourly * HOURS_PER_YEAR == pytest.approx(capital * EPOCH_DEPRECIATION_PER_YEAR, rel=1e-12, abs=1e-9)


def test_epoch_rate_equals_straight_line_over_its_implied_life() -> None:
    life_years = 1 / EPOCH_DEPRECIATION_PER_YEAR  # 3.1 years
    epoch = owned_gpu_hour_usd(25_000, 1.5, 0.2, Amortization.EPOCH, 4)
    straight = owned_gpu_hour_usd(25_000, 1.5, 0.2, Amortization.STRAIGHT_LINE, life_years)
    assert epoch == pytest.approx(straight, rel=1e-12)


def test_network_share_grosses_the_capital_up() -> None:
    bare = owned_gpu_hour_usd(10_000, 1.0, 0.0, Amortization.STRAIGHT_LINE, 1)
    assert bare == pytest.approx(10_000 / 8766)
    # a network that is half the cluster's cost doubles what each GPU must repay
    assert owned_gpu_hour_usd(10_000, 1.0, 0.5, Amortization.STRAIGHT_LINE, 1) == pytest.approx(2 * bare)
    assert owned_gpu_hour_usd(0, 1.0, 0.5, Amortization.STRAIGHT_LINE, 1) == 0.0


@pytest.mark.parametrize(("purchase", "overhead", "network", "years"), [
    (-1.0, 1.5, 0.2, 4.0),
    (1.0, 0.99, 0.2, 4.0),
    (1.0, 1.5, -0.01, 4.0),
    (1.0, 1.5, 1.0, 4.0),
    (1.0, 1.5, 0.2, 0.0),
    (float("nan"), 1.5, 0.2, 4.0),
])
def test_impossible_ownership_inputs_are_refused(purchase: float, overhead: float, network: float,
                                                 years: float) -> None:
    with pytest.raises(ValueError, match="server_overhead >= 1"):
        owned_gpu_hour_usd(purchase, overhead, network, Amortization.STRAIGHT_LINE, years)


# --- power -----------------------------------------------------------------------------------------------------

CHIP = Accelerator.model_validate({"name": "chip", "peak_bf16": "1 PFLOP/s", "hbm": "80 GB",
                                   "hbm_bandwidth": "3 TB/s", "tdp": "1 kW", "idle_power_fraction": 0.25,
                                   "server_power_overhead": 2.0})


def test_power_model_from_the_accelerator_by_hand() -> None:
    power = PowerModel.of(CHIP, communicating_load=0.4, down_w=50.0)
    # chip at idle 250 W, full 1000 W, linear in load, times the server overhead of 2
    assert (power.computing_w, power.idle_w, power.down_w) == (2000.0, 500.0, 50.0)
    assert power.communicating_w == pytest.approx((250 + 750 * 0.4) * 2)


def test_power_model_needs_a_tdp() -> None:
    no_tdp = CHIP.model_copy(update={"tdp_w": None})
    with pytest.raises(ValueError, match="has no tdp"):
        PowerModel.of(no_tdp, 0.4, 0.0)
    assert PowerModel.of(no_tdp, 0.4, 0.0, average_w=700.0).communicating_w == 700.0  # a measured average will do


@settings(max_examples=200, deadline=None)
@given(compute_s=st.floats(0.0, 100.0), extra_s=st.floats(0.0, 100.0))
def test_step_power_is_a_mix_of_computing_and_communicating(compute_s: float, extra_s: float) -> None:
    power = PowerModel(computing_w=1200.0, communicating_w=700.0, idle_w=300.0, down_w=0.0)
    total_s = compute_s + extra_s
    watts = power.step_w(compute_s, total_s)
    assert 700.0 - 1e-9 <= watts <= 1200.0 + 1e-9
    if total_s > 0:
        # the energy of the step is each part's time at its power
        assert watts * total_s == pytest.approx(compute_s * 1200.0 + extra_s * 700.0, rel=1e-9)


def test_step_power_edge_cases() -> None:
    power = PowerModel(computing_w=1200.0, communicating_w=700.0, idle_w=300.0, down_w=0.0)
    assert power.step_w(0.0, 0.0) == 1200.0  # an empty step counts as computing
    assert power.step_w(5.0, 4.0) == 1200.0  # compute longer than the step is clipped to all of it
    assert power.step_w(0.0, 4.0) == 700.0


# --- network power ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("gbps", "modules_per_end"), [(100.0, 1), (400.0, 1), (400.0000001, 1), (401.0, 2),
                                                       (800.0, 2), (1600.0, 4), (1601.0, 5)])
def test_one_transceiver_per_400_gbps_at_each_end(gbps: float, modules_per_end: int) -> None:
    assert network_power_w(0, [gbps], 0.0, 10.0) == pytest.approx(2 * modules_per_end * 10.0)


def test_switches_and_links_add() -> None:
    assert network_power_w(3, [], 750.0, 9.0) == 2250.0
    assert network_power_w(3, [400.0] * 10, 750.0, 9.0) == 2250.0 + 20 * 9.0


@settings(max_examples=100, deadline=None)
@given(links=st.lists(st.floats(1.0, 3200.0), max_size=20), more=st.floats(0.0, 3200.0))
def test_network_power_never_falls_when_a_link_gets_faster(links: list[float], more: float) -> None:
    base = network_power_w(2, links, 500.0, 12.0)
    assert network_power_w(2, [*links, more], 500.0, 12.0) >= base
    if links:
        faster = [links[0] + more, *links[1:]]
        assert network_power_w(2, faster, 500.0, 12.0) >= base


# --- prices -----------------------------------------------------------------------------------------------------


def test_a_bill_by_hand() -> None:
    prices = Prices(gpu_hour_usd=2.0, electricity_usd_per_kwh=0.10, pue=1.25, carbon_kg_per_kwh=0.4)
    kwh = prices.facility_kwh(3.6e6 * 8)  # 8 kWh of IT energy
    assert kwh == pytest.approx(10.0)
    assert prices.cost_usd(gpu_seconds=3 * 3600.0, facility_kwh=kwh) == pytest.approx(3 * 2.0 + 10 * 0.10)
    assert prices.tco2e(kwh) == pytest.approx(0.004)
    assert Prices(2.0, 0.1, 1.25).tco2e(kwh) is None  # carbon not set: no figure, not 0


@settings(max_examples=100, deadline=None)
@given(gpu_s=st.floats(0.0, 1e9), kwh=st.floats(0.0, 1e9), rate=st.floats(0.0, 100.0), power=st.floats(0.0, 1.0))
def test_cost_is_gpu_time_plus_electricity(gpu_s: float, kwh: float, rate: float, power: float) -> None:
    prices = Prices(gpu_hour_usd=rate, electricity_usd_per_kwh=power, pue=1.1)
    whole = prices.cost_usd(gpu_s, kwh)
    assert whole == pytest.approx(prices.cost_usd(gpu_s, 0.0) + prices.cost_usd(0.0, kwh), rel=1e-12, abs=1e-9)
    halves = prices.cost_usd(gpu_s / 2, kwh / 2) * 2
    assert whole == pytest.approx(halves, rel=1e-12, abs=1e-9)
