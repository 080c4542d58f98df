"""Time `clustersim plan` in-process (simulator.tools.planner.make_plan, fresh caches each case) and as a
command line (wall time of a new Python process, imports included); the CPU time is the in-process
figure on a machine shared with other work: `python benchmarks/bench_plan.py`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from simulator.models.workload.shapes import llama_style_model
from simulator.models.workload.transformer import parameter_counts
from simulator.tools import layouts
from simulator.tools.planner import PlanRequest, make_plan

ROOT = Path(__file__).resolve().parents[1]
CASES: list[tuple[str, ...]] = [
    ("--compute", "5.76e23"),
    ("--params", "70B"),
    ("--params", "10T", "--accelerator", "a100-80gb-sxm", "--days", "730"),
    ("--budget-usd", "300M"),
    ("--compute", "5.76e23", "--gpus", "4096"),
]


def request(args: tuple[str, ...]) -> PlanRequest:
    """The PlanRequest the command line builds from `args`."""
    options = dict(zip(args[::2], args[1::2], strict=True))
    gpus = options.get("--gpus")
    return PlanRequest(compute=options.get("--compute"), params=options.get("--params"),
                       budget_usd=options.get("--budget-usd"),
                       accelerator=options.get("--accelerator", "h100-sxm"), days=options.get("--days"),
                       gpus=None if gpus is None else int(gpus))


def clear_caches() -> None:
    """Forget every cached layout search, model shape and parameter count, so that each case pays for its own."""
    for cached in (layouts._fewest_nodes, layouts._best_mfu, layouts._reference_network, llama_style_model,
                   parameter_counts):
        cached.cache_clear()


def main() -> None:
    for args in CASES:
        clear_caches()
        started, cpu = time.perf_counter(), time.process_time()
        make_plan(request(args))
        in_process, cpu = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "cli.py"), "plan", *args], check=True, capture_output=True)
        wall = time.perf_counter() - started
        print(f"plan {' '.join(args):60} in-process {in_process:5.2f} s "
              f"({cpu:5.2f} s CPU)   command line {wall:5.2f} s")


if __name__ == "__main__":
    main()
