"""The serving engine's compiled pricing (models/workload/iteration_prices.py) against the full iteration model it
stands for, on dense and pipelined replicas, with and without prefill chunks."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.catalog import accelerator, model
from simulator.models.hardware import Precision
from simulator.models.topology.build import build_network
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import SingleSwitchTopology
from simulator.models.workload.iteration_prices import DecodeLine, IterationPrices
from simulator.models.workload.serving_time import ReplicaIterations, ServingConfig, iteration_time, priced

NET = build_network(SingleSwitchTopology(kind="single_switch"), ClusterShape(1, 8, 450e9, 50e9, True))


def config(tp: int, pp: int) -> ServingConfig:
    return ServingConfig(model("llama2-7b"), accelerator("h100-sxm"), Precision.BF16, 2.0, tp, 0.9, 2 * 2**30, 256,
                         512, 0.0, pp=pp)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([(1, 1), (2, 1), (2, 4)]), st.integers(0, 256), st.floats(1.0, 8000.0),
       st.integers(0, 512), st.floats(1.0, 4000.0))
def test_prices_equal_the_full_iteration_model(layout: tuple[int, int], decodes: int, context: float,
                                               prefill: int, prompt: float) -> None:
    if decodes == 0 and prefill == 0:
        return
    cfg = config(*layout)
    priced_s = ReplicaIterations(cfg, NET).prices.iteration_s(decodes, context, prefill, prompt)
    assert priced_s == pytest.approx(iteration_time(cfg, NET, decodes, context, prefill, prompt).total_s, rel=1e-9)


def test_the_engine_calls_the_compiled_form_of_a_replica_model() -> None:
    iterations = ReplicaIterations(config(1, 1), NET)
    assert isinstance(priced(iterations), IterationPrices)
    assert priced(iterations) is iterations.prices  # one cache per replica model
    other = object()
    assert priced(other) is other  # type: ignore[arg-type]  # anything else answers for itself


SLOPES = st.one_of(st.just(0.0), st.floats(1e-12, 1e-6))  # seconds per token of context (never subnormal)


@given(st.floats(1e-4, 1e-2), SLOPES, st.floats(1e-4, 1e-2), SLOPES, st.floats(0.0, 5000.0), st.integers(0, 300))
def test_a_decode_line_sums_and_counts_its_iterations_as_a_walk_would(
        a_compute: float, b_compute: float, a_memory: float, b_memory: float, context: float, steps: int) -> None:
    line = DecodeLine(a_compute, b_compute, a_memory, b_memory)
    each = [max(a_compute + b_compute * (context + i), a_memory + b_memory * (context + i)) for i in range(steps)]
    assert line.span_s(context, steps) == pytest.approx(math.fsum(each), rel=1e-9, abs=1e-15)
    budget_s = math.fsum(each) / 2
    walked = next((i for i in range(steps) if math.fsum(each[:i + 1]) > budget_s * (1 + 1e-12)), steps)
    assert abs(line.steps_within(context, steps, budget_s) - walked) <= 1  # within rounding at the boundary
