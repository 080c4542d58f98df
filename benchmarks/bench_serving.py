"""Speed of the serving engine (issue 6 target: the Azure conv trace's lengths, Poisson arrivals at 4 req/s,
Llama-2-7B on one H100 at TP1 with chunked prefill of 512 tokens, 10,000 requests in <= 0.7 s; Vidur
needs about 72 s; and 1,000,000 requests on 64 replicas in <= 60 s). Prints figures; replays the lengths of
the conv trace shipped in scenarios/traces. Usage: bench_serving.py [REQUESTS REPLICAS], default 10000 1
(the load scales with the replicas)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.catalog import accelerator, model  # noqa: E402
from simulator.engine.serving.deployment import simulate_serving  # noqa: E402
from simulator.engine.serving.summary import summarize_serving  # noqa: E402
from simulator.models.hardware import Precision, PriceKind  # noqa: E402
from simulator.models.topology.build import build_network  # noqa: E402
from simulator.models.topology.shape import ClusterShape  # noqa: E402
from simulator.models.topology.specs import SingleSwitchTopology  # noqa: E402
from simulator.models.workload.arrivals import load_trace, poisson_arrivals_s  # noqa: E402
from simulator.models.workload.serving_time import ReplicaIterations, ServingConfig  # noqa: E402
from simulator.plan.serving import ReplicaLimits  # noqa: E402

TRACE = ROOT / "scenarios" / "traces" / "azure_llm_2023_conv.csv"
BLOCK_TOKENS = 16


def main() -> None:
    requests, replicas = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (10_000, 1)
    trace = load_trace(TRACE)
    rng = np.random.default_rng(0)
    rows = np.arange(requests) % len(trace.input_tokens)
    inputs, outputs = trace.input_tokens[rows], trace.output_tokens[rows]
    arrival_s = poisson_arrivals_s(4.0 * replicas, requests, rng)
    cfg = ServingConfig(model("llama2-7b"), accelerator("h100-sxm"), Precision.BF16, 2.0, 1, 0.9, 2 * 2**30,
                        256, 512, 0.0)
    net = build_network(SingleSwitchTopology(kind="single_switch"), ClusterShape(1, 8, 450e9, 50e9, True))
    limits = ReplicaLimits(cfg.max_batch, cfg.max_num_tokens, cfg.kv_capacity_tokens // BLOCK_TOKENS,
                           BLOCK_TOKENS)
    start = time.perf_counter()
    out = simulate_serving(ReplicaIterations(cfg, net), limits, replicas, arrival_s, inputs, outputs,
                           "least_outstanding", rng)
    wall_s = time.perf_counter() - start
    price = cfg.accelerator.latest_price(PriceKind.ON_DEMAND)
    usd_per_gpu_hour = price.usd if price else 0.0
    summary = summarize_serving(out, inputs, outputs, 1, usd_per_gpu_hour, slo_ttft_s=1.0, slo_tpot_s=0.05)
    print(f"{requests:,} requests, llama2-7b on {replicas} H100 replica(s), Poisson {4 * replicas} req/s, "
          "conv-trace lengths, chunk 512")
    target = "target 0.7 s for 10,000 on one replica; Vidur ~72 s" if replicas == 1 else \
        "target 60 s for 1,000,000 on 64 replicas"
    print(f"wall {wall_s:.2f} s ({wall_s / requests * 1e3:.3f} ms per request; {target})")
    print(f"simulated {out.end_s:,.0f} s: completed {summary.completed:,} of "
          f"{summary.arrived:,}, preemptions {summary.preemptions}")
    print(f"TTFT p50 {summary.ttft.p50_s * 1e3:.0f} ms p99 {summary.ttft.p99_s * 1e3:.0f} ms; TPOT p50 "
          f"{summary.tpot.p50_s * 1e3:.1f} ms p99 {summary.tpot.p99_s * 1e3:.1f} ms; SLO (1 s, 50 ms) "
          f"{summary.slo_attainment:.1%}")
    print(f"busy {summary.busy_fraction:.0%}, KV cache {summary.kv_cache_utilization:.0%}, "
          f"{summary.output_tokens_per_s:,.0f} output tokens/s, ${summary.usd_per_million_output_tokens:.2f} per "
          f"million output tokens at ${usd_per_gpu_hour:.2f}/GPU-h")


if __name__ == "__main__":
    main()
