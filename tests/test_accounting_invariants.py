"""The accounting invariants (simulator/report/invariants.py) hold on every shipped scenario and on generated
shared clusters: tenants pay what the cluster allocated, workloads no more than they held, energy and cost add
up, and every request and batch job is accounted for."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st

from simulator.plan.load import load_scenario, validate_data
from simulator.report.invariants import violations
from simulator.report.model import Report
from simulator.run import simulate
from simulator.scenario.loader import ScenarioError
from simulator.scenario.yaml_lines import LocatedData
from tests.conftest import ROOT, SCENARIOS

# Shorter horizons where a scenario takes seconds to run in full (the golden test runs them in full).
SHORT = {"job-trace": "2 h", "published/dense-1t-a100": "10 d", "serve-llama70b-azure-conv": "15 min",
         "serve-llama70b-azure-conv-disaggregated": "15 min"}
KNOWN: dict[str, pytest.MarkDecorator] = {}  # scenarios with a known, filed accounting gap (none today)


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT / "scenarios").with_suffix(""))


@cache
def _run(name: str) -> Report:
    """A shipped scenario's report (once per test session), over a shorter horizon where it is slow."""
    horizon = SHORT.get(name)
    return simulate(load_scenario(ROOT / "scenarios" / f"{name}.yaml", [f"horizon={horizon}"] if horizon else []))


@pytest.mark.parametrize("name", [pytest.param(_name(p), id=_name(p), marks=KNOWN.get(_name(p), ()))
                                  for p in SCENARIOS])
def test_a_shipped_scenario_adds_up(name: str) -> None:
    assert violations(_run(name)) == []


@pytest.fixture
def shared() -> Report:
    """The shared cluster: an autoscaled service that ends before the horizon, two tenants' batch jobs."""
    return _run("shared-cluster")


def test_a_service_pays_only_while_it_holds_its_gpus(shared: Report) -> None:
    """Regression: replicas of a finished service were paid until the horizon (75.9 GPU-hours for 29.4 held)."""
    chat = shared.workloads["chat"]
    assert chat.finished_s is not None and chat.finished_s < shared.simulated_s
    assert chat.gpu_hours <= chat.gpus * chat.finished_s / 3600


@pytest.mark.parametrize("tamper, found", [
    (lambda r: r.tenants["product"].__setattr__("gpu_hours", r.tenants["product"].gpu_hours + 1.0),
     "the cluster allocated"),
    (lambda r: r.workloads["chat"].__setattr__("gpu_hours", 1e6), "held at most"),
    (lambda r: r.workloads["chat"].__setattr__("energy_kwh", 1e9), "the cluster's GPUs"),
    (lambda r: r.cluster.cost_breakdown.__setattr__("idle_usd", r.cluster.cost_breakdown.idle_usd + 1.0),
     "cluster: cost breakdown"),
    (lambda r: r.workloads["chat"].requests.__setattr__("completed", r.workloads["chat"].requests.completed - 1),
     "requests arrived"),
    (lambda r: r.jobs.__setattr__("queued", r.jobs.queued + 1), "batch jobs:"),
])
def test_each_invariant_catches_its_violation(shared: Report, tamper: Any, found: str) -> None:
    assert violations(shared) == []
    report = shared.model_copy(deep=True)
    tamper(report)
    assert any(found in v for v in violations(report)), violations(report)


# no shrinking: a failure prints its example at once (shrinking these runs takes minutes)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(
    nodes=st.integers(2, 4),
    training=st.lists(st.tuples(st.sampled_from([8, 16]), st.floats(0.0, 2.0), st.booleans()), min_size=1,
                      max_size=3),
    job_rate=st.floats(0.005, 0.05),
    peak=st.floats(0.5, 4.0),
    horizon_h=st.floats(1.0, 4.0),
    node_mtbf_h=st.sampled_from([None, 4.0]),
    communication=st.sampled_from([None, {"pattern": "all_reduce", "fraction": 0.3},
                                   {"pattern": "all_to_all", "fraction": 0.6}]),
    placement=st.sampled_from(["topology_aware", "packed", "spread", "random"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_generated_shared_clusters_add_up(nodes: int, training: list[tuple[int, float, bool]], job_rate: float,
                                          peak: float, horizon_h: float, node_mtbf_h: float | None,
                                          communication: dict[str, Any] | None, placement: str,
                                          seed: int) -> None:
    """Training jobs (some preemptible), a stream of preemptible batch jobs (with or without a collective on
    the shared links) and an autoscaled service with priority share a few nodes with preemption on, under any
    placement, nodes failing or not; whatever happens, the books balance."""
    jobs: list[dict[str, Any]] = [{
        "name": f"train{i}", "kind": "training", "tenant": f"t{i % 2}", "model": "gpt3-350m", "tokens": "1T",
        "seq_len": 2048, "global_batch_size": gpus, "parallelism": {"dp": gpus}, "start_at": f"{start_h} h",
        "preemptible": preemptible, "checkpoint": {"policy": "fixed", "interval": "20 min", "write": "10 s"},
    } for i, (gpus, start_h, preemptible) in enumerate(training)]
    data = {
        "name": "generated", "seed": seed, "horizon": f"{horizon_h} h",
        "cluster": {"accelerator": "h100-sxm", "nodes": nodes, "gpus_per_node": 8, "topology": {"kind": "fat_tree"}},
        "pricing": {"gpu_hour_usd": 2.0, "electricity_usd_per_kwh": 0.1},
        "scheduler": {"policy": "backfill", "preemption": True, "placement": placement},
        "workloads": [*jobs, {
            "name": "chat", "kind": "inference", "tenant": "product", "priority": 10, "model": "llama3.1-70b",
            "replicas": 1, "tp": 4, "slo": {"ttft": "1 s", "tpot": "50 ms"},
            "autoscaling": {"min_replicas": 1, "max_replicas": 3, "interval": "30 s", "scale_up_at": 4,
                            "scale_down_at": 1, "cold_start": "1 min"},
            "arrivals": {"kind": "diurnal", "period": "1 h", "rates": [0.2, peak, 0.2], "requests": 1500},
            "input_tokens": {"kind": "lognormal", "median": 500, "sigma": 0.5, "max": 2000},
            "output_tokens": {"kind": "lognormal", "median": 100, "sigma": 0.5, "max": 400},
        }],
        "jobs": [{"kind": "generated", "name": "batch", "count": 20, "rate": job_rate,
                  "gpus": {"kind": "choice", "values": [1, 2, 4, 8, 16]},
                  "duration": {"kind": "lognormal", "median": "20 min", "sigma": 1.0, "max": "3 h"},
                  "tenants": {"t0": 1, "t1": 1}, "priority": 1, "preemptible": True, "on_preempt": "checkpoint",
                  "checkpoint_interval": "10 min", "communication": communication}],
    }
    if node_mtbf_h is not None:
        data["failures"] = {"components": [{"name": "node", "scope": "node", "mtbf": f"{node_mtbf_h} h",
                                            "repair": {"median": "30 min", "sigma": 0.5}}]}
    try:
        scenario = validate_data(LocatedData(data), "generated")
    except ScenarioError:
        reject()
    assert violations(simulate(scenario)) == []
