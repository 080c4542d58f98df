"""The report's step breakdown is derived from StepTime, not copied: it holds every time of the step, and its parts
sum to the step time under every parallelism (data, tensor, pipeline, interleaved, context, expert)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.catalog import accelerator, model
from simulator.models.hardware import Precision
from simulator.models.topology.build import build_network
from simulator.models.topology.network import Network
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import FatTreeTopology
from simulator.models.workload.parallelism import Parallelism
from simulator.models.workload.step_time import OperatorStepModel, StepTime
from simulator.models.workload.training_job import TrainingStep
from simulator.plan.load import load_scenario
from simulator.plan.training import priced_step
from simulator.report.model import StepBreakdown
from simulator.run import simulate
from simulator.scenario.schema import TrainingWorkload

H100 = accelerator("h100-sxm")
GPUS = 64

# (model, layout, the part this parallelism adds). A 1 GB/s NIC keeps every collective that crosses nodes exposed,
# so each layout's own part is on the critical path and the sum is checked with it in.
LAYOUTS: list[tuple[str, dict[str, Any], str]] = [
    ("megatron-1.7b", {"dp": 32}, "dp_exposed_s"),
    ("megatron-1.7b", {"tp": 8, "dp": 4}, "tp_comm_s"),
    ("megatron-1.7b", {"tp": 2, "pp": 4, "dp": 4}, "pp_bubble_s"),
    ("megatron-1.7b", {"tp": 2, "pp": 4, "virtual_stages": 2, "dp": 4}, "pp_p2p_s"),
    ("llama3.1-8b", {"tp": 8, "cp": 2, "dp": 2}, "cp_comm_s"),
    ("mixtral-8x7b", {"tp": 2, "dp": 16, "ep": 8}, "ep_comm_s"),
    ("mixtral-8x7b", {"tp": 8, "cp": 2, "pp": 2, "virtual_stages": 2, "dp": 2, "ep": 2}, "cp_comm_s"),
]


def _network() -> Network:
    return build_network(FatTreeTopology(kind="fat_tree", radix=64), ClusterShape(GPUS // 8, 8, 450e9, 1e9, True))


def _step_time(name: str, layout: dict[str, Any], seq_len: int = 4096) -> StepTime:
    step = TrainingStep(model(name), H100, Precision.BF16, Parallelism(**layout), seq_len, 8)
    return OperatorStepModel().step_time(step, _network())


def test_the_breakdown_holds_every_field_of_step_time_but_its_flop_counts() -> None:
    times = {f.name for f in fields(StepTime)} - {"model_flops", "hardware_flops"}
    assert set(StepBreakdown.model_fields) == times
    assert "cp_comm_s" in StepTime.parts() and "dp_comm_s" not in StepTime.parts()


@pytest.mark.parametrize(("name", "layout", "part"), LAYOUTS, ids=[str(layout) for _, layout, _ in LAYOUTS])
def test_parts_sum_to_the_step_time(name: str, layout: dict[str, Any], part: str) -> None:
    step = _step_time(name, layout)
    breakdown = StepBreakdown.of(step)
    assert breakdown.parts_s[part] > 0
    assert list(breakdown.parts_s) == list(StepTime.parts())
    assert sum(breakdown.parts_s.values()) == pytest.approx(step.total_s, rel=1e-12)
    assert breakdown.model_dump() == {key: getattr(step, key) for key in StepBreakdown.model_fields}
    assert breakdown.dp_exposed_s <= breakdown.dp_comm_s  # the whole collective is reported, not summed


@settings(max_examples=30, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), cp=st.sampled_from([1, 2]), pp=st.sampled_from([1, 2, 4]),
       schedule=st.sampled_from(["1f1b", "interleaved", "zero_bubble", "dualpipe"]), ep=st.sampled_from([1, 2, 4, 8]),
       zero=st.integers(0, 3))
def test_parts_sum_to_the_step_time_for_any_layout(tp: int, cp: int, pp: int, schedule: str, ep: int,
                                                   zero: int) -> None:
    dp = GPUS // (tp * cp * pp)
    schedule = schedule if pp > 1 else "1f1b"
    layout = {"tp": tp, "cp": cp, "pp": pp, "dp": dp, "ep": min(ep, dp), "schedule": schedule, "zero_stage": zero,
              "virtual_stages": 2 if schedule == "interleaved" else 1}
    step = _step_time("mixtral-8x7b", layout, seq_len=2048)
    assert sum(StepBreakdown.of(step).parts_s.values()) == pytest.approx(step.total_s, rel=1e-12)


def test_a_context_parallel_run_reports_its_ring_time() -> None:
    scenario = load_scenario("scenarios/quickstart.yaml", [
        "workloads.pretrain.parallelism={tp: 8, cp: 2, dp: 2}", "cluster.topology.nic_bandwidth=10 Gbps", "horizon=1 h",
    ])
    job = simulate(scenario).workloads["pretrain"]
    assert job.kind == "training"
    assert job.step_breakdown.cp_comm_s > 0
    assert sum(job.step_breakdown.parts_s.values()) == pytest.approx(job.step_time_s, rel=1e-12)


def test_the_scenario_chooses_the_attention_kernel() -> None:
    def step_s(kernel: str) -> float:
        override = f"workloads.pretrain-70b.attention_kernel={kernel}"
        scenario = load_scenario("scenarios/llama3-70b-h100.yaml", [override])
        (workload,) = scenario.workloads
        assert isinstance(workload, TrainingWorkload)
        return priced_step(workload, scenario.cluster)[1].total_s

    assert step_s("flash3") < step_s("flash2")  # FlashAttention-3 runs near twice FA2's rate on H100
