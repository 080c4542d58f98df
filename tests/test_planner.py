"""The planner's own arithmetic (simulator/tools/planner.py), below the CLI that tests/test_plan_cli.py drives:
input parsing and its limits, prices, the MFU fixed points, and the fat tree a planned scenario gets (the
smallest radix that holds the GPUs, checked against the topology builder)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import catalog
from simulator.models.hardware import Accelerator, PriceKind
from simulator.models.topology.build import build_network
from simulator.models.topology.shape import ClusterShape, TopologyError
from simulator.models.topology.specs import FatTreeTopology
from simulator.models.workload.scaling_laws import MFU_TOLERANCE, chinchilla_approach1, gpus_for_days
from simulator.tools import layouts, planner
from simulator.tools.planner import (
    MfuSource,
    PlanError,
    PlanRequest,
    catalog_accelerator,
    fat_tree,
    make_plan,
    on_demand_price,
    parse_count,
    parse_days,
    plan_scenario,
)

H100 = catalog.accelerator("h100-sxm")
NINETY_DAYS_S = 90 * 86400.0


# --- inputs -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("70B", 70e9), ("5.76e23", 5.76e23), ("1T", 1e12), ("300M", 300e6),
                                             ("1,000", 1000.0), ("1e35", 1e35)])
def test_counts(text: str, value: float) -> None:
    assert parse_count(text, "--compute", 1e35) == value


@pytest.mark.parametrize(("text", "message"), [("0", "--params must be positive and at most 1e+17, got '0'"),
                                               ("-5B", "must be positive"), ("2e17", "at most 1e+17"),
                                               ("lots", "--params: cannot read 'lots'"), ("7 GB", "unknown unit")])
def test_bad_counts_name_their_option(text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message.replace("+", r"\+")):
        parse_count(text, "--params", 1e17)


@pytest.mark.parametrize(("text", "days"), [("84", 84.0), ("12 weeks", 84.0), ("2160 h", 90.0), ("90 d", 90.0),
                                            ("0.5", 0.5), ("36525", 36525.0), ("1 y", 365.25)])
def test_days(text: str, days: float) -> None:
    assert parse_days(text) == pytest.approx(days, rel=1e-15)


@pytest.mark.parametrize(("text", "message"), [("0", "must be positive"), ("-3", "must be positive"),
                                               ("36526", "at most 36525 days"), ("101 y", "at most 36525 days"),
                                               ("3 parsecs", "a plain number means days"), ("nan", "must be positive")])
def test_bad_days(text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse_days(text)


def test_unknown_accelerators_suggest_a_name() -> None:
    assert catalog_accelerator("h100-sxm") is H100
    with pytest.raises(PlanError, match="did you mean 'h100-sxm'"):
        catalog_accelerator("h100-sxn")


def test_prices_given_or_from_the_catalog() -> None:
    assert on_demand_price(H100, 2.5) == (2.5, "--gpu-hour-usd")
    latest = H100.latest_price(PriceKind.ON_DEMAND)
    assert latest is not None
    usd, source = on_demand_price(H100, None)
    assert usd == latest.usd and latest.offer in source and latest.date in source
    usd, source = on_demand_price(catalog.accelerator("h100-pcie"), None)
    assert usd is None and "give --gpu-hour-usd" in source
    for bad in (0.0, -1.0, 10_001.0):
        with pytest.raises(PlanError, match="--gpu-hour-usd must be positive and at most 10000"):
            on_demand_price(H100, bad)


@pytest.mark.parametrize(("request_", "message"), [
    (PlanRequest(params="7B", gpus=0, mfu=0.4), "--gpus must be positive"),
    (PlanRequest(params="7B", gpus=10**9 + 1, mfu=0.4), "--gpus must be positive and at most 1e9"),
    (PlanRequest(budget_usd="1M", gpus=8, mfu=0.4, gpu_hour_usd=2.0), "leave out --gpus"),
    (PlanRequest(params="7B", mfu=0.0), "--mfu must be in"),
])
def test_contradictory_requests_are_refused(request_: PlanRequest, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        make_plan(request_)


def test_a_scenario_needs_a_price() -> None:
    report = make_plan(PlanRequest(params="7B", accelerator="h100-pcie", mfu=0.4))
    assert report.gpu_hour_usd is None
    with pytest.raises(PlanError, match="a scenario needs a price"):
        plan_scenario(report)


# --- MFU: given, estimated, and the fixed points ------------------------------------------------------------------


def test_a_given_mfu_is_used_everywhere() -> None:
    source = MfuSource(0.45)
    assert source(1e9, H100, 8) == source(1e12, H100, 100_000) == 0.45
    assert "--mfu 0.45" in source.source
    for bad in (0.0, 1.01, -0.2):
        with pytest.raises(PlanError, match="--mfu must be in"):
            MfuSource(bad)


def test_estimator_failures_ask_for_an_mfu(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuses(params: float, acc: Accelerator, gpus: int) -> float:
        raise ValueError("no layout fits")

    monkeypatch.setattr(planner, "estimate_mfu", refuses)
    with pytest.raises(PlanError, match="no layout fits; give --mfu"):
        MfuSource(None)(70e9, H100, 64)
    monkeypatch.setattr(planner, "estimate_mfu", lambda params, acc, gpus: 1.5)
    with pytest.raises(PlanError, match=r"is 1\.5"):
        MfuSource(None)(70e9, H100, 64)


# FLOPs that 1,025 H100s finish in 90 days at MFU 0.4: 1,367 GPUs at 0.3, 820 at 0.5
FLOPS = 1025 * NINETY_DAYS_S * H100.peak_bf16_flops * 0.4 * (1 - 1e-9)


def test_the_mfu_for_days_is_the_one_of_the_gpus_it_implies(monkeypatch: pytest.MonkeyPatch) -> None:
    def falls_with_scale(params: float, acc: Accelerator, gpus: int) -> float:
        return 0.5 if gpus < 1000 else 0.3

    monkeypatch.setattr(planner, "estimate_mfu", falls_with_scale)
    mfu = planner._mfu_for_days(FLOPS, 70e9, H100, 90.0, MfuSource(None))
    gpus = gpus_for_days(FLOPS, 90.0, H100.peak_bf16_flops, mfu).gpus
    assert (mfu, gpus) == (0.3, 1367)
    assert falls_with_scale(70e9, H100, gpus) == mfu  # a fixed point


def test_the_mfu_for_days_gives_up_after_eight_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def rises_with_scale(params: float, acc: Accelerator, gpus: int) -> float:
        calls.append(gpus)
        return 0.3 if gpus < 1000 else 0.5  # no fixed point: 1,025 -> 820 -> 1,367 -> 820 ...

    monkeypatch.setattr(planner, "estimate_mfu", rises_with_scale)
    mfu = planner._mfu_for_days(FLOPS, 70e9, H100, 90.0, MfuSource(None))
    assert calls == [1025, 820, 1367, 820, 1367, 820, 1367, 820]
    assert mfu == 0.3


def test_the_budget_compute_is_a_fixed_point_of_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    def smaller_models_run_better(params: float, acc: Accelerator, gpus: int) -> float:
        return 0.3 + 0.1 * math.pow(1e11 / params, 0.2)

    monkeypatch.setattr(planner, "estimate_mfu", smaller_models_run_better)
    law = chinchilla_approach1()
    flops = planner._budget_compute(2048, 90.0, H100, MfuSource(None), law)
    mfu = flops / (2048 * NINETY_DAYS_S * H100.peak_bf16_flops)
    estimate = smaller_models_run_better(law.params_for_compute(flops), H100, 2048)
    assert mfu <= estimate <= mfu * (1 + MFU_TOLERANCE)
    assert planner._budget_compute(2048, 90.0, H100, MfuSource(0.4), law) == pytest.approx(
        2048 * NINETY_DAYS_S * H100.peak_bf16_flops * 0.4)


def test_a_budget_whose_models_fit_nowhere_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planner, "fewest_gpus", lambda params, acc: 4096)
    with pytest.raises(PlanError, match="the budget's 2,048 GPUs hold no layout"):
        planner._budget_compute(2048, 90.0, H100, MfuSource(None), chinchilla_approach1())


def test_the_300m_budget_buys_the_compute_its_own_mfu_sustains() -> None:
    """The step model's MFU jumps between layouts (the old fixed-point iteration oscillated 740B, 880B, 830B,
    890B ... to its round cap): the compute's MFU sustains it, 0.1 % more compute's does not, and it takes
    few layout searches."""
    layouts._best_mfu.cache_clear()
    layouts._fewest_nodes.cache_clear()
    law, gpus = chinchilla_approach1(), 22_546
    flops = planner._budget_compute(gpus, 90.0, H100, MfuSource(None), law)
    searches = layouts._best_mfu.cache_info().misses
    full_speed = gpus * NINETY_DAYS_S * H100.peak_bf16_flops
    mfu = flops / full_speed
    assert layouts.estimate_mfu(law.params_for_compute(flops), H100, gpus) >= mfu
    more = mfu / (1 - MFU_TOLERANCE)  # at least the bracket's upper end
    assert layouts.estimate_mfu(law.params_for_compute(full_speed * more), H100, gpus) < more
    assert searches <= 6


# --- the fat tree of a planned cluster --------------------------------------------------------------------------


@pytest.mark.parametrize(("gpus", "tiers", "radix"), [(8, 2, 64), (2048, 2, 64), (2056, 3, 64), (65_536, 3, 64),
                                                      (65_544, 3, 66), (1_000_000, 3, 160)])
def test_fat_tree_by_hand(gpus: int, tiers: int, radix: int) -> None:
    spec = fat_tree(gpus)
    assert (spec["tiers"], spec["radix"], spec["oversubscription"]) == (tiers, radix, 1)
    FatTreeTopology.model_validate(spec)


@settings(max_examples=200, deadline=None)
@given(gpus=st.integers(2049, 10**8))
def test_three_tiers_take_the_smallest_even_radix_that_holds_the_gpus(gpus: int) -> None:
    radix = fat_tree(gpus)["radix"]
    assert radix % 2 == 0 and radix**3 // 4 >= gpus  # non-blocking: r pods of r/2 leaves of r/2 GPUs
    assert radix == 64 or (radix - 2) ** 3 // 4 < gpus


def shape(gpus: int) -> ClusterShape:
    return ClusterShape(gpus // 8, 8, H100.scale_up_bandwidth_bytes_per_s or 0.0, 50e9, True)


@pytest.mark.parametrize("gpus", [2048, 2056, 16_384])
def test_the_planned_fat_tree_builds_and_two_tiers_stop_at_2048_gpus(gpus: int) -> None:
    net = build_network(FatTreeTopology.model_validate(fat_tree(gpus)), shape(gpus))
    assert net.gpus == gpus and net.kind == "fat_tree"
    assert net.notes.get("pods", 0) <= fat_tree(gpus)["radix"]
    if gpus > 2048:  # a 2-tier tree of radix 64 joins at most 64 leaves of 32 GPUs
        two_tiers = FatTreeTopology.model_validate(fat_tree(gpus) | {"tiers": 2})
        with pytest.raises(TopologyError, match="use tiers: 3"):
            build_network(two_tiers, shape(gpus))
    assert math.ceil(gpus / 32) == net.notes["leaves"]
