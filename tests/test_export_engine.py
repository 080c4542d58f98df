"""What the engine notes for the exports, on its own: per-request retries, preemptions, last replica and end
state from a serving run with outages; busy stretches that are exactly the replicas' busy time; and the
folder checks and byte writes of the output files."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from simulator.engine.serving.deployment import FailurePolicy, Outage, deploy_serving, simulate_serving
from simulator.plan.limits import ReplicaLimits
from simulator.report.export import csv_text
from simulator.report.files import OutputError, check_outputs, write_atomic
from simulator.report.records import RunRecords
from simulator.report.tables import events_table, jobs_table, series_table
from tests.test_serving_engine import LIMITS, FixedIterations

ARRIVALS = np.linspace(0.0, 5.0, 200)


def outaged(horizon_s: float | None = None) -> tuple[np.ndarray, ...]:
    out = simulate_serving(FixedIterations(), LIMITS, 3, ARRIVALS, np.full(200, 300), np.full(200, 40),
                           "round_robin", np.random.default_rng(0), horizon_s,
                           outages=[Outage(1.0, 0, 2.0), Outage(2.5, 1, 1.0)], on_failure=FailurePolicy.RETRY)
    return out.retries, out.preempted, out.served, out.running, np.array([out.retried, out.running_at_end])


def test_per_request_retries_sum_to_the_runs_retries_and_retried_requests_finish_elsewhere() -> None:
    retries, preempted, served, _, totals = outaged()
    assert retries.sum() == totals[0] > 0
    assert preempted.sum() == 0
    assert (served >= 0).all() and set(served.tolist()) <= {0, 1, 2}


def test_requests_in_flight_at_the_horizon_are_listed() -> None:
    _, _, _, running, totals = outaged(horizon_s=3.0)
    assert len(running) == totals[1] > 0
    assert (np.diff(running) > 0).all()


def test_preemptions_are_counted_per_request() -> None:
    small = ReplicaLimits(max_batch=8, max_num_tokens=512, kv_blocks=40, block_tokens=16)
    out = simulate_serving(FixedIterations(), small, 1, np.zeros(3), np.full(3, 200), np.full(3, 200),
                           "round_robin", np.random.default_rng(0))
    assert out.preempted.sum() == out.preemptions > 0


def test_busy_stretches_are_the_replicas_busy_time() -> None:
    import simpy

    env = simpy.Environment()
    arrival_s = np.sort(np.random.default_rng(1).uniform(0, 20, 300))
    deployment = deploy_serving(env, FixedIterations(), LIMITS, 2, arrival_s, np.full(300, 200), np.full(300, 30),
                                "round_robin", np.random.default_rng(0))
    deployment.bring_up()
    env.process(deployment.outages([Outage(5.0, 1, 3.0)]))
    assert deployment.done is not None
    env.run(until=deployment.done)
    outcome = deployment.close()
    for replica in deployment.everyone:
        start, end = np.array(replica.busy.start_s), np.array(replica.busy.end_s)
        assert float((end - start).sum()) == pytest.approx(outcome.busy_s[replica.number])
        assert (start[1:] >= end[:-1]).all()
    failures = [e for e in deployment.log if e.kind == "failure"]
    assert [(e.replica, e.start_s, e.end_s) for e in failures] == [(1, 5.0, 8.0)]


def test_the_csv_writer_leaves_absent_values_empty_and_writes_floats_exactly() -> None:
    text = csv_text({"a": [1, None], "b": [0.1, 1e-20], "c": ["x,y", ""]})
    assert text == 'a,b,c\n1,0.1,"x,y"\n,1e-20,\n'


def test_tables_of_a_run_without_services_or_batch_jobs_are_empty_but_for_their_header() -> None:
    records = RunRecords(services=(), activities=())
    assert events_table(records) == {name: [] for name in events_table(records)}
    assert csv_text(events_table(records)) == "workload,kind,replica,start_s,duration_s,gpus,cause\n"


def test_jobs_and_series_tables_of_the_quickstart() -> None:
    from simulator.plan.load import load_scenario
    from simulator.run import simulate
    from tests.conftest import ROOT

    report = simulate(load_scenario(str(ROOT / "scenarios" / "quickstart.yaml"), ()))
    jobs = jobs_table(report)
    assert jobs["name"] == ["pretrain"] and jobs["kind"] == ["training"] and jobs["steps"] == [report.workloads[
        "pretrain"].steps]  # type: ignore[union-attr]
    series = series_table(report)
    assert len(series["time_s"]) >= len(report.series.time_s)
    assert set(series["series"]) >= {"allocated_gpus", "busy_gpus", "progress"}


def test_an_export_folder_may_exist_or_be_created_but_not_be_a_file(tmp_path: Path) -> None:
    check_outputs({"--export": str(tmp_path)}, [])
    check_outputs({"--export": str(tmp_path / "new")}, [])
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(OutputError, match="is a file"):
        check_outputs({"--export": str(tmp_path / "file")}, [])
    with pytest.raises(OutputError, match="does not exist"):
        check_outputs({"--export": str(tmp_path / "a" / "b")}, [])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_export_folder_must_be_writable(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputError, match="permissions"):
        check_outputs({"--export": str(locked)}, [])


def test_atomic_writes_take_bytes_too(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    write_atomic(target, b"\x00PAR1")
    write_atomic(target, b"PAR1")
    assert target.read_bytes() == b"PAR1"
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_a_training_timeline_is_in_time_order_and_its_step_spans_are_its_busy_time() -> None:
    from simulator.engine.training import TrainingJob
    from simulator.plan.load import load_scenario
    from simulator.run import simulate
    from tests.conftest import ROOT

    seen: list[TrainingJob] = []
    original = TrainingJob.settle

    def keep(job: TrainingJob, now: float, cluster: object) -> None:
        seen.append(job)
        original(job, now, cluster)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TrainingJob, "settle", keep)
        simulate(load_scenario(str(ROOT / "scenarios" / "llama3-405b-failures.yaml"), ()))
    job = seen[0]
    phases = [s for s in job.timeline if s.kind not in ("failure", "preemption", "requeue")]
    assert all(b.start_s >= a.end_s - 1e-6 for a, b in itertools.pairwise(phases))
    steps_s = sum(s.end_s - s.start_s for s in job.timeline if s.kind == "steps")
    # the span under way at the horizon runs to it; only its whole steps are busy time
    assert 0.0 <= steps_s - job.busy_s < 2 * job.step_s
    assert sum(s.kind == "failure" for s in job.timeline) == job.interruptions
