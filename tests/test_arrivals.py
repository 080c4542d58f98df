"""Arrival processes, trace replay and token-length samplers (simulator/models/workload/arrivals.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.models.workload.arrivals import (
    TraceError,
    diurnal_arrivals_s,
    empirical_lengths,
    fixed_lengths,
    gamma_arrivals_s,
    load_trace,
    lognormal_lengths,
    poisson_arrivals_s,
    uniform_lengths,
)
from tests.conftest import ROOT, data_file

# Azure's 2023 LLM traces: the conversation hour whole (the scenarios' copy), the code hour one request in ten
AZURE = {"conv": ROOT / "scenarios" / "traces" / "azure_llm_2023_conv.csv",
         "code": data_file("azure_llm_2023", "code-every-10th.csv")}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_poisson_mean_gap_and_order() -> None:
    rate_per_s, count = 4.0, 20_000
    times = poisson_arrivals_s(rate_per_s, count, rng(1))
    assert times.shape == (count,)
    assert times[0] > 0
    assert np.all(np.diff(times) > 0)
    gaps = np.diff(times, prepend=0.0)
    standard_error = (1 / rate_per_s) / math.sqrt(count)  # exponential: sd = mean
    assert abs(gaps.mean() - 1 / rate_per_s) < 4 * standard_error


@settings(max_examples=200, deadline=None)
@given(
    rate_per_s=st.floats(0.01, 1000, allow_nan=False),
    count=st.integers(1, 500),
    seed=st.integers(0, 2**32 - 1),
)
def test_poisson_sorted_and_positive(rate_per_s: float, count: int, seed: int) -> None:
    times = poisson_arrivals_s(rate_per_s, count, rng(seed))
    assert len(times) == count
    assert np.all(times > 0)
    assert np.all(np.diff(times) >= 0)


@pytest.mark.parametrize("cv", [1.0, 3.0])
def test_gamma_gap_mean_and_cv(cv: float) -> None:
    rate_per_s, count = 2.0, 50_000
    gaps = np.diff(gamma_arrivals_s(rate_per_s, cv, count, rng(2)), prepend=0.0)
    assert np.all(gaps >= 0)
    assert abs(gaps.std() / gaps.mean() - cv) < 0.05 * cv
    standard_error = cv * (1 / rate_per_s) / math.sqrt(count)
    assert abs(gaps.mean() - 1 / rate_per_s) < 4 * standard_error


def test_diurnal_share_follows_rate_curve() -> None:
    period_s = 100.0
    times = diurnal_arrivals_s([1.0, 3.0], period_s, 40_000, rng(3))
    assert np.all(np.diff(times) > 0)
    high = np.mod(times, period_s) >= period_s / 2
    assert abs(high.mean() - 0.75) < 0.01
    # Mean rate is 2/s, so 40000 arrivals take about 20000 s.
    assert times[-1] == pytest.approx(20_000, rel=0.03)


def test_diurnal_zero_rate_slot_is_empty() -> None:
    period_s = 10.0
    times = diurnal_arrivals_s([0.0, 2.0], period_s, 5_000, rng(4))
    assert np.all(np.mod(times, period_s) >= period_s / 2)


def test_same_seed_same_arrays() -> None:
    draws: list[Callable[[np.random.Generator], np.ndarray[Any, Any]]] = [
        lambda g: poisson_arrivals_s(3.0, 100, g),
        lambda g: gamma_arrivals_s(3.0, 2.0, 100, g),
        lambda g: diurnal_arrivals_s([1.0, 0.0, 5.0], 60.0, 100, g),
        lambda g: uniform_lengths(1, 10, 100, g),
        lambda g: lognormal_lengths(100, 1.0, 100, g),
        lambda g: empirical_lengths(np.array([3, 7, 9]), 100, g),
    ]
    for draw in draws:
        np.testing.assert_array_equal(draw(rng(7)), draw(rng(7)))
        assert not np.array_equal(draw(rng(7)), draw(rng(8)))


@pytest.mark.parametrize(
    "call",
    [
        lambda: poisson_arrivals_s(0.0, 10, rng()),
        lambda: poisson_arrivals_s(1.0, -1, rng()),
        lambda: gamma_arrivals_s(1.0, 0.0, 10, rng()),
        lambda: diurnal_arrivals_s([0.0, 0.0], 10.0, 10, rng()),
        lambda: diurnal_arrivals_s([1.0, -1.0], 10.0, 10, rng()),
        lambda: diurnal_arrivals_s([1.0], 0.0, 10, rng()),
        lambda: fixed_lengths(0, 10),
        lambda: uniform_lengths(5, 4, 10, rng()),
        lambda: lognormal_lengths(0.0, 1.0, 10, rng()),
        lambda: lognormal_lengths(10.0, 1.0, 10, rng(), minimum=5, maximum=4),
        lambda: empirical_lengths(np.array([], dtype=np.int64), 10, rng()),
        lambda: empirical_lengths(np.array([1, 0]), 10, rng()),
    ],
)
def test_bad_arguments_raise(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


TRACE_CSV = """TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:15:46.6805900,374,44
2023-11-16 18:15:50.9951690,396,109
2023-11-16 18:15:50.9951691,10,1
2023-11-16 18:16:01.0000000,20,2
"""


def test_load_trace_timestamps(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path / "t.csv", TRACE_CSV))
    expected_s = [0.0, 4.3145790, 4.3145791, 14.3194100]
    np.testing.assert_allclose(trace.arrival_s, expected_s, rtol=0, atol=1e-6)
    assert trace.arrival_s[0] == 0.0
    assert trace.arrival_s[2] > trace.arrival_s[1]  # 100 ns apart
    np.testing.assert_array_equal(trace.input_tokens, [374, 396, 10, 20])
    np.testing.assert_array_equal(trace.output_tokens, [44, 109, 1, 2])
    assert trace.input_tokens.dtype == np.int64 and trace.output_tokens.dtype == np.int64

    fast = load_trace(tmp_path / "t.csv", time_scale=0.5)
    np.testing.assert_allclose(fast.arrival_s, np.array(expected_s) / 2, rtol=0, atol=1e-6)

    first_two = load_trace(tmp_path / "t.csv", limit=2)
    np.testing.assert_allclose(first_two.arrival_s, expected_s[:2], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(first_two.input_tokens, [374, 396])


def test_load_trace_sorts_stably_numeric_seconds(tmp_path: Path) -> None:
    text = "t,in,out\n5.5,1,10\n2.0,2,20\n\n5.5,3,30\n3.0,4,40\n"
    trace = load_trace(write(tmp_path / "t.csv", text), time_column="t", input_column="in", output_column="out")
    np.testing.assert_allclose(trace.arrival_s, [0.0, 1.0, 3.5, 3.5])
    np.testing.assert_array_equal(trace.input_tokens, [2, 4, 1, 3])
    np.testing.assert_array_equal(trace.output_tokens, [20, 40, 10, 30])


def test_load_trace_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "TIMESTAMP,ContextTokens,Output\n0,1,1\n")
    with pytest.raises(TraceError, match="GeneratedTokens") as error:
        load_trace(path)
    assert "Output" in str(error.value)  # lists what is there


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("2023-11-16 18:15:4x.1,1,1", ["line 3", "TIMESTAMP", "18:15:4x"]),
        ("2023-11-16 18:15:47.12ab,1,1", ["line 3", "TIMESTAMP"]),
        ("2023-11-16T18:15:47+01:00,1,1", ["line 3", "time zone"]),
        ("nan,1,1", ["line 3", "TIMESTAMP"]),
        ("2023-11-16 18:15:47,1.5,1", ["line 3", "ContextTokens", "1.5"]),
        ("2023-11-16 18:15:47,1,many", ["line 3", "GeneratedTokens", "many"]),
        ("2023-11-16 18:15:47,1,-4", ["line 3", "negative"]),
        ("2023-11-16 18:15:47,1", ["line 3", "2 fields"]),
    ],
)
def test_load_trace_bad_value(tmp_path: Path, row: str, words: list[str]) -> None:
    path = write(tmp_path / "t.csv", f"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1,1\n{row}\n")
    with pytest.raises(TraceError) as error:
        load_trace(path)
    for word in words:
        assert word in str(error.value)


@pytest.mark.parametrize("text", ["", "TIMESTAMP,ContextTokens,GeneratedTokens\n"])
def test_load_trace_empty(tmp_path: Path, text: str) -> None:
    with pytest.raises(TraceError, match=r"empty|no data rows"):
        load_trace(write(tmp_path / "t.csv", text))


@pytest.mark.parametrize("kwargs", [{"time_scale": 0.0}, {"limit": 0}])
def test_load_trace_bad_options(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        load_trace(write(tmp_path / "t.csv", TRACE_CSV), **kwargs)


def test_azure_traces(capsys: pytest.CaptureFixture[str]) -> None:
    for name, path in AZURE.items():
        trace = load_trace(path)
        rows = len(path.read_text(encoding="utf-8").splitlines()) - 1
        assert len(trace.arrival_s) == len(trace.input_tokens) == len(trace.output_tokens) == rows
        assert trace.arrival_s[0] == 0.0
        assert np.all(np.diff(trace.arrival_s) >= 0)
        if name == "conv":
            assert np.median(trace.input_tokens) > 0
            assert np.median(trace.output_tokens) > 0
        assert 0.5 * 3600 < trace.arrival_s[-1] < 2 * 3600  # a one-hour sample (the code slice keeps its last row)
    assert capsys.readouterr() == ("", "")


def test_fixed_and_uniform_lengths() -> None:
    np.testing.assert_array_equal(fixed_lengths(7, 3), [7, 7, 7])
    assert fixed_lengths(7, 3).dtype == np.int64
    lengths = uniform_lengths(3, 6, 10_000, rng(5))
    assert lengths.dtype == np.int64 and len(lengths) == 10_000
    assert set(lengths.tolist()) == {3, 4, 5, 6}  # both ends included


def test_lognormal_lengths() -> None:
    lengths = lognormal_lengths(500, 1.0, 20_000, rng(6))
    assert lengths.dtype == np.int64 and lengths.min() >= 1
    assert abs(np.median(lengths) - 500) < 0.05 * 500
    clipped = lognormal_lengths(500, 2.0, 20_000, rng(6), minimum=50, maximum=2000)
    assert clipped.min() == 50 and clipped.max() == 2000


def test_empirical_lengths_only_source_values() -> None:
    source = np.array([5, 17, 17, 300])
    lengths = empirical_lengths(source, 1_000, rng(7))
    assert lengths.dtype == np.int64 and len(lengths) == 1_000
    assert set(lengths.tolist()) == {5, 17, 300}
