"""Layout search and the training features around it: plan-layout, interleaving, context parallelism,
pruning, memory errors that name the overflowing term."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from simulator.catalog import accelerator, model
from simulator.models.hardware import Precision
from simulator.models.topology.build import build_network
from simulator.models.topology.network import Network, Partitioned
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import FatTreeTopology
from simulator.models.workload.memory import training_memory
from simulator.models.workload.parallelism import Parallelism
from simulator.models.workload.shapes import llama_style_model
from simulator.models.workload.step_time import OperatorStepModel
from simulator.models.workload.training_job import TrainingStep
from simulator.models.workload.transformer import parameter_counts
from simulator.tools import layouts
from simulator.tools.layouts import estimate_mfu, fewest_gpus, mfu_estimate_gpus

H100 = accelerator("h100-sxm")


def test_plan_layout_for_llama_405b_on_8192_h100() -> None:
    result = CliRunner().invoke(main, ["plan-layout", "scenarios/published/llama3-405b-h100.yaml", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    rows = report["layouts"]
    assert report["gpus"] == 8192 and len(rows) == 10 and report["fitting"] < report["enumerated"]
    times = [r["step_time_s"] for r in rows]
    assert times == sorted(times)
    for r in rows:
        assert r["tp"] * r["cp"] * r["pp"] * r["dp"] == 8192
        assert r["memory_per_gpu_bytes"] <= H100.hbm_bytes
        assert 0 < r["mfu"] < H100.matmul_efficiency


def test_plan_layout_rejects_an_unknown_workload() -> None:
    result = CliRunner().invoke(main, ["plan-layout", "scenarios/quickstart.yaml", "--workload", "nope"])
    assert result.exit_code == 2 and "pretrain" in result.stderr


def test_a_405b_model_on_one_gpu_per_replica_names_the_overflowing_term() -> None:
    result = CliRunner().invoke(main, ["validate", "scenarios/quickstart.yaml", "--set",
                                       "workloads.pretrain.model=llama3.1-405b"])
    assert result.exit_code == 2
    assert "does not fit" in result.stderr and "the largest term is weights" in result.stderr


def _step(**layout: object) -> TrainingStep:
    return TrainingStep(model("llama3.1-70b"), H100, Precision.BF16, Parallelism(**layout),  # type: ignore[arg-type]
                        8192, 16)


def _network() -> object:
    return build_network(FatTreeTopology(kind="fat_tree", radix=128), ClusterShape(64, 8, 450e9, 50e9, True))


def test_interleaving_shrinks_the_bubble_by_the_number_of_chunks() -> None:
    net = _network()
    plain = OperatorStepModel().step_time(_step(tp=8, pp=8, dp=8), net)  # type: ignore[arg-type]
    interleaved = OperatorStepModel().step_time(_step(tp=8, pp=8, dp=8, virtual_stages=2), net)  # type: ignore[arg-type]
    assert interleaved.pp_bubble_s == pytest.approx(plain.pp_bubble_s / 2, rel=1e-9)
    assert interleaved.pp_p2p_s == pytest.approx(plain.pp_p2p_s * 2, rel=1e-9)


def test_context_parallelism_splits_activations_and_adds_ring_traffic() -> None:
    one, two = _step(tp=8, pp=2, dp=32), _step(tp=8, cp=2, pp=2, dp=16)
    assert training_memory(two, 0).activations_bytes < 0.6 * training_memory(one, 0).activations_bytes
    slow = build_network(FatTreeTopology(kind="fat_tree", radix=128), ClusterShape(64, 8, 450e9, 1e9, True))
    fast = build_network(FatTreeTopology(kind="fat_tree", radix=128), ClusterShape(64, 8, 450e9, 100e9, True))
    model_ = OperatorStepModel()
    assert model_.step_time(two, slow).cp_comm_s > 0  # CP peers sit on different nodes (tp fills a node)
    assert model_.step_time(two, fast).cp_comm_s == 0  # hidden behind the attention compute
    assert model_.step_time(one, slow).cp_comm_s == 0


def test_pruning_shrinks_weights_and_compute() -> None:
    dense, pruned = _step(tp=8, pp=4, dp=16), replace(_step(tp=8, pp=4, dp=16), pruned_fraction=0.5)
    assert pruned.stage_params[0][1:-1].max() == pytest.approx(0.5 * dense.stage_params[0][1:-1].max(), rel=1e-3)
    net = _network()
    assert OperatorStepModel().step_time(pruned, net).compute_s < OperatorStepModel().step_time(dense, net).compute_s  # type: ignore[arg-type]


@pytest.mark.parametrize("params", [1e9, 8e9, 70e9, 405e9, 1e12])
def test_llama_style_shapes_hit_the_parameter_count(params: float) -> None:
    assert parameter_counts(llama_style_model(params)).total == pytest.approx(params, rel=0.05)


def test_estimated_mfu_is_a_plausible_fraction() -> None:
    mfu = estimate_mfu(8e9, H100, 256)
    assert 0.25 < mfu < H100.matmul_efficiency


def test_fewest_gpus_is_the_first_power_of_two_of_nodes_that_holds_a_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    a100 = accelerator("a100-80gb-sxm")
    assert fewest_gpus(10e12, a100) == 4096  # 16 bytes of state a parameter alone need 2,000 A100s
    assert fewest_gpus(70e9, H100) == 16 and fewest_gpus(1e9, H100) == 8
    assert mfu_estimate_gpus(10e12, a100, 2312) == 4096  # the nearest power of two, 2,048, holds none
    assert mfu_estimate_gpus(8e9, H100, 300) == 256
    monkeypatch.setattr(layouts, "FIT_MAX_NODES", 16)
    layouts._fewest_nodes.cache_clear()
    with pytest.raises(ValueError, match="no layout of a 1T-parameter model fits in the memory of 128 h100-sxm"):
        fewest_gpus(1e12, H100)  # it needs 256
    layouts._fewest_nodes.cache_clear()


def test_memoised_phases_match_and_stop_after_a_failure() -> None:
    def net() -> Network:
        return build_network(FatTreeTopology(kind="fat_tree", tiers=2, radix=64),
                             ClusterShape(8, 8, 450e9, 50e9, False))

    plain, memo = net(), net().memoize()
    src, dst = np.arange(0, 64, 8), np.roll(np.arange(0, 64, 8), -1)
    assert memo.phase(src, dst, 1e9) == memo.phase(src, dst, 1e9) == plain.phase(src, dst, 1e9)
    u, v = next((u, v) for u, v in memo.graph.edges if "spine" in str(u) + str(v))
    before = memo.phase(src, dst, 1e9)
    memo.fail_link(u, v)
    plain.fail_link(u, v)

    def outcome(network: Network) -> object:
        try:
            return network.phase(src, dst, 1e9)
        except Partitioned as err:
            return str(err)

    assert outcome(memo) == outcome(plain) != before  # not the remembered phase
