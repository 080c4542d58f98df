"""The inference iteration model (simulator/models/workload/serving_time.py) and `clustersim reproduce serving`."""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import replace

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from simulator.catalog import accelerator, model
from simulator.models.hardware import MemoryKind, Precision
from simulator.models.topology.build import build_network
from simulator.models.topology.shape import ClusterShape
from simulator.models.topology.specs import SingleSwitchTopology
from simulator.models.workload.kernels import kernel_time_s
from simulator.models.workload.serving_time import (
    ReplicaIterations,
    ServingConfig,
    attention_kernels,
    decode_span_s,
    decode_steps_within,
    iteration_time,
    offline_throughput,
    token_kernels,
)
from simulator.tools.reproduce import PUBLISHED_SERVING, reproduce_serving
from tests.conftest import data_file

H100 = accelerator("h100-sxm")
NET = build_network(SingleSwitchTopology(kind="single_switch"), ClusterShape(1, 8, 450e9, 50e9, True))
FOUR_NODES = build_network(SingleSwitchTopology(kind="single_switch"), ClusterShape(4, 8, 450e9, 50e9, True))


def config(name: str = "llama3.1-8b", tp: int = 1, precision: Precision = Precision.BF16) -> ServingConfig:
    return ServingConfig(model(name), H100, precision, 2.0, tp, 0.9, 2 * 2**30, 256, 8192, 0.0)


def test_kv_cache_per_token_and_capacity() -> None:
    cfg = config()
    assert cfg.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2  # K and V, 32 layers, 8 KV heads of 128, bf16
    free = H100.hbm_bytes - 8.03e9 * 2 - 2 * 2**30
    assert cfg.kv_capacity_tokens == pytest.approx(free * 0.9 / cfg.kv_bytes_per_token, rel=0.01)
    tp2 = config(tp=2)
    assert tp2.kv_bytes_per_token == cfg.kv_bytes_per_token / 2
    assert tp2.weight_bytes_per_gpu == cfg.weight_bytes_per_gpu / 2
    assert config("deepseek-v3").kv_bytes_per_token == 61 * (512 + 64) * 2  # MLA caches the latent


def test_decode_is_memory_bound_and_grows_with_context() -> None:
    cfg = config()
    small = iteration_time(cfg, NET, 1, 1000, 0, 0).total_s
    weights_read = cfg.weight_bytes_per_gpu / (H100.hbm_bandwidth_bytes_per_s * H100.memory_efficiency)
    assert small == pytest.approx(weights_read, rel=0.35)  # one sequence: read the weights, little else
    assert iteration_time(cfg, NET, 64, 8000, 0, 0).total_s > iteration_time(cfg, NET, 64, 1000, 0, 0).total_s


def test_decode_attention_reads_the_kv_cache_at_its_own_efficiency() -> None:
    cfg = config()
    attention = attention_kernels(cfg, 256, 4000, 0, 0)[0]
    assert attention.kind is MemoryKind.DECODE_ATTENTION
    kv_read = 256 * 4000 * cfg.kv_bytes_per_token / cfg.model.layers
    assert kernel_time_s(attention, H100) == pytest.approx(
        kv_read / (H100.hbm_bandwidth_bytes_per_s * H100.decode_attention_efficiency) + H100.kernel_overhead_s,
        rel=1e-3)  # the queries and outputs are the 0.1 % left
    slower = replace(cfg, accelerator=H100.model_copy(update={"decode_attention_efficiency": 0.4}))
    assert ReplicaIterations(slower, NET).iteration_s(256, 4000, 0, 0) == pytest.approx(
        iteration_time(slower, NET, 256, 4000, 0, 0).total_s, rel=1e-12)
    assert iteration_time(slower, NET, 256, 4000, 0, 0).total_s > iteration_time(cfg, NET, 256, 4000, 0, 0).total_s


def test_prefill_is_compute_bound_and_tensor_parallelism_helps() -> None:
    cfg = config(name="llama3.1-70b", tp=4)
    prefill = iteration_time(cfg, NET, 0, 0, 8192, 8192)
    flops = 2 * 70.6e9 * 8192 / 4
    assert prefill.compute_s > flops / (H100.peak_bf16_flops * H100.matmul_efficiency)
    assert prefill.tp_comm_s > 0
    assert iteration_time(replace(cfg, tp=8), NET, 0, 0, 8192, 8192).compute_s < prefill.compute_s


def test_fp8_weights_speed_up_prefill_and_halve_weight_memory() -> None:
    bf16, fp8 = config(), config(precision=Precision.FP8)
    assert fp8.weight_bytes_per_gpu == bf16.weight_bytes_per_gpu / 2
    assert iteration_time(fp8, NET, 0, 0, 8192, 8192).total_s < iteration_time(bf16, NET, 0, 0, 8192, 8192).total_s


