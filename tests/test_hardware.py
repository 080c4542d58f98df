"""The accelerator specification (simulator/models/hardware.py): unit strings in, SI out, peaks by precision,
power between idle and full load, dated prices, and invariants every catalog entry keeps."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulator.catalog import accelerators
from simulator.models.hardware import Accelerator, Precision, Price, PriceKind, SourceStatus

FIELDS: dict[str, Any] = {"name": "chip", "peak_bf16": "989 TFLOP/s", "peak_fp8": "1979 TFLOP/s", "hbm": "80 GiB",
                          "hbm_bandwidth": "3.35 TB/s", "scale_up_bandwidth": "450 GB/s",
                          "nic_bandwidth": "400 Gbps", "tdp": "700 W"}


def chip(**changes: Any) -> Accelerator:
    return Accelerator.model_validate(FIELDS | changes)


def price(kind: str, date: str, usd: float = 1.0) -> dict[str, Any]:
    return {"kind": kind, "usd": usd, "offer": f"offer of {date}", "date": date, "source": "test"}


def test_yaml_keys_with_units_become_si_attributes() -> None:
    acc = chip()
    assert acc.peak_bf16_flops == 989e12 and acc.peak_fp8_flops == 1979e12
    assert acc.hbm_bytes == 80 * 2**30 and acc.hbm_bandwidth_bytes_per_s == 3.35e12
    assert acc.scale_up_bandwidth_bytes_per_s == 450e9 and acc.nic_bandwidth_bytes_per_s == 50e9
    assert acc.tdp_w == 700.0
    assert acc.status is SourceStatus.USER and acc.prices == () and acc.kernel_overhead_s == 8e-6
    assert chip(kernel_overhead="5 us").kernel_overhead_s == pytest.approx(5e-6)


@pytest.mark.parametrize(("changes", "message"), [
    ({"peak_fp8": "500 TFLOP/s"}, "peak_fp8 must not be below peak_bf16"),
    ({"peak_bf16": 0}, "greater than 0"),
    ({"hbm": "80 GB/s"}, "unknown unit"),
    ({"tdp": -1}, "greater than 0"),
    ({"idle_power_fraction": 0}, "greater than 0"),
    ({"server_power_overhead": 0.9}, "greater than or equal to 1"),
    ({"matmul_efficiency": 1.2}, "less than or equal to 1"),
    ({"launch_year": 1999}, "greater than or equal to 2000"),
    ({"hbm_size": "80 GB"}, "Extra inputs are not permitted"),
])
def test_impossible_chips_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        chip(**changes)


def test_entries_are_frozen() -> None:
    acc = chip()
    with pytest.raises(ValidationError):
        acc.tdp_w = 1.0  # type: ignore[misc]


def test_fp8_may_equal_bf16_and_may_be_absent() -> None:
    assert chip(peak_fp8="989 TFLOP/s").peak_flops(Precision.FP8) == 989e12
    no_fp8 = chip(peak_fp8=None)
    assert no_fp8.peak_flops(Precision.FP8) is None
    assert no_fp8.peak_flops(Precision.BF16) == no_fp8.peak_flops(Precision.FP16) == 989e12


def test_power_by_hand() -> None:
    acc = chip(idle_power_fraction=0.2, server_power_overhead=1.5)
    assert acc.power_w(0.0) == pytest.approx(700 * 0.2 * 1.5)
    assert acc.power_w(1.0) == pytest.approx(700 * 1.5)
    assert acc.power_w(0.5) == pytest.approx(700 * 0.6 * 1.5)
    with pytest.raises(ValueError, match="chip has no tdp"):
        chip(tdp=None).power_w(0.5)


@settings(max_examples=100, deadline=None)
@given(idle=st.floats(0.01, 1.0), overhead=st.floats(1.0, 5.0), low=st.floats(0.0, 1.0), high=st.floats(0.0, 1.0))
def test_power_is_linear_and_never_falls_with_load(idle: float, overhead: float, low: float, high: float) -> None:
    acc = chip(idle_power_fraction=idle, server_power_overhead=overhead)
    low, high = min(low, high), max(low, high)
    assert acc.power_w(low) <= acc.power_w(high) + 1e-9
    mid = (low + high) / 2
    assert acc.power_w(mid) == pytest.approx((acc.power_w(low) + acc.power_w(high)) / 2, rel=1e-12)


# --- prices ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("date", ["2025", "2025-03", "2021-06..2025-03", "2023..2025", "2024-12..2025"])
def test_price_dates_may_be_a_month_a_year_or_a_range(date: str) -> None:
    assert Price.model_validate(price("spot", date)).date == date


@pytest.mark.parametrize("date", ["2025/03", "March 2025", "2025-3", "25-03", "2025-03..", "..2025", ""])
def test_other_date_forms_are_rejected(date: str) -> None:
    with pytest.raises(ValidationError, match="date"):
        Price.model_validate(price("spot", date))


def test_prices_are_positive_and_of_a_known_kind() -> None:
    with pytest.raises(ValidationError, match="usd"):
        Price.model_validate(price("spot", "2025", usd=0.0))
    with pytest.raises(ValidationError, match="kind"):
        Price.model_validate(price("lease", "2025"))


def test_the_latest_price_is_the_one_whose_range_ends_last() -> None:
    acc = chip(prices=[price("on_demand", "2024-09", 2.99), price("on_demand", "2021-06..2025-03", 4.1),
                       price("on_demand", "2025-01", 3.5), price("purchase", "2026-01", 30_000.0)])
    latest = acc.latest_price(PriceKind.ON_DEMAND)
    assert latest is not None and latest.usd == 4.1  # the range runs to 2025-03
    bought = acc.latest_price(PriceKind.PURCHASE)
    assert bought is not None and bought.usd == 30_000.0
    assert acc.latest_price(PriceKind.SPOT) is None


# --- every catalog entry ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(accelerators()))
def test_catalog_entries_keep_the_invariants(name: str) -> None:
    acc = accelerators()[name]
    assert acc.name == name and acc.status is not SourceStatus.USER and acc.sources
    fp8 = acc.peak_flops(Precision.FP8)
    assert fp8 is None or fp8 >= acc.peak_bf16_flops
    # a chip reads its own memory faster than its NIC can feed it
    if acc.nic_bandwidth_bytes_per_s is not None:
        assert acc.hbm_bandwidth_bytes_per_s > acc.nic_bandwidth_bytes_per_s
    if acc.tdp_w is not None:
        assert 0 < acc.power_w(0.0) < acc.power_w(1.0) == pytest.approx(acc.tdp_w * acc.server_power_overhead)
    for kind in {p.kind for p in acc.prices}:
        latest = acc.latest_price(kind)
        assert latest is not None and latest.kind is kind
        ends = [p.date.split("..")[-1] for p in acc.prices if p.kind is kind]
        assert latest.date.split("..")[-1] == max(ends)
