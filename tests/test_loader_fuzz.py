"""Fuzz the scenario loader: any edit of a valid scenario either loads and runs, or fails with located
ScenarioError lines. Nothing else may escape (no tracebacks for bad input)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_inputs import places
from simulator.plan.load import load_scenario
from simulator.report.model import TrainingReport
from simulator.run import simulate
from simulator.scenario.loader import ScenarioError
from tests.conftest import ROOT

BASE = yaml.safe_load((ROOT / "scenarios" / "quickstart.yaml").read_text(encoding="utf-8"))
# a small shared cluster: a service, a job stream, a scheduler with preemption, quotas and fair share, a
# catalog rental price, and stragglers
SHARED = {
    "name": "fuzz-shared", "seed": 2,
    "cluster": {"accelerator": "h100-sxm", "nodes": 2, "gpus_per_node": 8, "topology": {"kind": "fat_tree"}},
    "pricing": {"rental": "on_demand", "carbon_kg_per_kwh": 0.4, "power": {"communicating_load": 0.3}},
    "scheduler": {"policy": "backfill", "preemption": True, "quotas": {"default": 12},
                  "fair_share": {"shares": {"default": 2}, "half_life": "1 h"}},
    "workloads": [{"name": "chat", "kind": "inference", "model": "llama3.1-8b", "replicas": 1, "tp": 1,
                   "priority": 5, "slo": {"ttft": "1 s", "tpot": "50 ms"},
                   "autoscaling": {"max_replicas": 4, "interval": "10 s"},
                   "arrivals": {"kind": "poisson", "rate": 5, "requests": 60},
                   "input_tokens": {"kind": "uniform", "low": 100, "high": 2000}, "output_tokens": 50}],
    "jobs": [{"kind": "generated", "count": 20, "rate": 0.05, "gpus": {"kind": "power_of_two", "max": 8},
              "duration": {"kind": "exponential", "mean": "5 min"}, "preemptible": True}],
    "failures": {"components": [{"name": "slow", "scope": "node", "mtbf": "3 min", "effect": "slowdown",
                                 "straggler_detection": "1 min", "repair": {"median": "2 min", "sigma": 0.1}}]},
}
SIMULATED_WORK_LIMIT = 5_000  # requests plus jobs: larger edits are only validated, to keep the test fast

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["200 Gbps", "80 GiB", "30 min", "26B", "1e400", "-5 s", "tp", "fp8"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


BASES = [(BASE, places(BASE)), (SHARED, places(SHARED))]


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    base, paths = draw(st.sampled_from(BASES))
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        parent = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                parent[path[-1]] = draw(values)
            elif action == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=8))] = draw(values)
        except (KeyError, IndexError, TypeError):
            continue
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated())
def test_any_edit_loads_or_fails_with_located_errors(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        scenario = load_scenario(path)
    except ScenarioError as err:
        assert err.issues
        for issue in err.issues:
            assert issue.location.startswith(f"{path}:")
            assert int(issue.location.rsplit(":", 1)[1]) >= 1
            assert issue.message and "\n" not in issue.message
        return
    work = sum(getattr(w.arrivals, "requests", 0) or 0 for w in scenario.workloads if w.kind == "inference")
    work += sum(getattr(source, "count", 0) for source in scenario.jobs)
    components = scenario.failures.components if scenario.failures else []
    if work > SIMULATED_WORK_LIMIT or any(c.unit_mtbf_s < 60.0 for c in components):
        return  # validated only: too much to simulate in a unit test
    report = simulate(scenario)
    for workload in report.workloads.values():
        if isinstance(workload, TrainingReport):
            assert workload.steps + workload.steps_remaining == workload.steps_total
        else:  # every request accounted for
            r = workload.requests
            assert r.arrived == r.completed + r.failed + r.queued_at_end + r.in_flight_at_end
            assert r.total == r.arrived + r.not_arrived
    if report.jobs is not None:
        assert report.jobs.completed + report.jobs.running + report.jobs.queued == report.jobs.count
