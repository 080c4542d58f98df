"""--export and --trace: the exported tables add up to the report, match docs/report.md, are deterministic and
stay out of the JSON report; the trace is valid Chrome trace-event JSON within its size bound."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main
from simulator.engine.spans import BusySpans, Span
from simulator.plan.load import load_scenario
from simulator.report.build_records import failure_durations_s
from simulator.report.export import export_files
from simulator.report.model import Report, TrainingReport
from simulator.report.records import OUTCOMES
from simulator.report.tables import COLUMNS
from simulator.report.trace import trace_json
from simulator.run import simulate
from tests.conftest import ROOT

MIXED = """
name: export-mix
seed: 7
horizon: 40 min
cluster: {accelerator: h100-sxm, nodes: 8, gpus_per_node: 8, topology: {kind: fat_tree}}
pricing: {gpu_hour_usd: 2.0}
scheduler: {policy: backfill, preemption: true}
failures:
  components:
    - {name: node, scope: node, failures_per_1000_node_days: 200000, distribution: exponential,
       repair: {median: 5 min, sigma: 0.5}, causes: {gpu: 2, nic: 1}}
workloads:
  - name: pretrain
    kind: training
    model: gpt3-1.3b
    tokens: 2B
    seq_len: 2048
    global_batch_tokens: 1M
    parallelism: {tp: 1, pp: 1, dp: 16}
    checkpoint: {policy: fixed, interval: 2 min, write: 10 s, restore: 20 s}
    recovery: {detection: 30 s, restart: 60 s}
  - name: chat
    kind: inference
    tenant: product
    priority: 10
    model: llama3.1-8b
    replicas: 2
    tp: 1
    autoscaling: {min_replicas: 1, max_replicas: 6, interval: 30 s, scale_up_at: 4, scale_down_at: 1, cold_start: 30 s}
    slo: {ttft: 1 s, tpot: 50 ms}
    arrivals: {kind: poisson, rate: 10, requests: 30000}
    input_tokens: {kind: lognormal, median: 1000, sigma: 0.8, max: 8000}
    output_tokens: {kind: lognormal, median: 200, sigma: 0.7, max: 1000}
jobs:
  - {kind: generated, name: research, count: 20, rate: 0.02, gpus: {kind: choice, values: [8, 16]},
     duration: {kind: lognormal, median: 10 min, sigma: 0.5}, tenants: {research: 1}, preemptible: true}
"""
DISAGGREGATED = str(ROOT / "scenarios" / "serve-llama70b-azure-conv-disaggregated.yaml")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """A run with a training job, an autoscaled service and batch jobs, node failures (retried requests,
    interrupted training) and a horizon that leaves requests queued, in flight and not arrived."""
    path = tmp_path_factory.mktemp("mixed") / "mixed.yaml"
    path.write_text(MIXED, encoding="utf-8")
    return simulate(load_scenario(str(path), ()))


@pytest.fixture(scope="module")
def exported(mixed: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export") / "out"
    export_files(mixed, folder)
    return folder


def documented_columns() -> dict[str, list[str]]:
    """The column names of each table in docs/report.md's "Exported files" section, as a reader sees them."""
    text = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")
    section = text.split("## Exported files", 1)[1].split("\n## ", 1)[0]
    found: dict[str, list[str]] = {}
    for name, body in re.findall(r"### (\w+)\.csv\n\n(.*?)(?:\n\n|\Z)", section, flags=re.S):
        rows = [line for line in body.splitlines() if line.startswith("| `")]
        found[name] = [re.match(r"\| `([^`]+)`", row).group(1) for row in rows]  # type: ignore[union-attr]
    return found


def test_every_file_has_exactly_the_documented_columns(exported: Path) -> None:
    documented = documented_columns()
    assert set(documented) == {"requests", "jobs", "events", "series"}
    for name, columns in documented.items():
        assert list(pd.read_csv(exported / f"{name}.csv").columns) == columns
        assert list(pd.read_parquet(exported / f"{name}.parquet").columns) == columns
        assert list(COLUMNS[name]) == columns


