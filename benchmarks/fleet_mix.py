"""The figures the mixed-fleet scenarios' comments quote: scenarios/fleets/h100-plus-a100-training.yaml run four
ways (both pools with the balanced and the even micro-batch split, each pool alone),
scenarios/fleets/h100-prefill-mi300x-decode.yaml against the same service with H100s in both pools, and
scenarios/fleets/nvl72-next-to-hgx.yaml with its rack's NVLink domain and without it, and the three mixes that
tests/test_heterogeneous.py checks against published ranges (docs/fleets.md "Validation").

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
MIX = """
name: mix
cluster:
  pools:
    - {{name: fast, accelerator: {fast}, nodes: 8, gpus_per_node: 8}}
    - {{name: slow, accelerator: {slow}, nodes: 8, gpus_per_node: 8}}
pricing: {{gpu_hour_usd: 2}}
workloads:
  - name: train
    kind: training
    model: {model}
    tokens: 1B
    seq_len: 4096
    global_batch_size: 1024
    pools: {{fast: 64, slow: 64}}
    parallelism: {{tp: 8, pp: {pp}, dp: {dp}, zero_stage: 1, activation_recompute: selective}}
"""
PAIRS = [("h100-sxm", "a100-80gb-sxm", "llama3.1-8b", 1), ("a100-80gb-sxm", "v100-sxm2-32gb", "llama2-7b", 1),
         ("h100-sxm", "a100-80gb-sxm", "llama3.1-70b", 2)]  # (fast chip, slow chip, model, pipeline stages)
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


def _train(text: str, changes: dict[str, Any]) -> TrainingReport:
    report = cs.simulate(cs.load(text, changes)).workloads["train"]
    assert isinstance(report, TrainingReport) and report.step_time_s is not None
    return report


def mix_runs(fast: str, slow: str, model: str, pp: int) -> dict[str, TrainingReport]:
    """64 GPUs of each chip: one job over both, balanced and even, and the fast pool alone."""
    text = MIX.format(fast=fast, slow=slow, model=model, pp=pp, dp=16 // pp)
    return {"balanced": _train(text, {}), "even": _train(text, {"workloads.train.batch_split": "even"}),
            "fast": _train(text, {"workloads.train.pools": {"fast": 64}, "workloads.train.parallelism.dp": 8 // pp})}


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
    print(f"{'mix (64 + 64 GPUs)':44s} {'even / balanced':>15s} {'MFU gap to the fast pool alone':>31s}")
    for fast, slow, model, pp in PAIRS:
        runs = mix_runs(fast, slow, model, pp)
        gain = (runs["even"].step_time_s or 0.0) / (runs["balanced"].step_time_s or 1.0)
        gap = abs((runs["balanced"].mfu or 0.0) - (runs["fast"].mfu or 0.0)) / (runs["fast"].mfu or 1.0)
        print(f"{fast + ' + ' + slow + ', ' + model:44s} {gain:15.2f} {gap * 100:30.1f}%")
    print(f"\n{'serving':30s} {'TPOT p50':>9s} {'TTFT p50':>9s} {'SLO':>7s} {'cost':>8s} {'energy':>9s}")
    for table in (serving_figures(), domain_figures()):
        for name, row in table.items():
            print(f"{name:30s} {row['tpot_p50_s'] * 1e3:6.2f} ms {row['ttft_p50_s'] * 1e3:6.1f} ms {row['slo']:7.4f} "
                  f"${row['usd']:7.2f} {row['kwh']:5.1f} kWh")


if __name__ == "__main__":
    main()
