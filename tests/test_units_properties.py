"""Properties of simulator/units.py beyond the examples of tests/test_units.py: formatted text parses back to
the value it shows, digit grouping, bit/byte and prefix identities, and no input string raises anything but a
QuantityError or yields a non-finite number."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.units import Dimension, QuantityError, format_count, format_si, parse_quantity

D = Dimension
THREE_FIGURES = 5e-3  # what rounding to 3 significant figures may lose
MAGNITUDES = st.floats(1e-6, 1e11, allow_nan=False)  # within every dimension's limit (units.LIMITS)
SIGNED = st.one_of(MAGNITUDES, MAGNITUDES.map(lambda x: -x))


@pytest.mark.parametrize(("value", "text"), [
    (2.6e10, "26B"), (1.5e6, "1.5M"), (405e9, "405B"), (15.6e12, "15.6T"), (2e15, "2P"), (4096, "4.1k"),
    (999, "999"), (0.5, "0.5"), (-2000, "-2k"), (0, "0"),
])
def test_format_count_by_hand(value: float, text: str) -> None:
    assert format_count(value) == text


@settings(max_examples=300, deadline=None)
@given(value=SIGNED)
def test_a_formatted_count_reads_back_as_the_count_it_shows(value: float) -> None:
    back = parse_quantity(format_count(value), D.COUNT)
    assert back == pytest.approx(value, rel=THREE_FIGURES)


@settings(max_examples=300, deadline=None)
@given(value=SIGNED, unit=st.sampled_from([("B", D.BYTES, False), ("B", D.BYTES, True), ("B/s", D.BANDWIDTH, False),
                                           ("B/s", D.BANDWIDTH, True), ("W", D.POWER, False),
                                           ("FLOP/s", D.FLOP_RATE, False)]))
def test_formatted_si_text_reads_back_as_the_value_it_shows(value: float, unit: tuple[str, Dimension, bool]) -> None:
    name, dimension, binary = unit
    text = format_si(value, name, binary=binary)
    assert parse_quantity(text, dimension) == pytest.approx(value, rel=THREE_FIGURES)


@pytest.mark.parametrize("value", [999_999.0, 999.7, 999_600_000.0])
def test_human_text_never_shows_an_exponent_where_a_prefix_exists(value: float) -> None:
    """The prefix is chosen after rounding to 3 figures: 999,999 is '1M', not '1e+03k'."""
    assert "e+" not in format_count(value)
    assert "e+" not in format_si(value, "W")


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 10**11))
def test_digits_may_be_grouped_by_commas_or_underscores(n: int) -> None:
    for text in (f"{n:,}", f"{n:_}", f"{n:,} B", f"{n:_} s"):
        dimension = D.BYTES if text.endswith("B") else D.DURATION if text.endswith("s") else D.COUNT
        assert parse_quantity(text, dimension) == float(n)


@pytest.mark.parametrize(("text", "dimension"), [("1,5", D.COUNT), ("12,34 B", D.BYTES), ("1,0000", D.COUNT),
                                                 ("1__0", D.COUNT), ("_1", D.COUNT), ("1,000.5.5 s", D.DURATION)])
def test_malformed_grouping_is_refused(text: str, dimension: Dimension) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text, dimension)


@pytest.mark.parametrize(("left", "right", "dimension"), [
    ("8 Gbps", "1 GB/s", D.BANDWIDTH),
    ("8 Gbit/s", "1 GBps", D.BANDWIDTH),
    ("8 Tb", "1 TB", D.BYTES),
    ("1 KiB", "1024 B", D.BYTES),
    ("1 GiB/s", "1073741824 B/s", D.BANDWIDTH),
    ("1 week", "7 days", D.DURATION),
    ("1 y", "365.25 d", D.DURATION),
    ("90 min", "1.5 h", D.DURATION),
    ("1e3 ms", "1 s", D.DURATION),
    ("1 kW", "1000 W", D.POWER),
    ("1 PFLOP/s", "1000 TFLOPS", D.FLOP_RATE),
    ("1 Ki", "1024", D.COUNT),
    ("1B", "1G", D.COUNT),
    ("+5 s", "5 s", D.DURATION),
])
def test_unit_identities(left: str, right: str, dimension: Dimension) -> None:
    assert parse_quantity(left, dimension) == pytest.approx(parse_quantity(right, dimension), rel=1e-15)


def test_a_leading_minus_negates() -> None:
    assert parse_quantity("-5 s", D.DURATION) == -5.0
    assert parse_quantity("-1.5 kW", D.POWER) == -1500.0


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=20),
                      st.from_regex(r"\A[-+]?[0-9_,.]{0,8}([eE][-+]?[0-9]{1,4})?\s?[A-Za-zµ/]{0,7}\Z")),
       dimension=st.sampled_from(list(Dimension)))
def test_any_string_is_a_finite_number_or_a_quantity_error(text: str, dimension: Dimension) -> None:
    try:
        value = parse_quantity(text, dimension)
    except QuantityError as err:
        assert str(err)
    else:
        assert isinstance(value, float) and math.isfinite(value)