def test_request_rows_add_up_to_the_reports_counts(mixed: Report, exported: Path) -> None:
    requests = pd.read_csv(exported / "requests.csv")
    for name, workload in mixed.workloads.items():
        if workload.kind != "inference":
            continue
        mine = requests[requests.workload == name]
        counts = workload.requests
        assert len(mine) == counts.total
        by_outcome = mine.outcome.value_counts().to_dict()
        assert set(by_outcome) <= set(OUTCOMES)
        for outcome in OUTCOMES:
            assert by_outcome.get(outcome, 0) == getattr(counts, outcome), outcome
        assert mine.retries.sum() == counts.retried > 0  # the failures retried some
        assert mine.preemptions.sum() == counts.preemptions
        assert (mine.outcome != "completed").sum() > 0  # the horizon cut the load
        done = mine[mine.outcome == "completed"]
        assert done.finish_s.notna().all() and (done.finish_s >= done.first_token_s).all()
        assert (done.first_token_s >= done.arrival_s).all() and (done.replica >= 0).all()
        assert mine[mine.outcome == "not_arrived"].first_token_s.isna().all()
        assert set(mine.pool.dropna()) == {"main"}


def test_disaggregated_requests_name_the_decode_pool_that_finished_them() -> None:
    report = simulate(load_scenario(DISAGGREGATED, ("workloads.chat.arrivals.requests=300",)))
    records = report.records
    assert records is not None
    service = records.services[0]
    done = np.isfinite(service.finish_s)
    assert done.all()
    assert {service.pools[r] for r in service.replica[done]} == {"decode"}
    assert "prefill" in service.pools


def test_jobs_rows_are_the_training_workloads_and_batch_jobs(mixed: Report, exported: Path) -> None:
    jobs = pd.read_csv(exported / "jobs.csv")
    assert mixed.jobs is not None
    training = [n for n, w in mixed.workloads.items() if isinstance(w, TrainingReport)]
    assert list(jobs.name) == training + [row.name for row in mixed.jobs.rows]
    assert jobs.gpu_hours[jobs.kind == "batch"].sum() == pytest.approx(mixed.jobs.gpu_hours)
    pretrain = jobs[jobs.name == "pretrain"].iloc[0]
    report = mixed.workloads["pretrain"]
    assert isinstance(report, TrainingReport)
    assert (pretrain.steps, pretrain.gpus, pretrain.cost_usd) == (report.steps, report.gpus, report.cost_usd)
    assert pretrain.tenant == "default" or pretrain.tenant in mixed.tenants


def test_events_count_the_reports_failures_checkpoints_and_switches(mixed: Report, exported: Path) -> None:
    events = pd.read_csv(exported / "events.csv")
    assert "steps" not in set(events.kind)
    assert (events.duration_s >= 0).all() and (events.gpus > 0).all()
    report = mixed.workloads["pretrain"]
    assert isinstance(report, TrainingReport)
    mine = events[events.workload == "pretrain"]
    assert (mine.kind == "failure").sum() == report.interruptions > 0
    assert (mine.kind == "preemption").sum() == report.preemptions
    # a stall cut by a failure or by the horizon is a row too
    assert report.checkpoints <= (mine.kind == "checkpoint").sum() <= report.checkpoints + report.interruptions + 1
    assert set(mine[mine.kind == "failure"].cause) <= set(report.interruptions_by_cause)
    chat = events[events.workload == "chat"]
    assert (chat.kind == "failure").sum() == mixed.workloads["chat"].replica_failures  # type: ignore[union-attr]
    assert (chat.kind == "scale_up").sum() > 0 and (chat.replica >= 0).all()


def test_series_rows_are_the_reports_time_series_in_long_form(mixed: Report, exported: Path) -> None:
    series = pd.read_csv(exported / "series.csv", keep_default_na=False, na_values={"value": [""]})
    busy = series[series.series == "busy_gpus"]
    assert list(busy.value) == mixed.series.busy_gpus and list(busy.time_s) == mixed.series.time_s
    chat = mixed.series.workloads["chat"]
    for name in ("progress", "replicas_up", "busy_fraction", "ttft_p99_s"):
        values = series[(series.series == name) & (series.subject == "chat")].value
        assert [None if v != v else v for v in values] == getattr(chat, name), name
    assert set(series[series.series == "tenant_gpus"].subject) == set(mixed.series.tenant_gpus)