def test_offline_steady_state_respects_every_limit() -> None:
    cfg = config()
    steady = offline_throughput(cfg, NET, 1000, 1000)
    assert steady.decodes <= cfg.max_batch
    assert steady.decodes + steady.prefill_tokens <= cfg.max_num_tokens
    assert steady.concurrency * 2000 <= cfg.kv_capacity_tokens
    more = offline_throughput(replace(cfg, max_batch=4096), NET, 128, 128)
    assert more.output_tokens_per_s >= offline_throughput(cfg, NET, 128, 128).output_tokens_per_s


def test_reproduction_against_tensorrt_llm() -> None:
    """Issue 13's target: every cell within 8 % (today 2-6 %, decode attention at its published H100
    efficiency; it was 11 % low at the elementwise-fitted one)."""
    report = reproduce_serving()
    assert len(report.runs) == 4
    assert report.median_abs_error <= 0.06
    assert report.max_abs_error <= 0.08
    data = json.loads(CliRunner().invoke(main, ["reproduce", "serving", "--json"]).output)
    assert [r["id"] for r in data["runs"]] == [r.id for r in report.runs]


def test_extract_matches_the_shared_reference() -> None:
    shared = yaml.safe_load(data_file("reference", "inference.yaml").read_text())["offline_max_throughput"]["cases"]
    published = {c["id"]: c["output_tokens_per_s"] for c in shared}
    for case in yaml.safe_load(PUBLISHED_SERVING.read_text())["cases"]:
        assert case["output_tokens_per_s"] == published[case["id"]]


def brute_span_s(cfg: ServingConfig, decodes: int, context: float, steps: int) -> float:
    return sum(iteration_time(cfg, NET, decodes, context + i, 0, 0).total_s for i in range(steps))


@pytest.mark.parametrize(("name", "tp", "decodes", "context", "steps"),
                         [("llama3.1-8b", 1, 64, 500.0, 300), ("llama3.1-70b", 4, 7, 3.5, 257),
                          ("mixtral-8x7b", 2, 128, 2000.0, 1)])
def test_decode_span_equals_the_iteration_by_iteration_sum(name: str, tp: int, decodes: int, context: float,
                                                            steps: int) -> None:
    cfg = config(name, tp)
    assert decode_span_s(cfg, NET, decodes, context, steps) == pytest.approx(
        brute_span_s(cfg, decodes, context, steps), rel=1e-9)
    assert decode_span_s(cfg, NET, decodes, context, 0) == 0.0


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([("llama3.1-8b", 1), ("llama3.1-70b", 4), ("mixtral-8x7b", 2), ("deepseek-v3", 8)]),
       st.integers(0, 300), st.floats(0.0, 8000.0), st.integers(0, 600), st.floats(0.0, 8000.0),
       st.sampled_from([Precision.BF16, Precision.FP8]), st.sampled_from([1, 2, 4]))
def test_the_replica_s_cached_iteration_equals_the_full_model(shape: tuple[str, int], decodes: int, context: float,
                                                              prefill: int, prompt: float,
                                                              precision: Precision, pp: int) -> None:
    cfg = replace(config(*shape, precision=precision), pp=pp)
    if decodes + prefill == 0:
        return
    fast = ReplicaIterations(cfg, FOUR_NODES)
    for _ in range(2):  # the first call fills the caches, the second reads them
        assert fast.iteration_s(decodes, context, prefill, prompt if prefill else 0.0) == pytest.approx(
            iteration_time(cfg, FOUR_NODES, decodes, context, prefill, prompt if prefill else 0.0).total_s,
            rel=1e-12)


def test_decode_span_is_exact_across_the_compute_memory_kink() -> None:
    # decode attention's FLOPs per byte rise from 2.9 (context 10) towards 4 (long contexts); a chip whose
    # ridge point is 3 FLOP/byte (at a context of about 12) turns it from memory-bound to compute-bound inside the span
    ridge = 3.0 * H100.hbm_bandwidth_bytes_per_s * H100.decode_attention_efficiency / H100.matmul_efficiency
    slow = H100.model_copy(update={"peak_bf16_flops": ridge})
    cfg = replace(config(), accelerator=slow)
    times = [iteration_time(cfg, NET, 16, c, 0, 0).total_s for c in (10.0, 11.0, 2000.0, 2001.0)]
    assert times[3] - times[2] > 1.2 * (times[1] - times[0])  # slope 4/3 of the memory-bound one
    assert decode_span_s(cfg, NET, 16, 10.0, 2000) == pytest.approx(brute_span_s(cfg, 16, 10.0, 2000), rel=1e-9)
    for steps in (1, 2, 3, 50, 1999):  # the deadline inversion on both sides of the kink
        budget_s = brute_span_s(cfg, 16, 10.0, steps) * (1 + 1e-9)
        assert decode_steps_within(cfg, NET, 16, 10.0, 2000, budget_s) == steps


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 256), st.floats(1.0, 8000.0), st.floats(0.0, 5.0))
def test_decode_steps_within_is_the_last_iteration_before_the_budget(decodes: int, context: float,
                                                                     budget_s: float) -> None:
    cfg = config()
    steps = decode_steps_within(cfg, NET, decodes, context, 100_000, budget_s)
    assert decode_span_s(cfg, NET, decodes, context, steps) <= budget_s * (1 + 1e-12)
    assert steps == 100_000 or decode_span_s(cfg, NET, decodes, context, steps + 1) > budget_s * (1 - 1e-12)


