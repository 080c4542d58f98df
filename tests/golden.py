"""What each shipped scenario's golden files hold, and the only command that rewrites them.

A test run never writes a golden file. When a change moves the figures on purpose, rewrite them with
`python -m tests.golden` (all scenarios, or name some: `python -m tests.golden scenarios/quickstart.yaml`)
and review the diff before committing it.

Two files per scenario: `tests/expected/<path>.json`, the figures a reader of the scenario cares about, and
`tests/expected/reports/<path>.json`, the whole JSON report except `wall_s` (proof that a refactor changed
nothing).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from simulator.plan.load import load_scenario
from simulator.report.model import Report
from simulator.run import simulate

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.yaml"))
EXPECTED = ROOT / "tests" / "expected"
WORKLOAD_FIELDS = {
    "training": ("status", "steps", "steps_total", "step_time_s", "tokens", "mfu", "gpu_hours", "cost_usd",
                 "interruptions", "ettr", "lost_gpu_hours", "losses"),
    "inference": ("status", "requests", "ttft_s", "tpot_s", "e2e_s", "slo_attainment", "throughput_tokens_per_s",
                  "kv_cache_utilization", "gpu_hours", "cost_usd"),
}
CLUSTER_FIELDS = ("utilization", "gpu_hours", "energy_kwh", "cost_usd")
JOBS_FIELDS = {"count", "completed", "running", "queued", "mean_queued_s", "p99_queued_s", "mean_slowdown",
               "interruptions", "preemptions", "gpu_hours"}


def summary(report: Report) -> dict[str, Any]:
    """The figures a reader of the scenario cares about (failures' interruptions, ETTR and losses included;
    batch jobs and tenants where it has job streams)."""
    found: dict[str, Any] = {
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


def full(report: Report) -> dict[str, Any]:
    """The whole report as JSON data, without the one field that varies between runs (`wall_s`)."""
    data: dict[str, Any] = json.loads(report.model_dump_json())
    del data["wall_s"]
    return data


def relative(path: Path) -> Path:
    """`scenarios/x/y.yaml` -> `x/y.json`."""
    return path.resolve().relative_to(ROOT / "scenarios").with_suffix(".json")


def summary_file(path: Path) -> Path:
    return EXPECTED / relative(path)


def report_file(path: Path) -> Path:
    return EXPECTED / "reports" / relative(path)


def _write(target: Path, data: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def bless(paths: list[Path]) -> None:
    """Run each scenario and rewrite both of its golden files."""
    for path in paths:
        report = simulate(load_scenario(path))
        _write(summary_file(path), summary(report))
        _write(report_file(path), full(report))
        print(f"wrote {summary_file(path).relative_to(ROOT)} and {report_file(path).relative_to(ROOT)}")


if __name__ == "__main__":
    bless([Path(p) for p in sys.argv[1:]] or SCENARIOS)
