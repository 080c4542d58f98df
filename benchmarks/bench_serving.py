"""Speed of the serving engine (issue 6 target: the Azure conv trace's lengths, Poisson arrivals at 4 req/s,
Llama-2-7B on one H100 at TP1 with chunked prefill of 512 tokens, 10,000 requests in <= 0.7 s; Vidur
needs about 72 s; and 1,000,000 requests on 64 replicas in <= 60 s; issue 16 targets 0.1 s, 10 s and at most
3.5 SimPy events per request). Prints figures, among them the SimPy events per request (counted in a second
run) and the wall time as a ratio to a bare SimPy loop of 1,000,000 timeouts in the same process, which
compares across machines; replays the lengths of the conv trace shipped in scenarios/traces (the same
workload as benchmarks/vidur-workload.yaml). Usage: bench_serving.py [REQUESTS REPLICAS], default 10000 1
(the load scales with the replicas)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Generator
from pathlib import Path

import numpy as np
import simpy

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
from simulator.plan.limits import ReplicaLimits  # noqa: E402

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
    bare_s = bare_loop_s()
    start = time.perf_counter()
    out = simulate_serving(ReplicaIterations(cfg, net), limits, replicas, arrival_s, inputs, outputs,
                           "least_outstanding", rng)
    wall_s = time.perf_counter() - start
    events = counted_events(lambda: simulate_serving(ReplicaIterations(cfg, net), limits, replicas, arrival_s,
                                                     inputs, outputs, "least_outstanding",
                                                     np.random.default_rng(0)))
    price = cfg.accelerator.latest_price(PriceKind.ON_DEMAND)
    usd_per_gpu_hour = price.usd if price else 0.0
    summary = summarize_serving(out, inputs, outputs, 1, usd_per_gpu_hour, slo_ttft_s=1.0, slo_tpot_s=0.05)
    print(f"{requests:,} requests, llama2-7b on {replicas} H100 replica(s), Poisson {4 * replicas} req/s, "
          "conv-trace lengths, chunk 512")
    target = "target 0.1 s for 10,000 on one replica (issue 16); Vidur ~72 s" if replicas == 1 else \
        "target 10 s for 1,000,000 on 64 replicas (issue 16)"
    print(f"wall {wall_s:.2f} s ({wall_s / requests * 1e3:.3f} ms per request; {target}); "
          f"{wall_s / bare_s:.2f}x a bare SimPy loop of 1,000,000 timeouts ({bare_s:.2f} s here)")
    print(f"SimPy events: {events:,} ({events / requests:.2f} per request)")
    print(f"simulated {out.end_s:,.0f} s: completed {summary.completed:,} of "
          f"{summary.arrived:,}, preemptions {summary.preemptions}")
    print(f"TTFT p50 {summary.ttft.p50_s * 1e3:.0f} ms p99 {summary.ttft.p99_s * 1e3:.0f} ms; TPOT p50 "
          f"{summary.tpot.p50_s * 1e3:.1f} ms p99 {summary.tpot.p99_s * 1e3:.1f} ms; SLO (1 s, 50 ms) "
          f"{summary.slo_attainment:.1%}")
    print(f"busy {summary.busy_fraction:.0%}, KV cache {summary.kv_cache_utilization:.0%}, "
          f"{summary.output_tokens_per_s:,.0f} output tokens/s, ${summary.usd_per_million_output_tokens:.2f} per "
          f"million output tokens at ${usd_per_gpu_hour:.2f}/GPU-h")


def bare_loop_s(timeouts: int = 1_000_000) -> float:
    """Seconds SimPy takes for one process yielding `timeouts` timeouts: this machine's speed of SimPy."""
    env = simpy.Environment()

    def loop() -> Generator[simpy.Event, object, None]:
        for _ in range(timeouts):
            yield env.timeout(1.0)

    env.process(loop())
    start = time.perf_counter()
    env.run()
    return time.perf_counter() - start


def counted_events(run: Callable[[], object]) -> int:
    """Events SimPy processes during `run()` (its environments' steps, counted)."""
    counts = [0]
    step = simpy.Environment.step

    def counting(env: simpy.Environment) -> None:
        counts[0] += 1
        step(env)

    simpy.Environment.step = counting  # type: ignore[method-assign]
    try:
        run()
    finally:
        simpy.Environment.step = step  # type: ignore[method-assign]
    return counts[0]


if __name__ == "__main__":
    main()