VIDUR_GEMMS = {"qkv": "attn_pre_proj", "attention out": "attn_post_proj", "mlp up": "mlp_up_proj",
               "mlp down": "mlp_down_proj"}


@pytest.mark.parametrize(("gpu", "chip"), [("a100", "a100-80gb-sxm"), ("h100", "h100-sxm")])
def test_iteration_gemms_match_vidur_measurements_within_15_percent_median(gpu: str, chip: str) -> None:
    """Issue 6: the iteration model's GEMMs against Vidur's measured times for Llama-2 7B and 70B layers at
    every token count (1 to 16k) and TP degree. Measured: A100 6.3 %, H100 8.6 % median; the decode-sized
    rows (<= 512 tokens) alone are 17 % / 16 %."""
    acc = accelerator(chip)
    errors = []
    for folder, name in (("Llama-2-7b-hf", "llama2-7b"), ("Llama-2-70b-hf", "llama2-70b")):
        path = data_file("vidur-profiles", "compute", gpu, folder, "mlp.csv")
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                tp = int(row["num_tensor_parallel_workers"])
                cfg = ServingConfig(model(name), acc, Precision.BF16, 2.0, tp, 0.9, 0.0, 256, 8192, 0.0)
                for kernel, _ in token_kernels(cfg, int(row["num_tokens"])):
                    if kernel.name in VIDUR_GEMMS:
                        measured_s = float(row[f"time_stats.{VIDUR_GEMMS[kernel.name]}.median"]) * 1e-3
                        errors.append(abs(kernel_time_s(kernel, acc) / measured_s - 1))
    assert len(errors) > 8000
    assert statistics.median(errors) < 0.15


def test_pipeline_stages_split_memory_and_overlap_micro_batches() -> None:
    flat, piped = config("llama3.1-70b", 4), replace(config("llama3.1-70b", 4), pp=2)
    assert piped.weight_bytes_per_gpu == pytest.approx(flat.weight_bytes_per_gpu / 2)
    assert piped.kv_bytes_per_token == pytest.approx(flat.kv_bytes_per_token / 2)  # 40 of 80 layers per GPU
    # one sequence cannot be split: the pipeline only adds the send between stages
    alone = iteration_time(piped, NET, 1, 1000.0, 0, 0.0)
    assert alone.pp_comm_s > 0
    assert alone.total_s == pytest.approx(iteration_time(flat, NET, 1, 1000.0, 0, 0.0).total_s + alone.pp_comm_s)
    # a compute-bound prefill of many sequences runs as two micro-batches in flight: about half the time
    busy = iteration_time(piped, NET, 63, 1000.0, 4096, 2048.0)
    full = iteration_time(flat, NET, 63, 1000.0, 4096, 2048.0)
    assert 0.45 < busy.compute_s / full.compute_s < 0.6
    assert decode_span_s(piped, NET, 64, 500.0, 200) == pytest.approx(
        sum(iteration_time(piped, NET, 64, 500.0 + i, 0, 0.0).total_s for i in range(200)), rel=1e-9)


def test_expert_parallelism_moves_whole_experts_and_pays_all_to_alls() -> None:
    sliced = config("mixtral-8x7b", 8)
    spread = replace(sliced, expert_parallel=True)

    def expert_work(cfg: ServingConfig, tokens: float) -> tuple[float, float]:
        (kernel, _), = [(k, w) for k, w in token_kernels(cfg, tokens) if k.name == "experts"]
        return kernel.flops, kernel.bytes

    for tokens in (8.0, 4096.0):  # the same work per GPU, in whole experts
        assert expert_work(spread, tokens)[0] == pytest.approx(expert_work(sliced, tokens)[0])
    # 8 decodes touch 8 of 8 sliced experts on every GPU but at most 2 whole ones: less weight read per GPU
    assert expert_work(spread, 8.0)[1] < expert_work(sliced, 8.0)[1]
    # the MLP all-reduce becomes dispatch + combine all-to-alls and an all-gather
    assert iteration_time(spread, NET, 8, 500.0, 0, 0.0).tp_comm_s != iteration_time(sliced, NET, 8, 500.0, 0,
                                                                                    0.0).tp_comm_s


def test_moe_layers_count_shared_experts_and_leading_dense_layers() -> None:
    cfg = config("deepseek-v3", 8)
    shares = {k.name: share for k, share in token_kernels(cfg, 64.0)}
    assert shares["experts"] == pytest.approx(58 / 61)  # 3 leading dense layers of 61
    assert shares["mlp up"] == pytest.approx(3 / 61)
    assert "shared experts up" in shares
