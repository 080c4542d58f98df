"""Every shipped scenario validates, runs, and matches its committed summary in tests/expected/.

When a model change moves the figures on purpose, regenerate with
`CLUSTERSIM_UPDATE_EXPECTED=1 python -m pytest tests/test_shipped_scenarios.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from simulator.report.model import Report
from simulator.run import simulate
from simulator.scenario.loader import load_scenario
from tests.conftest import ROOT, SCENARIOS

EXPECTED = ROOT / "tests" / "expected"
WORKLOAD_FIELDS = {
    "training": ("status", "steps", "steps_total", "step_time_s", "tokens", "mfu", "gpu_hours", "cost_usd"),
    "inference": ("status", "requests", "ttft_s", "tpot_s", "e2e_s", "slo_attainment", "throughput_tokens_per_s",
                  "kv_cache_utilization", "gpu_hours", "cost_usd"),
}
CLUSTER_FIELDS = ("utilization", "gpu_hours", "energy_kwh", "cost_usd")
JOBS_FIELDS = {"count", "completed", "running", "queued", "mean_queued_s", "p99_queued_s", "mean_slowdown",
               "interruptions", "preemptions", "gpu_hours"}


def summary(report: Report) -> dict[str, object]:
    """The figures a reader of the scenario cares about (batch jobs and tenants where it has job streams)."""
    found: dict[str, object] = {
        "simulated_s": report.simulated_s,
        "cluster": {k: getattr(report.cluster, k) for k in CLUSTER_FIELDS},
        "workloads": {
            name: w.model_dump(include=set(WORKLOAD_FIELDS[w.kind])) for name, w in report.workloads.items()
        },
    }
    if report.jobs is not None:
        found["jobs"] = report.jobs.model_dump(include=JOBS_FIELDS)
        found["tenants"] = {name: t.model_dump(exclude={"workloads"}) for name, t in report.tenants.items()}
    return found


def _approx(value: object) -> object:
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9)
    return value


def test_there_are_shipped_scenarios() -> None:
    assert len(SCENARIOS) >= 4


IDS = [str(p.relative_to(ROOT / "scenarios").with_suffix("")) for p in SCENARIOS]


@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_shipped_scenario_matches_expected(path: Path) -> None:
    report = simulate(load_scenario(path))
    got = summary(report)
    expected_file = EXPECTED / path.relative_to(ROOT / "scenarios").with_suffix(".json")
    if os.environ.get("CLUSTERSIM_UPDATE_EXPECTED"):
        expected_file.parent.mkdir(parents=True, exist_ok=True)
        expected_file.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert expected_file.exists(), f"no expected summary for {path.name}; see this module's docstring"
    assert got == _approx(json.loads(expected_file.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_shipped_scenario_says_what_it_shows(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#") or "description:" in text
    assert load_scenario(path).description
