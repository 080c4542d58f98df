"""--trace: every event is valid Chrome trace-event JSON (required keys per phase, types, dur >= 0), each job,
replica and tenant has a named track, and no track outgrows MAX_SLICES_PER_TRACK however large the run."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from simulator.plan.load import load_scenario
from simulator.report.trace import MAX_SLICES_PER_TRACK, _Trace, trace_json
from simulator.run import simulate
from tests.conftest import ROOT

REQUIRED = {"X": {"name", "ph", "ts", "dur", "pid", "tid"}, "i": {"name", "ph", "ts", "pid", "tid", "s"},
            "C": {"name", "ph", "ts", "pid", "args"}, "M": {"name", "ph", "pid", "args"}}
SCENARIOS = ["shared-cluster.yaml", "llama3-405b-failures.yaml", "serve-llama70b-azure-conv-disaggregated.yaml"]


def validate(text: str) -> dict[str, Any]:
    """The trace loaded, after checking every event against the trace-event format."""
    trace = json.loads(text)
    assert set(trace) >= {"traceEvents", "displayTimeUnit"} and trace["displayTimeUnit"] in ("ms", "ns")
    for event in trace["traceEvents"]:
        phase = event["ph"]
        assert phase in REQUIRED, event
        assert REQUIRED[phase] <= set(event), event
        assert isinstance(event["name"], str) and isinstance(event["pid"], int)
        assert isinstance(event.get("tid", 0), int)
        if phase in ("X", "i", "C"):
            assert isinstance(event["ts"], int | float) and event["ts"] >= 0
        if phase == "X":
            assert isinstance(event["dur"], int | float) and event["dur"] >= 0
        if phase == "i":
            assert event["s"] in ("g", "p", "t")
        if phase == "C":
            assert all(isinstance(v, int | float) for v in event["args"].values())
        if phase == "M":
            assert event["name"] in ("process_name", "thread_name") and isinstance(event["args"]["name"], str)
    return trace


def slices_per_track(trace: dict[str, Any]) -> dict[tuple[int, int], int]:
    counts: dict[tuple[int, int], int] = {}
    for event in trace["traceEvents"]:
        if event["ph"] == "X":
            counts[event["pid"], event["tid"]] = counts.get((event["pid"], event["tid"]), 0) + 1
    return counts


@pytest.fixture(scope="module", params=SCENARIOS)
def traced(request: pytest.FixtureRequest) -> tuple[Any, dict[str, Any]]:
    report = simulate(load_scenario(str(ROOT / "scenarios" / request.param), ()))
    return report, validate(trace_json(report))


def test_every_event_is_valid_and_every_track_is_within_the_bound(traced: tuple[Any, dict[str, Any]]) -> None:
    _, trace = traced
    assert max(slices_per_track(trace).values()) <= MAX_SLICES_PER_TRACK
    names = {(e["pid"], e["tid"]) for e in trace["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
    assert set(slices_per_track(trace)) <= names  # every slice is on a named thread


def test_each_job_replica_and_tenant_has_a_track(traced: tuple[Any, dict[str, Any]]) -> None:
    report, trace = traced
    processes = {e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"}
    threads = [e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"]
    for name, workload in report.workloads.items():
        assert (f"training {name}" if workload.kind == "training" else f"service {name}") in processes
    assert {f"tenant {t}" for t in report.series.tenant_gpus} <= processes
    replicas = sum(len(s.busy) for s in report.records.services)
    assert sum(t.startswith("replica") and not t.endswith("outages") for t in threads) == replicas


def test_training_step_spans_are_spans_not_steps(traced: tuple[Any, dict[str, Any]]) -> None:
    report, trace = traced
    for name, workload in report.workloads.items():
        if workload.kind != "training":
            continue
        pid = next(e["pid"] for e in trace["traceEvents"] if e["args"].get("name") == f"training {name}")
        steps = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["name"] == "steps" and e["pid"] == pid]
        assert 0 < len(steps) <= workload.checkpoints + workload.interruptions + workload.preemptions + 2


def test_merged_slices_are_counted(traced: tuple[Any, dict[str, Any]]) -> None:
    _, trace = traced
    merged = [e["args"]["merged"] for e in trace["traceEvents"] if e["ph"] == "X" and "merged" in e.get("args", {})]
    assert trace["otherData"]["merged_slices"] == sum(merged) - len(merged)


def test_the_bound_holds_on_a_track_of_a_million_slices() -> None:
    trace = _Trace()
    count = 1_000_003
    start = np.arange(count, dtype=float)
    trace.slices(1, 1, ["busy"] * count, start, start + 0.5)
    slices = [e for e in trace.events if e["ph"] == "X"]
    assert len(slices) <= MAX_SLICES_PER_TRACK
    assert sum(e["args"]["merged"] for e in slices) == count
    assert trace.merged == count - len(slices)
    assert slices[0]["ts"] == 0.0 and slices[-1]["ts"] + slices[-1]["dur"] == pytest.approx((count - 0.5) * 1e6)
    validate(json.dumps({"traceEvents": trace.events, "displayTimeUnit": "ms"}))


def test_a_large_serving_run_stays_small(tmp_path: Any) -> None:
    """20,000 requests on the disaggregated service: hundreds of thousands of iterations, a bounded trace."""
    report = simulate(load_scenario(str(ROOT / "scenarios" / SCENARIOS[2]), ()))
    text = trace_json(report)
    trace = validate(text)
    assert trace["otherData"]["merged_slices"] > 0
    assert len(text) < 200 * MAX_SLICES_PER_TRACK * len(slices_per_track(trace))


def test_merging_keeps_a_name_only_where_the_slices_share_it() -> None:
    trace = _Trace()
    count = 3 * MAX_SLICES_PER_TRACK
    names = ["restart" if i % 3 == 0 else "detection" for i in range(count)]
    start = np.arange(count, dtype=float)
    trace.slices(1, 4, names, start, start + 1.0)
    assert {e["name"] for e in trace.events} == {"merged"}
    same = _Trace()
    same.slices(1, 1, ["steps"] * count, start, start + 1.0)
    assert {e["name"] for e in same.events} == {"steps"}
