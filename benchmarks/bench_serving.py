"""Speed of the serving engine on the Azure conv trace's lengths, Poisson arrivals at 4 req/s per replica,
Llama-2-7B on H100s at TP1 with chunked prefill of 512 tokens (the workload of benchmarks/vidur-workload.yaml;
Vidur needs about 33-72 s for 10,000 requests on one replica). Issue 16's targets: 10,000 requests on one
replica in 0.1 s, 100,000 in at most 2x a bare SimPy loop of 1,000,000 timeouts, 1,000,000 on 64 replicas in
10 s, at most 3.5 SimPy events per request. Prints the wall time, also as a ratio to that bare loop timed in
the same process (which compares across machines), the same for a second run whose iteration-time caches
are already filled, the SimPy events per request (counted in that run), and whether the engine runs compiled
(setup.py) or as plain Python. Usage: bench_serving.py [REQUESTS
REPLICAS], default 10000 1."""

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
    before_s = bare_loop_s()
    iterations = ReplicaIterations(cfg, net)
    start = time.perf_counter()
    out = simulate_serving(iterations, limits, replicas, arrival_s, inputs, outputs, "least_outstanding", rng)
    wall_s = time.perf_counter() - start
    start = time.perf_counter()  # again, the replica model's caches filled, SimPy's events counted
    events = counted_events(lambda: simulate_serving(iterations, limits, replicas, arrival_s, inputs, outputs,
                                                     "least_outstanding", np.random.default_rng(0)))
    warm_s = time.perf_counter() - start
    bare_s = (before_s + bare_loop_s()) / 2  # before and after: the machine's speed drifts
    price = cfg.accelerator.latest_price(PriceKind.ON_DEMAND)
    usd_per_gpu_hour = price.usd if price else 0.0
    summary = summarize_serving(out, inputs, outputs, 1, usd_per_gpu_hour, slo_ttft_s=1.0, slo_tpot_s=0.05)
    print(f"{requests:,} requests, llama2-7b on {replicas} H100 replica(s), Poisson {4 * replicas} req/s, "
          f"conv-trace lengths, chunk 512; engine {engine_build()}")
    target = "targets 0.1 s for 10,000 on one replica, 2x the bare loop for 100,000" if replicas == 1 else \
        "target 10 s for 1,000,000 on 64 replicas"
    print(f"wall {wall_s:.3f} s ({wall_s / requests * 1e3:.4f} ms per request; {target}); "
          f"{wall_s / bare_s:.2f}x a bare SimPy loop of 1,000,000 timeouts ({bare_s:.2f} s here, mean of one "
          f"before and one after); again with the iteration model's caches filled {warm_s:.3f} s "
          f"({warm_s / bare_s:.2f}x)")
    print(f"SimPy events: {events:,} ({events / requests:.2f} per request)")
    print(f"simulated {out.end_s:,.0f} s: completed {summary.completed:,} of "
          f"{summary.arrived:,}, preemptions {summary.preemptions}")
    print(f"TTFT p50 {summary.ttft.p50_s * 1e3:.0f} ms p99 {summary.ttft.p99_s * 1e3:.0f} ms; TPOT p50 "
          f"{summary.tpot.p50_s * 1e3:.1f} ms p99 {summary.tpot.p99_s * 1e3:.1f} ms; SLO (1 s, 50 ms) "
          f"{summary.slo_attainment:.1%}")
    print(f"busy {summary.busy_fraction:.0%}, KV cache {summary.kv_cache_utilization:.0%}, "
          f"{summary.output_tokens_per_s:,.0f} output tokens/s, ${summary.usd_per_million_output_tokens:.2f} per "
          f"million output tokens at ${usd_per_gpu_hour:.2f}/GPU-h")


def engine_build() -> str:
    """Whether the serving engine's modules run compiled (mypyc, see setup.py) or as plain Python."""
    from simulator.engine.serving import replica
    return "compiled" if not replica.__file__ or not replica.__file__.endswith(".py") else "plain Python"


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
