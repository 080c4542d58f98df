"""Pipeline schedules (simulator/models/workload/pipeline.py): stage splits, bubbles and in-flight counts
against the formulas of Narayanan et al. 2021, Qi et al. 2024 (zero bubble) and DeepSeek-V3's Table 2."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.models.workload.pipeline import (
    Schedule,
    StageTimes,
    bubble_s,
    drain_slack_s,
    fill_slack_s,
    in_flight,
    stage_layers,
)


def uniform(pp: int, f: float = 1.0, b: float = 2.0, w: float = 1.0) -> StageTimes:
    return StageTimes(np.full(pp, f), np.full(pp, b), np.full(pp, w))


@given(st.integers(1, 512), st.integers(1, 64), st.data())
def test_stage_layers_add_up_and_differ_by_at_most_one(layers: int, pp: int, data: st.DataObject) -> None:
    pp = min(pp, layers)
    split = stage_layers(layers, pp)
    assert sum(split) == layers and len(split) == pp
    assert max(split) - min(split) <= 1 and list(split) == sorted(split, reverse=True)
    if pp >= 3:
        first = data.draw(st.integers(0, layers // pp))
        last = data.draw(st.integers(0, layers // pp))
        uneven = stage_layers(layers, pp, first, last)
        assert (uneven[0], uneven[-1], sum(uneven)) == (first, last, layers)


def test_llama3_split() -> None:
    """126 layers on 16 stages with one layer fewer on the first and last (Llama 3, sec. 3.3.2)."""
    assert stage_layers(126, 16, 7, 7) == (7, *[8] * 14, 7)


@pytest.mark.parametrize("pp", [2, 4, 16])
def test_bubbles_match_the_published_formulas(pp: int) -> None:
    f, b, w = 1.0, 2.0, 0.9
    times = uniform(pp, f, b, w)
    assert bubble_s(Schedule.ONE_F_ONE_B, times, 1) == pytest.approx((pp - 1) * (f + b))
    assert bubble_s(Schedule.INTERLEAVED, times, 4) == pytest.approx((pp - 1) * (f + b) / 4)
    assert bubble_s(Schedule.ZERO_BUBBLE, times, 1) == pytest.approx((pp - 1) * (f + b - 2 * w))
    assert bubble_s(Schedule.DUALPIPE, times, 1) == pytest.approx((pp / 2 - 1) * (f + b + b - 3 * w))
    assert bubble_s(Schedule.ONE_F_ONE_B, uniform(1), 1) == 0.0


def test_uneven_stages_wait_for_the_slowest() -> None:
    times = StageTimes(np.array([1.0, 2.0, 1.0]), np.array([2.0, 4.0, 2.0]), np.zeros(3))
    # the slowest stage (6 s a micro-batch) waits for the other two once: 3 + 3
    assert bubble_s(Schedule.ONE_F_ONE_B, times, 1) == pytest.approx(6.0)


def test_in_flight_per_schedule() -> None:
    pp = 8
    assert in_flight(Schedule.ONE_F_ONE_B, pp, 1, 32).tolist() == list(range(pp, 0, -1))
    assert in_flight(Schedule.ONE_F_ONE_B, pp, 1, 3).tolist() == [3, 3, 3, 3, 3, 3, 2, 1]
    assert in_flight(Schedule.ZERO_BUBBLE, pp, 1, 32).tolist() == in_flight(Schedule.ONE_F_ONE_B, pp, 1, 32).tolist()
    assert in_flight(Schedule.DUALPIPE, pp, 1, 32).tolist() == [pp + 1] * pp
    inter = in_flight(Schedule.INTERLEAVED, pp, 2, 32)
    assert inter[0] == pytest.approx((2 * (pp - 1) + pp + 1) / 2)
    assert in_flight(Schedule.INTERLEAVED, pp, 2, 2)[0] == 2  # never more than the step's micro-batches


def test_slack_before_and_after() -> None:
    times = StageTimes(np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]), np.zeros(3))
    assert drain_slack_s(Schedule.ONE_F_ONE_B, times).tolist() == [0.0, 4.0, 9.0]
    assert drain_slack_s(Schedule.DUALPIPE, times).tolist() == [0.0, 0.0, 0.0]
    assert fill_slack_s(times).tolist() == [0.0, 1.0, 3.0]
