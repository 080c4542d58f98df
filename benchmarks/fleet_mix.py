"""The figures the mixed-fleet scenarios' comments quote: scenarios/fleets/h100-plus-a100-training.yaml run four
ways (both pools with the balanced and the even micro-batch split, each pool alone),
scenarios/fleets/h100-prefill-mi300x-decode.yaml against the same service with H100s in both pools, and
scenarios/fleets/nvl72-next-to-hgx.yaml with its rack's NVLink domain and without it.

    python -m benchmarks.fleet_mix
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import simulator as cs
from simulator.report.model import InferenceReport, TrainingReport

FLEETS = Path(__file__).resolve().parents[1] / "scenarios" / "fleets"
SCENARIO = FLEETS / "h100-plus-a100-training.yaml"
SERVING = FLEETS / "h100-prefill-mi300x-decode.yaml"
SERVING_CASES: dict[str, dict[str, Any]] = {
    "H100 prefill + MI300X decode": {},
    "H100 prefill + H100 decode": {"cluster.pools.mi300x.accelerator": "h100-sxm", "cluster.pools.mi300x.rental": None,
                                   "cluster.pools.mi300x.gpu_hour_usd": 2.99},
}
DOMAINS = FLEETS / "nvl72-next-to-hgx.yaml"
DOMAIN_CASES: dict[str, tuple[str, dict[str, Any]]] = {  # (workload, overrides)
    "TP16 in the NVL72 rack": ("on-nvl72", {}),
    "TP16 on the rack's 4-GPU trays": ("on-nvl72", {"cluster.pools.nvl72.scale_up_domain": None}),
    "TP16 over two HGX H100 nodes": ("on-hgx", {}),
}
JOB = "workloads.llama70b"
CASES: dict[str, dict[str, Any]] = {
    "H100 pool alone (DP 16)": {f"{JOB}.pools": {"h100": 512}, f"{JOB}.parallelism.dp": 16},
    "A100 pool alone (DP 8)": {f"{JOB}.pools": {"a100": 256}, f"{JOB}.parallelism.dp": 8},
    "both pools, balanced": {},
    "both pools, even": {f"{JOB}.batch_split": "even"},
}


def figures() -> dict[str, dict[str, float]]:
    """Per case: step seconds, days, the job's and the cluster's cost."""
    found = {}
    for name, changes in CASES.items():
        report = cs.simulate(cs.load(SCENARIO, changes))
        job = report.workloads["llama70b"]
        assert isinstance(job, TrainingReport)
        found[name] = {"step_s": job.step_time_s or 0.0, "days": report.simulated_s / 86_400,
                       "job_usd": job.cost_usd, "cluster_usd": report.cluster.cost_usd, "mfu": job.mfu or 0.0}
    return found


def _served(path: Path, cases: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Per case (a workload of the scenario, and overrides): TPOT and TTFT medians (s), SLO attainment, the
    service's cost and energy."""
    found = {}
    for name, (workload, changes) in cases.items():
        service = cs.simulate(cs.load(path, changes)).workloads[workload]
        assert isinstance(service, InferenceReport)
        found[name] = {"tpot_p50_s": service.tpot_s.p50 or 0.0, "ttft_p50_s": service.ttft_s.p50 or 0.0,
                       "slo": service.slo_attainment or 0.0, "usd": service.cost_usd, "kwh": service.energy_kwh}
    return found


def serving_figures() -> dict[str, dict[str, float]]:
    """The disaggregated service with its decode pool on MI300X and on H100."""
    return _served(SERVING, {name: ("chat", changes) for name, changes in SERVING_CASES.items()})


def domain_figures() -> dict[str, dict[str, float]]:
    """The TP16 replicas in the NVL72 rack, on its trays as separate 4-GPU domains, and on HGX H100 nodes."""
    return _served(DOMAINS, DOMAIN_CASES)


def main() -> None:
    """Print the tables."""
    rows = figures()
    print(f"{'case':26s} {'step':>9s} {'days':>6s} {'MFU':>6s} {'job':>12s} {'cluster':>12s}")
    for name, row in rows.items():
        print(f"{name:26s} {row['step_s']:7.2f} s {row['days']:6.2f} {row['mfu']:6.3f} ${row['job_usd']:>11,.0f} "
              f"${row['cluster_usd']:>11,.0f}")
    alone = [rows["H100 pool alone (DP 16)"]["step_s"], rows["A100 pool alone (DP 8)"]["step_s"]]
    print(f"ideal step of both pools (their rates added): {1 / sum(1 / s for s in alone):.2f} s\n")
    print(f"{'serving':30s} {'TPOT p50':>9s} {'TTFT p50':>9s} {'SLO':>7s} {'cost':>8s} {'energy':>9s}")
    for table in (serving_figures(), domain_figures()):
        for name, row in table.items():
            print(f"{name:30s} {row['tpot_p50_s'] * 1e3:6.2f} ms {row['ttft_p50_s'] * 1e3:6.1f} ms {row['slo']:7.4f} "
                  f"${row['usd']:7.2f} {row['kwh']:5.1f} kWh")


if __name__ == "__main__":
    main()
