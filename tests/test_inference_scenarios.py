"""Inference workloads end to end: scenario files with `kind: inference`, their located errors, the report's
request accounting, node failures taking replicas down, and serving next to training on one cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli import main
from simulator.plan.load import load_scenario
from simulator.report.model import InferenceReport, Report, TrainingReport
from simulator.run import simulate
from simulator.scenario.loader import ScenarioError
from tests.conftest import ROOT

TRACE = "TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(
    f"2023-11-16 18:00:{i // 10:02d}.{i % 10}000000,{200 + 37 * i % 900},{20 + 13 * i % 180}\n" for i in range(400)
)

BASE = """\
name: serving-test
seed: 3
cluster:
  accelerator: h100-sxm
  nodes: 2
  gpus_per_node: 8
pricing:
  gpu_hour_usd: 4.0
workloads:
  - name: chat
    kind: inference
    model: llama3.1-8b
    replicas: 4
    tp: 2
    slo: {ttft: 500 ms, tpot: 40 ms}
    arrivals:
      kind: trace
      path: trace.csv
"""


def write(tmp_path: Path, text: str = BASE, trace: str = TRACE) -> Path:
    (tmp_path / "trace.csv").write_text(trace, encoding="utf-8")
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def changed(tmp_path: Path, edit: dict[str, object], top: dict[str, object] | None = None) -> Path:
    data = yaml.safe_load(BASE)
    data["workloads"][0].update(edit)
    data.update(top or {})
    return write(tmp_path, yaml.safe_dump(data, sort_keys=False))


def serving(report: Report, name: str = "chat") -> InferenceReport:
    workload = report.workloads[name]
    assert isinstance(workload, InferenceReport)
    return workload


def test_a_trace_replays_as_is_and_every_request_is_accounted_for(tmp_path: Path) -> None:
    w = serving(simulate(load_scenario(write(tmp_path))))
    r = w.requests
    assert (r.total, r.arrived, r.completed, r.failed, r.queued_at_end, r.in_flight_at_end) == (400, 400, 400, 0, 0, 0)
    assert w.status == "completed" and w.gpus == 8
    assert w.ttft_s.p50 is not None and w.tpot_s.p50 is not None and w.e2e_s.p50 is not None
    assert 0 < w.ttft_s.p50 <= w.ttft_s.p90 <= w.ttft_s.p99 < w.e2e_s.p99  # type: ignore[operator]
    assert w.slo_attainment is not None and 0.9 < w.slo_attainment <= 1.0
    assert w.usd_per_million_output_tokens is not None and w.usd_per_million_tokens is not None
    assert w.usd_per_million_tokens < w.usd_per_million_output_tokens
    # 4 replicas x 2 GPUs for the whole run, at $4 per GPU-hour
    assert w.gpu_hours == pytest.approx(8 * (w.finished_s or 0) / 3600)
    assert w.cost_usd == pytest.approx(4.0 * w.gpu_hours)


def test_a_horizon_leaves_requests_queued_in_flight_or_not_arrived_and_loses_none(tmp_path: Path) -> None:
    path = changed(tmp_path, {"replicas": 1, "tp": 1, "arrivals": {"kind": "trace", "path": "trace.csv",
                                                                    "time_scale": 0.1}}, {"horizon": "3 s"})
    w = serving(simulate(load_scenario(path)))
    r = w.requests
    assert w.status == "running"
    assert r.arrived == r.completed + r.failed + r.queued_at_end + r.in_flight_at_end
    assert r.total == r.arrived + r.not_arrived == 400
    assert r.queued_at_end > 0 and r.in_flight_at_end > 0 and r.not_arrived > 0


def test_same_seed_same_report_and_synthetic_loads_follow_the_seed(tmp_path: Path) -> None:
    path = changed(tmp_path, {
        "arrivals": {"kind": "gamma", "rate": 20, "cv": 3, "requests": 300},
        "input_tokens": {"kind": "lognormal", "median": 600, "sigma": 0.8, "max": 8000},
        "output_tokens": {"kind": "empirical", "path": "trace.csv", "column": "GeneratedTokens"},
    })
    first, second = (simulate(load_scenario(path)).model_dump(mode="json") for _ in range(2))
    first.pop("wall_s")
    second.pop("wall_s")
    assert first == second
    other = changed(tmp_path, {}, {"seed": 4})
    assert serving(simulate(load_scenario(other))).requests.total == 400  # the trace does not depend on the seed


@pytest.mark.parametrize("arrivals", [
    {"kind": "poisson", "rate": 10, "requests": 200},
    {"kind": "diurnal", "rates": [2, 20, 5], "period": "60 s", "requests": 200},
])
def test_synthetic_arrivals_with_fixed_and_uniform_lengths(tmp_path: Path, arrivals: dict[str, object]) -> None:
    path = changed(tmp_path, {"arrivals": arrivals, "input_tokens": 512,
                              "output_tokens": {"kind": "uniform", "low": 10, "high": 100}})
    w = serving(simulate(load_scenario(path)))
    assert w.requests.completed == 200
    assert w.input_tokens_per_s == pytest.approx(512 * w.requests_per_s)


def test_node_failures_take_replicas_down_and_their_requests_are_retried(tmp_path: Path) -> None:
    failures = {"components": [{"name": "node", "scope": "node", "mtbf": "2 min", "distribution": "exponential",
                                "repair": {"median": "30 s", "sigma": 0.1}}]}
    path = changed(tmp_path, {"arrivals": {"kind": "trace", "path": "trace.csv", "time_scale": 10.0}},
                   {"failures": failures})
    report = simulate(load_scenario(path))
    w = serving(report)
    assert report.cluster.node_failures > 0 and w.replica_failures > 0
    assert w.requests.retried > 0 and w.requests.completed == 400 and w.requests.failed == 0
    lost = changed(tmp_path, {"arrivals": {"kind": "trace", "path": "trace.csv", "time_scale": 10.0},
                              "on_failure": "fail"}, {"failures": failures})
    r = serving(simulate(load_scenario(lost))).requests
    assert r.failed > 0 and r.retried == 0 and r.completed + r.failed == 400


def test_stragglers_slow_replicas_until_they_are_evicted(tmp_path: Path) -> None:
    """Fail-slow GPUs make their replicas' iterations 4x longer until detected; then the node is taken out
    like a failed one and its requests are retried. Never detected, they only slow the replicas."""
    def run(detection: str) -> InferenceReport:
        slow = {"components": [{"name": "straggler", "scope": "node", "mtbf": "4 min", "effect": "slowdown",
                                "slowdown": 3.0, "straggler_detection": detection,
                                "repair": {"median": "30 s", "sigma": 0.1}}]}
        path = changed(tmp_path, {"arrivals": {"kind": "trace", "path": "trace.csv", "time_scale": 10.0}},
                       {"failures": slow})
        return serving(simulate(load_scenario(path)))

    healthy = serving(simulate(load_scenario(changed(
        tmp_path, {"arrivals": {"kind": "trace", "path": "trace.csv", "time_scale": 10.0}}))))
    evicted, endured = run("20 s"), run("100 d")
    for w in (healthy, evicted, endured):
        assert w.requests.completed == 400 and w.requests.failed == 0
    assert evicted.replica_failures > 0 and evicted.requests.retried > 0
    assert endured.replica_failures == 0 and endured.requests.retried == 0
    assert healthy.tpot_s.p99 is not None and endured.tpot_s.p99 is not None
    assert endured.tpot_s.p99 > 2 * healthy.tpot_s.p99  # a 4x slower replica's requests


def test_serving_waits_for_gpus_a_training_job_holds(tmp_path: Path) -> None:
    data = yaml.safe_load(BASE)
    data["workloads"].insert(0, {
        "name": "finetune", "kind": "training", "model": "llama3.1-8b", "tokens": "50M", "seq_len": 4096,
        "global_batch_tokens": "1M", "parallelism": {"tp": 2, "dp": 8},
    })
    report = simulate(load_scenario(write(tmp_path, yaml.safe_dump(data, sort_keys=False))))
    job, w = report.workloads["finetune"], serving(report)
    assert isinstance(job, TrainingReport) and job.finished_s is not None
    assert w.started_s == pytest.approx(job.finished_s)  # the service queued behind the job for all 16 GPUs
    assert w.ttft_s.p50 is not None and w.ttft_s.p50 > 1.0  # the first requests waited for it
    assert w.requests.completed == 400
    assert report.cluster.utilization > 0


def test_autoscaling_and_disaggregation_from_the_scenario(tmp_path: Path) -> None:
    path = changed(tmp_path, {
        "replicas": 1, "tp": 1,
        "autoscaling": {"min_replicas": 1, "max_replicas": 6, "interval": "5 s", "scale_up_at": 4,
                        "cold_start": "10 s"},
        "disaggregation": {"decode_replicas": 2, "decode_tp": 2},
        # busy enough that the prefill pool must scale
        "arrivals": {"kind": "trace", "path": "trace.csv", "time_scale": 0.05},
    })
    w = serving(simulate(load_scenario(path)))
    assert (w.gpus, w.max_replicas, w.decode_replicas) == (6 + 2 * 2, 6, 2)
    assert w.requests.completed == 400
    # paid: the decode pool all along, the prefill pool only as far as the autoscaler started it
    duration_h = (w.finished_s or 0) / 3600
    assert 5 * duration_h < w.gpu_hours < 10 * duration_h


@pytest.mark.parametrize(("edit", "field", "words"), [
    ({"tp": 3}, "workloads.chat.tp", ["tp 3 must divide", "32 attention heads"]),
    ({"model": "llama3.1-405b"}, "workloads.chat.tp", ["does not fit", "larger tp or pp"]),
    ({"model": "gpt3-125m", "pp": 13, "tp": 1, "replicas": 1}, "workloads.chat.pp", ["exceeds the model's 12 layers"]),
    ({"arrivals": {"kind": "trace", "path": "trace.csv", "output_column": "Generated"}},
     "workloads.chat.arrivals.path", ["no column 'Generated'", "GeneratedTokens"]),
    ({"arrivals": {"kind": "trace", "path": "missing.csv"}}, "workloads.chat.arrivals.path", ["cannot read"]),
    ({"arrivals": {"kind": "poisson", "rate": 1, "requests": 10}}, "workloads.chat",
     ["give input_tokens", "only trace arrivals"]),
    ({"replicas": 9, "tp": 2}, "workloads.chat", ["needs 18 GPUs", "has 16"]),
    ({"precision": "fp8", "weight_bits": 16}, "workloads.chat.weight_bits", ["only narrow"]),
    ({"router": "random"}, "workloads.chat.router", ["round_robin"]),
    ({"expert_parallel": True}, "workloads.chat.expert_parallel", ["dense", "MoE"]),
    ({"prefix_caching": {"prefix_tokens": 500_000, "groups": 4, "cache_fraction": 0.01}},
     "workloads.chat.prefix_caching.cache_fraction", ["cannot hold one prefix"]),
])
def test_bad_inference_specs_exit_2_with_file_line_and_field(tmp_path: Path, edit: dict[str, object], field: str,
                                                             words: list[str]) -> None:
    path = changed(tmp_path, edit)
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}:"), lines
    assert f": {field}: " in lines[0]
    for word in words:
        assert word in lines[0]
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    line = int(caught.value.issues[0].location.rsplit(":", 1)[1])
    text = path.read_text(encoding="utf-8").splitlines()
    key = field.rsplit(".", 1)[-1]
    assert key in text[line - 1] or key == "chat", (line, text[line - 1])


def test_json_report_of_an_inference_workload_round_trips(tmp_path: Path) -> None:
    report = simulate(load_scenario(write(tmp_path)))
    again = Report.model_validate(json.loads(report.model_dump_json()))
    assert again == report


def test_two_services_with_their_own_models_slos_and_routers_share_the_cluster(tmp_path: Path) -> None:
    data = yaml.safe_load(BASE)
    data["workloads"][0].update({"replicas": 2, "tp": 2})
    data["workloads"].append({
        "name": "code", "kind": "inference", "model": "llama2-7b", "replicas": 4, "tp": 1, "router": "kv_aware",
        "kv_cache_precision": "fp8", "precision": "fp8", "slo": {"ttft": "2 s", "tpot": "100 ms"},
        "arrivals": {"kind": "poisson", "rate": 8, "requests": 300, },
        "input_tokens": {"kind": "uniform", "low": 100, "high": 3000}, "output_tokens": 50,
    })
    report = simulate(load_scenario(write(tmp_path, yaml.safe_dump(data, sort_keys=False))))
    chat, code = serving(report, "chat"), serving(report, "code")
    assert (chat.gpus, code.gpus) == (4, 4) and report.cluster.gpus == 16
    assert chat.requests.completed == 400 and code.requests.completed == 300
    assert (chat.slo.ttft_s, code.slo.ttft_s) == (0.5, 2.0)
    # Llama-2-7B keeps all 32 KV heads (no grouped-query attention): even in fp8 on one GPU its cache holds
    # fewer tokens than Llama-3.1-8B's 8 KV heads in bf16 split over two
    assert code.kv_capacity_tokens < chat.kv_capacity_tokens


def test_prefix_caching_skips_shared_prompt_tokens_and_the_prefix_aware_router_finds_them(tmp_path: Path) -> None:
    load = {"arrivals": {"kind": "poisson", "rate": 30, "requests": 600}, "input_tokens": 3000, "output_tokens": 20}
    plain = serving(simulate(load_scenario(changed(tmp_path, load))))
    caching = {"prefix_tokens": 2500, "groups": 8, "zipf_exponent": 1.0, "cache_fraction": 0.2}
    cached = serving(simulate(load_scenario(changed(tmp_path, load | {"prefix_caching": caching}))))
    routed = serving(simulate(load_scenario(changed(tmp_path, load | {"prefix_caching": caching,
                                                                      "router": "prefix_aware"}))))
    assert plain.prefix_cache_hit_rate is None
    assert cached.prefix_cache_hit_rate is not None and routed.prefix_cache_hit_rate is not None
    assert 0 < cached.prefix_cache_hit_rate < routed.prefix_cache_hit_rate <= 1
    assert routed.ttft_s.mean < cached.ttft_s.mean < plain.ttft_s.mean  # type: ignore[operator]
    assert routed.requests.completed == cached.requests.completed == 600


def test_a_model_too_big_for_one_node_serves_with_pipeline_stages(tmp_path: Path) -> None:
    path = changed(tmp_path, {"model": "llama3.1-405b", "replicas": 1, "tp": 8, "pp": 2,
                              "arrivals": {"kind": "poisson", "rate": 0.5, "requests": 30},
                              "input_tokens": 1000, "output_tokens": 100})
    w = serving(simulate(load_scenario(path)))
    assert (w.gpus, w.pp) == (16, 2) and w.requests.completed == 30
    assert w.weights_per_gpu_bytes == pytest.approx(405.8e9 * 2 / 16, rel=0.01)
    assert w.tpot_s.p50 is not None and 0.02 < w.tpot_s.p50 < 0.2


def test_the_vidur_comparison_workload_is_a_valid_scenario() -> None:
    """benchmarks/vidur-workload.yaml mirrors benchmarks/bench_serving.py's workload (issue 16)."""
    from simulator.scenario.inference import InferenceWorkload

    scenario = load_scenario(ROOT / "benchmarks" / "vidur-workload.yaml")
    (chat,) = scenario.workloads
    assert isinstance(chat, InferenceWorkload) and scenario.cluster.gpus == 1
    assert (chat.model.name, chat.tp, chat.max_num_tokens, chat.max_batch) == ("llama2-7b", 1, 512, 128)
    assert (chat.arrivals.kind, chat.arrivals.requests) == ("poisson", 10_000)  # type: ignore[union-attr]