def test_the_same_scenario_and_seed_give_byte_identical_files(mixed: Report, exported: Path, tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(MIXED, encoding="utf-8")
    again = simulate(load_scenario(str(path), ()))
    written = export_files(again, tmp_path / "again")
    assert len(written) == 8
    for file in written:
        assert file.read_bytes() == (exported / file.name).read_bytes(), file.name
    assert trace_json(again) == trace_json(mixed)


def test_records_stay_out_of_the_json_report(mixed: Report) -> None:
    dumped = mixed.model_dump()
    assert "records" not in dumped and "_records" not in dumped
    assert mixed.records is not None
    read_back = Report.model_validate_json(mixed.model_dump_json())
    assert read_back.records is None and read_back == mixed
    with pytest.raises(ValueError, match="no run records"):
        export_files(read_back, "unused")
    with pytest.raises(ValueError, match="no run records"):
        trace_json(read_back)


def test_replicates_keep_no_records() -> None:
    report = simulate(load_scenario(str(ROOT / "scenarios" / "quickstart.yaml"), ()), series=False)
    assert report.records is None


def test_timeline_events_carry_durations_and_gpus(mixed: Report) -> None:
    events = mixed.series.workloads["pretrain"].events
    failures = [e for e in events if e.kind == "failure"]
    assert failures and all(e.duration_s > 0 and e.gpus == 16 for e in failures)
    assert all(e.duration_s == 0.0 or e.kind == "checkpoint" or e.duration_s > 0 for e in events)


def test_a_failure_lasts_until_the_job_next_computes() -> None:
    timeline = [Span("steps", 0.0, 10.0), Span("failure", 10.0, 10.0, "gpu"), Span("detection", 10.0, 40.0),
                Span("steps", 100.0, 200.0), Span("failure", 250.0, 250.0, "nic")]
    assert failure_durations_s(timeline, [10.0, 250.0], 300.0) == [90.0, 50.0]


def test_busy_spans_keep_stretches_that_lasted() -> None:
    spans = BusySpans()
    spans.open(1.0)
    spans.open(2.0)  # already busy: the stretch goes on
    spans.close(5.0)
    spans.close(6.0)  # already idle
    spans.open(7.0)
    spans.close(7.0)  # lasted no time
    assert (list(spans.start_s), list(spans.end_s)) == ([1.0], [5.0])


def test_busy_stretches_cover_the_busy_time_and_never_overlap(mixed: Report) -> None:
    assert mixed.records is not None
    service = mixed.records.services[0]
    chat = mixed.workloads["chat"]
    total_busy = sum(float((end - start).sum()) for start, end in service.busy)
    for start, end in service.busy:
        assert (end > start).all() and (start[1:] >= end[:-1]).all()
    # replica_busy_fraction = busy / provisioned time, and the busy stretches are that busy time
    assert total_busy / (chat.gpu_hours * 3600) == pytest.approx(chat.replica_busy_fraction, rel=1e-9)  # type: ignore[union-attr]


def test_cli_writes_the_export_folder_and_the_trace(tmp_path: Path) -> None:
    out, trace = tmp_path / "new" , tmp_path / "run.trace.json"
    result = CliRunner().invoke(main, ["run", str(ROOT / "scenarios" / "quickstart.yaml"), "--export", str(out),
                                       "--trace", str(trace)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.{e}" for n in COLUMNS for e in ("csv", "parquet"))
    assert json.loads(trace.read_text(encoding="utf-8"))["traceEvents"]


@pytest.mark.parametrize("args, words", [
    (["--export", "{tmp}/out", "--replicates", "2"], "--export: not with --replicates"),
    (["--trace", "{tmp}/t.json", "--replicates", "2"], "--trace: not with --replicates"),
    (["--export", "{tmp}/missing/out"], "does not exist"),
    (["--trace", "{tmp}/t.json", "-o", "{tmp}/t.json"], "give them different paths"),
    (["--trace", "{tmp}"], "is a directory"),
    (["--export", "{tmp}/f.txt"], "is a file"),
])
def test_bad_export_or_trace_options_exit_2_before_any_work(tmp_path: Path, args: list[str], words: str) -> None:
    (tmp_path / "f.txt").write_text("a file", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(ROOT / "scenarios" / "quickstart.yaml"),
                                       *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 2 and words in result.output, result.output
    assert not (tmp_path / "out").exists()
