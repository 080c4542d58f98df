"""Speed of a shared cluster (issue 8 target: a month of a 10,000-GPU cluster with 5,000 training jobs from the
generator and 2 autoscaled inference services replaying a diurnal load, under 30 s on 2 cores; issue 14: on a
1:3 fat tree with the jobs' all-to-alls sharing links, at most 1.5x the time with each job priced alone).
Prints the figures of both runs, shared links first. Usage: bench_shared_cluster.py [REQUESTS_PER_SERVICE]
(default 200,000)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.plan.load import load_scenario  # noqa: E402
from simulator.run import simulate  # noqa: E402

DAY = [0.3, 0.2, 0.2, 0.3, 0.6, 1.0, 1.4, 1.6, 1.6, 1.5, 1.3, 1.0]  # relative rate in 2-hour slots


def scenario(requests: int, shared_links: bool = True) -> dict[str, object]:
    mean_rate = requests / (30 * 86400) / (sum(DAY) / len(DAY))  # the curve's mean is the mean rate
    service = {
        "kind": "inference", "model": "llama3.1-70b", "tp": 8, "replicas": 2, "priority": 10,
        "max_num_tokens": 4096, "iteration_overhead": "2 ms", "slo": {"ttft": "2 s", "tpot": "100 ms"},
        "autoscaling": {"min_replicas": 2, "max_replicas": 64, "interval": "5 min", "scale_up_at": 16,
                        "scale_down_at": 2, "cold_start": "5 min"},
        "arrivals": {"kind": "diurnal", "period": "1 d", "requests": requests,
                     "rates": [mean_rate * r for r in DAY]},
        "input_tokens": {"kind": "lognormal", "median": 2000, "sigma": 0.8, "max": 16000},
        "output_tokens": {"kind": "lognormal", "median": 6000, "sigma": 0.5, "max": 16000},  # agents, long answers
    }
    return {
        "name": "bench-shared-cluster", "seed": 1, "horizon": "30 d",
        "cluster": {"accelerator": "h100-sxm", "nodes": 1250, "gpus_per_node": 8, "topology": {"kind": "fat_tree",
                                                                                              "tiers": 3,
                                                                                              "oversubscription": 3},
                    "shared_links": shared_links},
        "pricing": {"gpu_hour_usd": 2.5},
        "scheduler": {"policy": "backfill", "preemption": True},
        "failures": {"components": [{"name": "node", "scope": "node", "failures_per_1000_node_days": 6.5,
                                     "distribution": "exponential", "repair": {"median": "1 h", "sigma": 1.1}}]},
        "workloads": [service | {"name": "chat", "tenant": "product"},
                      service | {"name": "code", "tenant": "devtools"}],
        "jobs": [{"kind": "generated", "name": "train", "count": 5000, "rate": 5000 / (28 * 86400),
                  "gpus": {"kind": "power_of_two", "share": 0.65, "max": 2048},
                  "duration": {"kind": "lognormal", "median": "30 h", "sigma": 1.3, "max": "14 d"},
                  "tenants": {"research": 3, "vision": 1, "speech": 1}, "preemptible": True,
                  "checkpoint_interval": "1 h", "communication": {"pattern": "all_to_all", "fraction": 0.2}}],
    }


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    shared_s = run(requests, shared_links=True)
    alone_s = run(requests, shared_links=False)
    print(f"shared links {shared_s:.1f} s, each job alone {alone_s:.1f} s: ratio {shared_s / alone_s:.2f} "
          "(target at most 1.5)")


def run(requests: int, shared_links: bool) -> float:
    """Simulate the month once and print its figures; returns the wall time."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.yaml"
        path.write_text(yaml.safe_dump(scenario(requests, shared_links), sort_keys=False), encoding="utf-8")
        loaded = load_scenario(path)
    start = time.perf_counter()
    report = simulate(loaded)
    wall_s = time.perf_counter() - start
    jobs = report.jobs
    assert jobs is not None
    print(f"shared_links {str(shared_links).lower()}: 30 days, 10,000 H100, 5,000 generated jobs, 2 autoscaled "
          f"services x {requests:,} requests: {wall_s:.1f} s (target 30 s)")
    print(f"jobs: {jobs.completed:,} completed, {jobs.running:,} running, {jobs.queued:,} queued; mean queue "
          f"{jobs.mean_queued_s / 3600:.2f} h, p99 {jobs.p99_queued_s / 3600:.1f} h; mean slowdown "
          f"{jobs.mean_slowdown or 0:.2f}; contention factor {jobs.contention_factor:.3f}; {jobs.preemptions:,} "
          f"preemptions, {jobs.interruptions:,} failure interruptions, {jobs.lost_gpu_hours:,.0f} GPU-h lost")
    for name in ("chat", "code"):
        w = report.workloads[name]
        print(f"{name}: {w.requests.completed:,} of {w.requests.total:,} requests, SLO "  # type: ignore[union-attr]
              f"{w.slo_attainment or 0:.1%}, {w.gpu_hours:,.0f} GPU-h")  # type: ignore[union-attr]
    shares = ", ".join(f"{t} {v.share:.1%} (${v.cost_usd:,.0f}, caused {v.preemptions_caused} preemptions)"
                       for t, v in report.tenants.items())
    print(f"tenants: {shares}")
    hottest = report.cluster.hottest_links[0] if report.cluster.hottest_links else None
    print(f"cluster: utilization {report.cluster.utilization:.1%}, allocation {report.cluster.allocation:.1%}, "
          f"{report.cluster.node_failures:,} node failures; link load "
          + ", ".join(f"{tier} {load:.1%}" for tier, load in report.cluster.link_utilization.items())
          + (f"; hottest {hottest.name} {hottest.utilization:.1%}" if hottest else ""))
    return wall_s


if __name__ == "__main__":
    main()
