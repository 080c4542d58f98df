"""Speed of the failure model (issue 5 target: 16,384 GPUs, 54 simulated days, checkpoints every 30 min: one
replicate <= 1 s, 1,000 replicates <= 60 s on 2 cores), run at Meta's RSC-1 rate (6.5 failures per 1,000
node-days, ~720 per replicate) rather than the scenario's Llama 3 rate, to stress it. Prints figures."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.plan.load import load_scenario  # noqa: E402
from simulator.run import simulate  # noqa: E402
from simulator.scenario.schema import Scenario  # noqa: E402

SCENARIO = ROOT / "scenarios" / "llama3-405b-failures.yaml"
RSC1_RATE = "failures.components.node.failures_per_1000_node_days=6.5"


def _interruptions(scenario: Scenario, seeds: range) -> list[tuple[int, float]]:
    out = []
    for seed in seeds:
        job = simulate(scenario.model_copy(update={"seed": seed}), series=False).workloads["llama3-405b"]
        out.append((job.interruptions, job.ettr))
    return out


def main() -> None:
    replicates = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    workers = os.cpu_count() or 1
    scenario = load_scenario(SCENARIO, [RSC1_RATE])
    start = time.perf_counter()
    report = simulate(scenario)
    cold = time.perf_counter() - start
    job = report.workloads["llama3-405b"]
    print(f"one replicate, cold (builds the 16,512-GPU network, prices the step): {cold:.2f} s; "
          f"{job.interruptions} interruptions, {job.checkpoints} checkpoints, ETTR {job.ettr:.3f}")
    start = time.perf_counter()
    simulate(scenario.model_copy(update={"seed": 1}), series=False)
    print(f"one replicate, warm (no plot series, as Monte Carlo runs it): {time.perf_counter() - start:.3f} s")
    start = time.perf_counter()
    chunks = [range(i, replicates, workers) for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        results = [r for part in pool.map(_interruptions, [scenario] * workers, chunks) for r in part]
    elapsed = time.perf_counter() - start
    mean_n = sum(n for n, _ in results) / len(results)
    mean_ettr = sum(e for _, e in results) / len(results)
    print(f"{replicates} replicates on {workers} processes: {elapsed:.1f} s "
          f"(mean {mean_n:.1f} interruptions, mean ETTR {mean_ettr:.3f})")


if __name__ == "__main__":
    main()
