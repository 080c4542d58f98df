"""simulator/models/workload/step_time.py: OperatorStepModel's parts add up, scale the right way, and its FLOP
counts follow the MFU/HFU conventions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.catalog import accelerator, model
from simulator.models.hardware import Accelerator, Precision
from simulator.models.topology.fat_tree import build_switched
from simulator.models.topology.network import Network
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import FatTreeTopology
from simulator.models.workload.kernels import kernel_time_s
from simulator.models.workload.memory import training_memory
from simulator.models.workload.operators import output_kernels
from simulator.models.workload.parallelism import Parallelism, Recompute
from simulator.models.workload.step_time import OperatorStepModel, StepTime
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import forward_flops_per_token

A100 = accelerator("a100-80gb-sxm")
H100 = accelerator("h100-sxm")
MODEL = OperatorStepModel()

LAYOUTS: list[dict[str, Any]] = [
    {"tp": 1, "pp": 1, "dp": 8},
    {"tp": 8, "pp": 1, "dp": 4},
    {"tp": 4, "pp": 2, "dp": 8, "zero_stage": 2},
    {"tp": 8, "pp": 4, "dp": 4, "activation_recompute": Recompute.FULL},
    {"tp": 2, "pp": 8, "dp": 2, "micro_batch_size": 2, "sequence_parallel": False, "zero_stage": 3},
]


def make_step(model_name: str = "megatron-39.1b", acc: Accelerator = A100, micro_batches: int = 16,
              seq_len: int = 2048, flash: bool = True, **layout: Any) -> TrainingStep:
    return TrainingStep(
        model=model(model_name), accelerator=acc, precision=Precision.BF16, layout=Parallelism(**layout),
        seq_len=seq_len, micro_batches=micro_batches, flash_attention=flash,
    )


def make_fabric(step: TrainingStep, nic_bw: float = 25e9, oversubscription: float = 1.0) -> Network:
    gpus_per_node = 8
    shape = ClusterShape(max(1, -(-step.layout.world // gpus_per_node)), gpus_per_node, 300e9, nic_bw, False)
    spec = FatTreeTopology(kind="fat_tree", radix=128, oversubscription=oversubscription, scale_out_latency="6 us")
    return build_switched(spec, shape)


def run(step: TrainingStep, **fabric: Any) -> StepTime:
    return MODEL.step_time(step, make_fabric(step, **fabric))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("flash", [False, True])
def test_total_is_the_sum_of_its_parts(layout: dict[str, Any], flash: bool) -> None:
    t = run(make_step(flash=flash, **layout))
    parts = t.compute_s + t.tp_comm_s + t.ep_comm_s + t.pp_bubble_s + t.pp_p2p_s + t.dp_exposed_s + t.optimizer_s
    assert t.total_s == pytest.approx(parts, rel=1e-12)
    for name in ("compute_s", "tp_comm_s", "pp_bubble_s", "pp_p2p_s", "dp_comm_s", "dp_exposed_s", "optimizer_s"):
        assert getattr(t, name) >= 0, name
    assert t.compute_s > 0 and t.optimizer_s > 0
    assert t.dp_exposed_s <= t.dp_comm_s  # never more exposed than the collective itself
    assert (t.tp_comm_s > 0) == (layout["tp"] > 1)
    assert (t.pp_p2p_s > 0) == (layout["pp"] > 1)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_compute_scales_with_matmul_efficiency_where_gemms_dominate(layout: dict[str, Any]) -> None:
    def compute(eff: float) -> float:
        acc = A100.model_copy(update={"matmul_efficiency": eff})
        return run(make_step("megatron-529.6b", acc=acc, **layout)).compute_s

    ratio = compute(0.35) / compute(0.7)
    assert 1.6 < ratio < 2.0  # GEMMs double; memory-bound operators and launch overheads do not


@settings(max_examples=40, deadline=None)
@given(
    layout=st.sampled_from(LAYOUTS),
    fast=st.floats(5e9, 200e9),
    slowdown=st.floats(1.0, 20.0),
    oversubscription=st.sampled_from([1.0, 2.0]),
)
def test_slower_nic_never_makes_a_step_faster(
    layout: dict[str, Any], fast: float, slowdown: float, oversubscription: float
) -> None:
    step = make_step(**layout)
    quick = run(step, nic_bw=fast, oversubscription=oversubscription)
    slow = run(step, nic_bw=fast / slowdown, oversubscription=oversubscription)
    assert slow.total_s >= quick.total_s * (1 - 1e-12)
    assert slow.dp_comm_s >= quick.dp_comm_s * (1 - 1e-12)
    assert slow.compute_s == quick.compute_s


@pytest.mark.parametrize("layout", [lay for lay in LAYOUTS if lay["tp"] == 8])
def test_slower_nic_makes_cross_node_gradient_all_reduce_longer(layout: dict[str, Any]) -> None:
    # tp = 8 fills a node, so the data-parallel ring has one member per node and runs on the NICs
    step = make_step(**layout)
    quick, slow = run(step, nic_bw=50e9), run(step, nic_bw=12.5e9)
    assert slow.dp_comm_s > quick.dp_comm_s
    assert slow.total_s > quick.total_s


@pytest.mark.parametrize("pp", [2, 4, 8])
@pytest.mark.parametrize("micro_batches", [1, 8, 32])
def test_pipeline_bubble(pp: int, micro_batches: int) -> None:
    step = make_step(tp=8, pp=pp, dp=2, micro_batches=micro_batches)
    t = run(step)
    # the last stage (its layers plus the output layer and loss) is the slowest; 1F1B makes it wait for one
    # micro-batch of every other stage, each of which runs only layers
    slot = (t.compute_s + t.tp_comm_s) / micro_batches
    output_s = sum(kernel_time_s(k, step.accelerator) for k in output_kernels(step))
    assert t.pp_bubble_s == pytest.approx((pp - 1) * (slot - output_s), rel=1e-9)


def test_no_bubble_without_pipeline() -> None:
    t = run(make_step(tp=8, pp=1, dp=2))
    assert t.pp_bubble_s == 0.0
    assert t.pp_p2p_s == 0.0


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("flash", [False, True])
@pytest.mark.parametrize("name", ["megatron-1.7b", "llama3.1-8b", "mixtral-8x7b"])
def test_model_flops_are_three_forward_passes(layout: dict[str, Any], flash: bool, name: str) -> None:
    step = make_step(name, flash=flash, seq_len=4096, **layout)
    t = run(step)
    assert t.model_flops == pytest.approx(3 * forward_flops_per_token(step.model, 4096) * step.tokens_per_step,
                                          rel=1e-12)
    assert step.tokens_per_step == 16 * step.layout.micro_batch_size * step.layout.dp * 4096


@pytest.mark.parametrize("flash", [True, False])
def test_full_recompute_repeats_the_forward_except_the_output_layer(flash: bool) -> None:
    # Megatron's F = 96 B s l h^2 (1 + s/6h + V/16lh) recomputes every transformer layer but not the logits.
    step = make_step(tp=8, pp=2, dp=2, activation_recompute=Recompute.FULL, flash=flash)
    t = run(step)
    m = step.model
    recomputed = (forward_flops_per_token(m, step.seq_len) - 2 * m.vocab * m.hidden) * step.tokens_per_step
    assert t.hardware_flops == pytest.approx(t.model_flops + recomputed, rel=1e-12)
    assert 1.3 < t.hardware_flops / t.model_flops < 4 / 3


def test_selective_recompute_repeats_only_attention_without_flash() -> None:
    with_flash = run(make_step(tp=8, dp=2, activation_recompute=Recompute.SELECTIVE, flash=True))
    assert with_flash.hardware_flops == with_flash.model_flops
    no_flash = run(make_step(tp=8, dp=2, activation_recompute=Recompute.SELECTIVE, flash=False))
    m, s = model("megatron-39.1b"), 2048
    attention = forward_flops_per_token(m, s) - forward_flops_per_token(m, 0)
    tokens = make_step(tp=8, dp=2).tokens_per_step
    assert no_flash.hardware_flops - no_flash.model_flops == pytest.approx(attention * tokens, rel=1e-12)
    none = run(make_step(tp=8, dp=2, activation_recompute=Recompute.NONE, flash=False))
    assert none.hardware_flops == none.model_flops


def test_recompute_costs_time() -> None:
    times = {mode: run(make_step(tp=8, pp=2, dp=2, activation_recompute=mode, flash=False)).compute_s
             for mode in Recompute}
    assert times[Recompute.NONE] < times[Recompute.SELECTIVE] < times[Recompute.FULL]


def test_fp8_without_peak_is_an_error() -> None:
    step = TrainingStep(model=model("megatron-1.7b"), accelerator=A100, precision=Precision.FP8,
                        layout=Parallelism(dp=8), seq_len=2048, micro_batches=1)
    with pytest.raises(ValueError, match="fp8"):
        MODEL.step_time(step, make_fabric(step))


def test_expert_parallelism_adds_all_to_alls_and_shards_experts() -> None:
    base = make_step("mixtral-8x7b", tp=2, dp=16)
    sharded = make_step("mixtral-8x7b", tp=2, dp=16, ep=8)
    assert run(base).ep_comm_s == 0 and run(sharded).ep_comm_s > 0
    assert sharded.stage_params[1][0] == pytest.approx(base.stage_params[1][0] / 8)
    assert sharded.stage_params[0][0] == base.stage_params[0][0]
    assert run(sharded).ep_bottleneck


def test_dense_models_have_no_expert_traffic() -> None:
    t = run(make_step(tp=8, dp=4))
    assert t.ep_comm_s == 0


# --- schedules, overlap and data-parallel sharding (issue 13) -----------------------------------------------


def test_schedules_shrink_the_bubble_in_the_published_order() -> None:
    bubbles = {}
    for schedule, v in (("1f1b", 1), ("interleaved", 2), ("zero_bubble", 1), ("dualpipe", 1)):
        bubbles[schedule] = run(make_step(tp=8, pp=4, dp=2, schedule=schedule, virtual_stages=v)).pp_bubble_s
    assert bubbles["1f1b"] > bubbles["interleaved"] > 0
    assert bubbles["1f1b"] > bubbles["zero_bubble"] > 0  # the weight gradients fill part of the drain
    assert bubbles["dualpipe"] < bubbles["zero_bubble"]  # (pp/2 - 1)(F + 2B - 3W) on 4 stages: one slot's worth
    assert run(make_step(tp=8, pp=4, dp=2, schedule="dualpipe")).pp_p2p_s == 0  # overlapped with the paired chunk


def test_llama3_split_balances_memory_without_slowing_the_step() -> None:
    """126 layers on 16 stages: an even split puts 8 layers on the first stage, which holds the most
    micro-batches in flight; Llama 3 moved one layer each off the first and last stages (sec. 3.3.2)."""
    kwargs: dict[str, Any] = {"tp": 8, "pp": 16, "dp": 1, "seq_len": 8192, "micro_batches": 32,
                              "activation_recompute": Recompute.NONE}
    even = make_step("llama3.1-405b", H100, **kwargs)
    meta = make_step("llama3.1-405b", H100, first_stage_layers=7, last_stage_layers=7, **kwargs)
    assert training_memory(meta, 0.0).total_bytes < training_memory(even, 0.0).total_bytes
    assert run(meta).total_s <= run(even).total_s * 1.001


def test_gradient_overlap_hides_all_but_the_last_bucket() -> None:
    hidden = run(make_step(tp=8, pp=1, dp=4, zero_stage=0))
    exposed = run(make_step(tp=8, pp=1, dp=4, zero_stage=0, overlap_grad_reduce=False))
    assert exposed.dp_exposed_s == pytest.approx(exposed.dp_comm_s, rel=1e-12)
    assert hidden.dp_exposed_s < exposed.dp_exposed_s and hidden.dp_comm_s == exposed.dp_comm_s


@pytest.mark.parametrize("micro_batches", [4, 16])
def test_zero_stages_move_the_traffic_they_should(micro_batches: int) -> None:
    steps = {z: run(make_step(tp=8, pp=1, dp=4, zero_stage=z, micro_batches=micro_batches)) for z in range(4)}
    all_reduce = steps[0].dp_comm_s
    assert steps[1].dp_comm_s == pytest.approx(all_reduce, rel=1e-12)  # reduce-scatter + all-gather, once
    # ZeRO-2 reduce-scatters after every micro-batch; ZeRO-3 also gathers the weights twice per micro-batch
    assert steps[2].dp_comm_s == pytest.approx(all_reduce / 2 * (micro_batches + 1), rel=1e-12)
    assert steps[3].dp_comm_s == pytest.approx(all_reduce * 1.5 * micro_batches, rel=1e-12)


def test_tp_overlap_hides_collectives_behind_gemms() -> None:
    plain = run(make_step(tp=8, pp=1, dp=4))
    overlapped = run(make_step(tp=8, pp=1, dp=4, tp_comm_overlap=True))
    assert overlapped.tp_comm_s < plain.tp_comm_s


def test_all_gather_context_parallelism_is_exposed_where_a_ring_hides() -> None:
    ring = run(make_step("llama3.1-8b", tp=8, cp=2, dp=2, seq_len=8192), nic_bw=100e9)
    gather = run(make_step("llama3.1-8b", tp=8, cp=2, dp=2, seq_len=8192, cp_comm="all_gather"), nic_bw=100e9)
    assert ring.cp_comm_s == 0 < gather.cp_comm_s


def test_recompute_modules_cost_their_forward_kernels_again() -> None:
    def run_deepseek(**layout: Any) -> StepTime:
        step = TrainingStep(model=model("deepseek-v3"), accelerator=accelerator("h800-sxm"), precision=Precision.FP8,
                            layout=Parallelism(tp=1, pp=4, dp=8, ep=8, **layout), seq_len=4096, micro_batches=8)
        return run(step)

    plain = run_deepseek()
    rebuilt = run_deepseek(recompute_modules=["norm", "mla_up_proj", "mlp_act"])
    assert rebuilt.compute_s > plain.compute_s
    assert rebuilt.hardware_flops > plain.hardware_flops == plain.model_flops  # the up-projections run twice


def _moe_step(**layout: Any) -> TrainingStep:
    """A DeepSeek-V3 slice: 4 stages, 8-way expert parallelism whose data-parallel ranks sit 4 GPUs apart, so
    each expert group spans 4 nodes of 8."""
    return TrainingStep(model=model("deepseek-v3"), accelerator=accelerator("h800-sxm"), precision=Precision.FP8,
                        layout=Parallelism(**{"tp": 1, "pp": 4, "dp": 8, "ep": 8, **layout}), seq_len=4096,
                        micro_batches=4)


def test_node_limited_routing_and_fp8_dispatch_shrink_the_all_to_alls() -> None:
    spread = model("deepseek-v3").model_copy(update={"routing_max_nodes": None})
    limited, unlimited = _moe_step(), replace(_moe_step(), model=spread)
    # 8 routed experts per token, at most 4 nodes: half the copies cross the network
    assert run(limited).ep_comm_s == pytest.approx(run(unlimited).ep_comm_s / 2, rel=0.05)
    fp8 = run(_moe_step(fp8_activations=True)).ep_comm_s
    assert fp8 == pytest.approx(run(limited).ep_comm_s * 7 / 8, rel=0.05)  # one of four all-to-alls at one byte


def test_overlapped_all_to_alls_cost_the_sms_they_run_on() -> None:
    fast = 400e9  # all-to-alls shorter than the compute they hide behind
    exposed = run(_moe_step(), nic_bw=fast)
    free = run(_moe_step(overlap_expert_comm=True), nic_bw=fast)
    shared = run(_moe_step(overlap_expert_comm=True, comm_sm_fraction=0.15), nic_bw=fast)
    assert free.ep_comm_s < shared.ep_comm_s < exposed.ep_comm_s
    # compute C beside all-to-alls E on 85 % of the SMs: max(E, C + 0.15 E), so at least 0.15 E shows
    assert shared.ep_comm_s >= 0.15 * exposed.ep_comm_s * (1 - 1e-9)


def test_dualpipe_ranks_run_their_stage_and_its_mirror() -> None:
    kwargs: dict[str, Any] = {"tp": 8, "pp": 4, "dp": 1, "micro_batches": 16}
    one = run(make_step("llama3.1-70b", H100, seq_len=4096, **kwargs))
    dual = run(make_step("llama3.1-70b", H100, seq_len=4096, schedule="dualpipe", **kwargs))
    # 1F1B is paced by the last stage (layers + output layer); DualPipe by the mean of a stage and its mirror
    assert dual.compute_s < one.compute_s
