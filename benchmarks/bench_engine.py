"""Speed of the engine: wall time per simulated scenario, and per job in a long queue. Prints figures;
no thresholds (speed goals are read by people, not asserted in unit tests)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.plan.load import load_scenario  # noqa: E402
from simulator.run import simulate  # noqa: E402


def _time(path: Path, overrides: list[str], repeats: int = 5) -> tuple[float, float]:
    scenario = load_scenario(path, overrides)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        report = simulate(scenario)
        best = min(best, time.perf_counter() - start)
    return best, report.simulated_s


def main() -> None:
    print(f"{'case':<44} {'simulated':>12} {'wall (best of 5)':>17}")
    for name in ("quickstart", "llama3-70b-h100", "shared-cluster-queue", "mixtral-mi300x"):
        wall, simulated = _time(ROOT / "scenarios" / f"{name}.yaml", [])
        print(f"{name:<44} {simulated / 86400:>10.2f} d {wall * 1e3:>14.2f} ms")
    # A long FIFO queue: 2,000 copies of a 32-GPU job on a 128-GPU cluster.
    queue = ROOT / "scenarios" / "quickstart.yaml"
    text = queue.read_text(encoding="utf-8")
    body = text.split("workloads:\n", 1)[1]
    jobs = "".join(body.replace("name: pretrain", f"name: job{i}").replace("tokens: 26B", "tokens: 1B")
                   for i in range(2000))
    with tempfile.TemporaryDirectory() as folder:
        many = Path(folder) / "queue.yaml"
        many.write_text(text.split("workloads:\n", 1)[0].replace("nodes: 4", "nodes: 16") + "workloads:\n" + jobs)
        load_start = time.perf_counter()
        scenario = load_scenario(many)
        load_s = time.perf_counter() - load_start
    start = time.perf_counter()
    report = simulate(scenario)
    wall = time.perf_counter() - start
    print(f"{'2,000 queued 32-GPU jobs on 128 GPUs':<44} {report.simulated_s / 86400:>10.2f} d "
          f"{wall * 1e3:>14.2f} ms  ({wall / 2000 * 1e6:.0f} us per job; loading {load_s * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
