"""simulator/units.py: one parser for every quantity, SI out, clear errors for everything else."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from simulator.units import (
    _UNITS,
    LIMITS,
    Bandwidth,
    Bytes,
    Count,
    Dimension,
    Duration,
    FlopRate,
    PositiveBandwidth,
    Power,
    QuantityError,
    format_si,
    parse_quantity,
)

D = Dimension

# (text or number, dimension, expected SI value); every example the module documents, plus neighbours.
CASES: list[tuple[Any, Dimension, float]] = [
    # count
    ("26B", D.COUNT, 26e9),
    ("1M", D.COUNT, 1e6),
    ("15.6T", D.COUNT, 15.6e12),
    ("4096", D.COUNT, 4096.0),
    ("1Mi", D.COUNT, 2.0**20),
    ("2k", D.COUNT, 2e3),
    ("3 G", D.COUNT, 3e9),
    ("1_000_000", D.COUNT, 1e6),
    ("1,000,000", D.COUNT, 1e6),
    ("1e6", D.COUNT, 1e6),
    (".5K", D.COUNT, 500.0),
    # bytes
    ("80 GiB", D.BYTES, 80 * 2**30),
    ("40 GB", D.BYTES, 40e9),
    ("512 MiB", D.BYTES, 512 * 2**20),
    ("1 TB", D.BYTES, 1e12),
    ("8 bit", D.BYTES, 1.0),
    ("16 Gb", D.BYTES, 2e9),
    ("1,024 B", D.BYTES, 1024.0),
    # bandwidth
    ("200 Gbps", D.BANDWIDTH, 25e9),
    ("400 Gb/s", D.BANDWIDTH, 50e9),
    ("50 GB/s", D.BANDWIDTH, 50e9),
    ("3.35 TB/s", D.BANDWIDTH, 3.35e12),
    ("900 GBps", D.BANDWIDTH, 900e9),
    ("1 GiB/s", D.BANDWIDTH, 2.0**30),
    ("100 Mbit/s", D.BANDWIDTH, 12.5e6),
    # duration
    ("90 s", D.DURATION, 90.0),
    ("30 min", D.DURATION, 1800.0),
    ("4 h", D.DURATION, 14400.0),
    ("54 d", D.DURATION, 54 * 86400.0),
    ("2 weeks", D.DURATION, 2 * 604800.0),
    ("1 y", D.DURATION, 365.25 * 86400.0),
    ("250 ms", D.DURATION, 0.25),
    ("5 us", D.DURATION, 5e-6),
    ("5 µs", D.DURATION, 5e-6),
    ("10 ns", D.DURATION, 1e-8),
    ("  7   hours  ", D.DURATION, 7 * 3600.0),
    # FLOP rate
    ("989 TFLOP/s", D.FLOP_RATE, 989e12),
    ("1.2 PFLOP/s", D.FLOP_RATE, 1.2e15),
    ("312 TFLOPS", D.FLOP_RATE, 312e12),
    ("19.5 Tflops", D.FLOP_RATE, 19.5e12),
    # power
    ("700 W", D.POWER, 700.0),
    ("10.2 kW", D.POWER, 10.2e3),
    ("1.5 MW", D.POWER, 1.5e6),
    # plain numbers are already SI, in every dimension
    (3, D.COUNT, 3.0),
    (25e9, D.BANDWIDTH, 25e9),
    (80.5, D.BYTES, 80.5),
    (0, D.DURATION, 0.0),
    (-1.5, D.POWER, -1.5),
    (989e12, D.FLOP_RATE, 989e12),
]


@pytest.mark.parametrize(("value", "dimension", "expected"), CASES)
def test_parse_examples(value: Any, dimension: Dimension, expected: float) -> None:
    got = parse_quantity(value, dimension)
    assert isinstance(got, float)
    assert math.isclose(got, expected, rel_tol=1e-12), (value, got, expected)


@pytest.mark.parametrize(
    ("value", "dimension"),
    [
        ("80 GiB", D.DURATION),  # another dimension's unit
        ("30 min", D.BYTES),
        ("200 Gbps", D.BYTES),
        ("40 GB", D.BANDWIDTH),
        ("989 TFLOP/s", D.POWER),
        ("700 W", D.FLOP_RATE),
        ("26B", D.DURATION),
        ("5 parsecs", D.DURATION),  # unknown unit
        ("12 GiB", D.COUNT),
        ("1 KiW", D.POWER),  # binary prefixes only for bytes and counts
        ("1 Gibps", D.BANDWIDTH),  # bits take decimal prefixes only
        ("", D.COUNT),
        ("   ", D.BYTES),
        ("GB", D.BYTES),
        ("nan", D.COUNT),
        ("inf", D.DURATION),
        ("-inf s", D.DURATION),
        ("1e400 B", D.BYTES),  # overflows to inf
        ("1.2.3 s", D.DURATION),
        (True, D.COUNT),
        (False, D.BYTES),
        (None, D.BANDWIDTH),
        ([1, 2], D.COUNT),
        (["80 GiB"], D.BYTES),
        ({"value": 1}, D.POWER),
        (float("nan"), D.COUNT),
        (float("inf"), D.BANDWIDTH),
        (-float("inf"), D.DURATION),
    ],
)
def test_rejections(value: Any, dimension: Dimension) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(value, dimension)


def test_quantity_error_is_a_value_error_and_names_examples() -> None:
    with pytest.raises(ValueError, match="unknown unit 'GiB'") as info:
        parse_quantity("80 GiB", D.DURATION)
    assert "30 min" in str(info.value)  # the message teaches the right form


def test_every_dimension_has_its_si_unit_at_scale_one() -> None:
    si = {D.COUNT: "", D.BYTES: "B", D.BANDWIDTH: "B/s", D.DURATION: "s", D.FLOP_RATE: "FLOP/s", D.POWER: "W"}
    assert set(si) == set(Dimension)
    for dimension, unit in si.items():
        assert parse_quantity(f"7 {unit}", dimension) == 7.0


@pytest.mark.parametrize(
    ("value", "unit", "binary", "expected"),
    [
        (8.6e10, "B", True, "80.1 GiB"),
        (80 * 2**30, "B", True, "80 GiB"),
        (25e9, "B/s", False, "25 GB/s"),
        (989e12, "FLOP/s", False, "989 TFLOP/s"),
        (10.2e3, "W", False, "10.2 kW"),
        (1.5e18, "FLOP", False, "1.5 EFLOP"),
        (0.5, "s", False, "0.5 s"),
        (999.0, "W", False, "999 W"),
        (512.0, "B", True, "512 B"),
        (-2e3, "W", False, "-2 kW"),
    ],
)
def test_format_si(value: float, unit: str, binary: bool, expected: str) -> None:
    assert format_si(value, unit, binary=binary) == expected


@pytest.mark.parametrize("text", ["80 GiB", "40 GB", "512 MiB", "1.5 TiB"])
def test_format_si_round_trips_through_the_parser(text: str) -> None:
    value = parse_quantity(text, D.BYTES)
    binary = "i" in text
    assert math.isclose(parse_quantity(format_si(value, "B", binary=binary), D.BYTES), value, rel_tol=5e-3)


# --- hypothesis properties -------------------------------------------------------------------------------

FINITE = st.floats(min_value=0.0, max_value=1e200, allow_nan=False, allow_infinity=False)
UNIT_OF_A_DIMENSION = st.sampled_from(list(Dimension)).flatmap(
    lambda d: st.tuples(st.just(d), st.sampled_from(sorted(_UNITS[d].items())))
)


@settings(max_examples=300, deadline=None)
@given(x=FINITE, unit=UNIT_OF_A_DIMENSION)
def test_number_with_any_unit_scales_by_that_unit(x: float, unit: tuple[Dimension, tuple[str, float]]) -> None:
    dimension, (name, scale) = unit
    if x * scale > LIMITS[dimension][0]:
        with pytest.raises(QuantityError, match="at most"):
            parse_quantity(f"{x!r} {name}", dimension)
        return
    got = parse_quantity(f"{x!r} {name}", dimension)
    assert math.isclose(got, x * scale, rel_tol=1e-12, abs_tol=0.0), (x, name, got)


@settings(max_examples=100, deadline=None)
@given(
    x=st.one_of(st.integers(min_value=-(10**11), max_value=10**11), st.floats(-1e11, 1e11)),
    dimension=st.sampled_from(list(Dimension)),
)
def test_numbers_pass_through_unchanged(x: float, dimension: Dimension) -> None:
    assert parse_quantity(x, dimension) == float(x)


@pytest.mark.parametrize("dimension", list(Dimension))
def test_magnitudes_past_a_dimensions_limit_are_refused(dimension: Dimension) -> None:
    limit, said = LIMITS[dimension]
    assert parse_quantity(limit, dimension) == limit
    for value in (limit * 1.01, -limit * 1.01, 1e300):
        with pytest.raises(QuantityError, match=f"at most {re.escape(said)}"):
            parse_quantity(value, dimension)


class _Link(BaseModel):
    bandwidth: Bandwidth


class _Everything(BaseModel):
    count: Count
    size: Bytes
    bandwidth: Bandwidth
    duration: Duration
    flops: FlopRate
    power: Power


BANDWIDTH_INPUTS = st.one_of(
    FINITE,
    st.integers(min_value=0, max_value=10**18),
    st.tuples(FINITE, st.sampled_from(sorted(_UNITS[D.BANDWIDTH]))).map(lambda t: f"{t[0]!r} {t[1]}"),
)


@settings(max_examples=100, deadline=None)
@given(value=BANDWIDTH_INPUTS)
def test_pydantic_bandwidth_field_equals_parse_quantity(value: Any) -> None:
    try:
        expected = parse_quantity(value, D.BANDWIDTH)
    except QuantityError:  # past the dimension's limit: the field refuses it too
        with pytest.raises(ValidationError, match="at most"):
            _Link(bandwidth=value)
        return
    assert _Link(bandwidth=value).bandwidth == expected


def test_pydantic_fields_parse_every_dimension() -> None:
    m = _Everything(
        count="26B", size="80 GiB", bandwidth="200 Gbps", duration="30 min", flops="989 TFLOP/s", power="10.2 kW"
    )
    assert (m.count, m.size, m.bandwidth, m.duration) == (26e9, 80 * 2**30, 25e9, 1800.0)
    assert math.isclose(m.flops, 989e12) and math.isclose(m.power, 10.2e3)


@pytest.mark.parametrize("bad", ["80 GiB", True, None, [25e9], "nan", ""])
def test_pydantic_field_rejects_with_validation_error(bad: Any) -> None:
    with pytest.raises(ValidationError):
        _Link(bandwidth=bad)


def test_positive_bandwidth_rejects_zero() -> None:
    class Positive(BaseModel):
        bandwidth: PositiveBandwidth

    assert Positive(bandwidth="1 Gbps").bandwidth == 1.25e8
    with pytest.raises(ValidationError):
        Positive(bandwidth="0 Gbps")


def test_json_schema_admits_unit_strings() -> None:
    schema = _Link.model_json_schema()["properties"]["bandwidth"]
    assert {"type": "string"} in schema["anyOf"]
    assert "200 Gbps" in schema["description"]


def test_huge_integer_is_a_quantity_error() -> None:
    with pytest.raises(QuantityError):
        parse_quantity(10**400, D.COUNT)
