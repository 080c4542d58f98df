"""`clustersim run --export DIR`: a run's tables as files for pandas, spreadsheets and notebooks: requests.csv
(one row per request of every service), jobs.csv (training workloads and batch jobs), events.csv (failures,
checkpoints, restarts, preemptions, autoscaler switches) and series.csv (the time series, long form), and the
same tables as Parquet where pyarrow is installed. Columns: docs/report.md, "Exported files".

Requests and events come from the run's records (report/records.py), so a report read back from JSON cannot be
exported. Floats are written as Python prints them (shortest exact form) and absent values as empty fields, so
one scenario and seed give byte-identical files."""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from simulator.report.files import write_atomic
from simulator.report.model import Report, TrainingReport
from simulator.report.records import OUTCOMES, RunRecords

# column -> values, every column as long as the others (None: absent)
Table = dict[str, list[Any]]


class Column(NamedTuple):
    """One exported column: its type (pyarrow's name, Parquet's type; CSV leaves absent values empty), unit and
    meaning (docs/report.md's tables are generated from these)."""

    type: str
    unit: str
    meaning: str


REQUESTS_COLUMNS = {
    "workload": Column("string", "", "inference workload (service) name"),
    "request": Column("int64", "", "request number in the workload's load, 0.., in arrival order"),
    "arrival_s": Column("float64", "s", "arrival time (also for requests due after the run stopped)"),
    "first_token_s": Column("float64", "s", "time of its first output token (empty: none)"),
    "finish_s": Column("float64", "s", "time of its last output token (empty: not completed)"),
    "input_tokens": Column("int64", "tokens", "prompt length"),
    "output_tokens": Column("int64", "tokens", "output length asked for"),
    "replica": Column("int64", "", "replica it was last routed to, numbered from 0 (main or prefill pool first, "
                      "then the decode pool): the one that finished a completed request; -1: never routed"),
    "pool": Column("string", "", "that replica's pool: main, or prefill / decode with disaggregation (empty: none)"),
    "retries": Column("int64", "", "restarts on another replica after a replica failure (they sum to "
                      "requests.retried)"),
    "preemptions": Column("int64", "", "times it lost its KV blocks to make room (they sum to "
                          "requests.preemptions)"),
    "outcome": Column("string", "", "completed, failed, queued_at_end, in_flight_at_end or not_arrived: the "
                      "RequestCounts field that counts it"),
}
JOBS_COLUMNS = {
    "name": Column("string", "", "training workload name, or batch job name"),
    "kind": Column("string", "", "training or batch"),
    "tenant": Column("string", "", "who pays for it"),
    "status": Column("string", "", "completed, running or queued at the end"),
    "submitted_s": Column("float64", "s", "submission time"),
    "started_s": Column("float64", "s", "first start (empty: never started)"),
    "finished_s": Column("float64", "s", "completion (empty: not finished)"),
    "gpus": Column("int64", "GPUs", "GPUs it holds while running (training: its layout)"),
    "steps": Column("int64", "", "training: optimizer steps done (empty for batch jobs)"),
    "steps_total": Column("int64", "", "training: optimizer steps needed (empty for batch jobs)"),
    "interruptions": Column("int64", "", "failures that stopped it"),
    "preemptions": Column("int64", "", "times higher-priority work took its GPUs"),
    "lost_gpu_hours": Column("float64", "GPU-h", "work thrown away by failures (and preemptions, batch jobs)"),
    "gpu_hours": Column("float64", "GPU-h", "GPU-hours it held"),
    "cost_usd": Column("float64", "USD", "training: its report's cost_usd (GPU time and energy); batch: "
                       "gpu_hours x gpu_hour_usd"),
}
EVENTS_COLUMNS = {
    "workload": Column("string", "", "training or inference workload name"),
    "kind": Column("string", "", "training: failure (until it computes again), detection, waiting (for a repair "
                   "or the checkpoint store), restart (and restore), checkpoint (the stall), preemption or "
                   "requeue (waiting for GPUs again); service: failure (a replica until repaired), scale_up, "
                   "scale_down (instants)"),
    "replica": Column("int64", "", "the service replica it concerns (-1: a training job)"),
    "start_s": Column("float64", "s", "when it began"),
    "duration_s": Column("float64", "s", "how long it lasted (to the end of the run if it had not ended)"),
    "gpus": Column("int64", "GPUs", "GPUs it stopped or switched: the job's, or the replica's"),
    "cause": Column("string", "", "a training failure's cause (empty otherwise)"),
}
SERIES_COLUMNS = {
    "series": Column("string", "", "a TimeSeries field (allocated_gpus, busy_gpus, down_gpus, waiting_workloads, "
                     "fragmentation, batch_running, tenant_gpus, link_load) or a WorkloadSeries field (progress, "
                     "queued, running)"),
    "subject": Column("string", "", "the tenant, workload or network tier (empty for cluster-wide series)"),
    "time_s": Column("float64", "s", "sample time (link_load: from TimeSeries.link_time_s)"),
    "value": Column("float64", "", "the value then, in the series' unit (docs above)"),
}
COLUMNS = {"requests": REQUESTS_COLUMNS, "jobs": JOBS_COLUMNS, "events": EVENTS_COLUMNS, "series": SERIES_COLUMNS}
# TimeSeries' cluster-wide series, exported under their own names
CLUSTER_SERIES = ("allocated_gpus", "busy_gpus", "down_gpus", "waiting_workloads", "fragmentation", "batch_running")


def export_files(report: Report, directory: str | Path) -> list[Path]:
    """Write requests, jobs, events and series tables into `directory` (created if missing) as CSV, and as
    Parquet too where pyarrow is importable; the paths written, in that order. ValueError for a report without
    records (read back from JSON, or a Monte Carlo replicate's)."""
    records = report.records
    if records is None:
        raise ValueError("this report has no run records (it was read from JSON, or is a replicate's): "
                         "export the report that simulate() returned")
    folder = Path(directory)
    folder.mkdir(exist_ok=True)
    tables = {"requests": requests_table(records), "jobs": jobs_table(report), "events": events_table(records),
              "series": series_table(report)}
    written = []
    for name, table in tables.items():
        written.append(folder / f"{name}.csv")
        write_atomic(written[-1], csv_text(table))
    if importlib.util.find_spec("pyarrow") is not None:
        for name, table in tables.items():
            written.append(folder / f"{name}.parquet")
            write_atomic(written[-1], parquet_bytes(table, COLUMNS[name]))
    return written


def csv_text(table: Table) -> str:
    """The table as CSV: a header of its columns, then its rows (None as an empty field)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table)
    writer.writerows(zip(*table.values(), strict=True))
    return out.getvalue()


def parquet_bytes(table: Table, columns: dict[str, Column]) -> bytes:
    """The table as a Parquet file, each column of its type in `columns` (None as null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({name: pa.array(values, type=pa.type_for_alias(columns[name].type))
                             for name, values in table.items()}), sink)
    return bytes(sink.getvalue().to_pybytes())


def _floats(values: np.ndarray) -> list[float | None]:
    """Floats with NaN as None (absent)."""
    return [None if x != x else x for x in values.tolist()]


def requests_table(records: RunRecords) -> Table:
    """One row per request of every service, in arrival order, services in scenario order."""
    columns: Table = {name: [] for name in REQUESTS_COLUMNS}
    for service in records.services:
        count = len(service.arrival_s)
        pools = np.array((*service.pools, ""), dtype=object)  # -1: never routed
        columns["workload"] += [service.workload] * count
        columns["request"] += list(range(count))
        for name in ("arrival_s", "first_token_s", "finish_s"):
            columns[name] += _floats(getattr(service, name))
        columns["input_tokens"] += service.input_tokens.tolist()
        columns["output_tokens"] += service.output_tokens.tolist()
        columns["replica"] += service.replica.tolist()
        columns["pool"] += pools[service.replica].tolist()
        columns["retries"] += service.retries.tolist()
        columns["preemptions"] += service.preemptions.tolist()
        columns["outcome"] += np.array(OUTCOMES, dtype=object)[service.outcome].tolist()
    return columns


def jobs_table(report: Report) -> Table:
    """Training workloads (scenario order), then batch jobs (submission order): their report rows flattened."""
    tenant_of = {name: tenant for tenant, t in report.tenants.items() for name in t.workloads}
    rows: list[Sequence[Any]] = [
        (name, "training", tenant_of.get(name, ""), w.status, w.submitted_s, w.started_s, w.finished_s, w.gpus,
         w.steps, w.steps_total, w.interruptions, w.preemptions, w.lost_gpu_hours, w.gpu_hours, w.cost_usd)
        for name, w in report.workloads.items() if isinstance(w, TrainingReport)]
    rows += [(j.name, "batch", j.tenant, j.status, j.submitted_s, j.started_s, j.finished_s, j.gpus, None, None,
              j.interruptions, j.preemptions, j.lost_gpu_hours, j.gpu_hours,
              j.gpu_hours * report.cluster.gpu_hour_usd) for j in (report.jobs.rows if report.jobs else [])]
    return _columns(JOBS_COLUMNS, rows)


def events_table(records: RunRecords) -> Table:
    """Every activity of the run but training step spans (those are the trace's): training jobs' first."""
    return _columns(EVENTS_COLUMNS, [(a.workload, a.kind, a.replica, a.start_s, a.duration_s, a.gpus, a.cause)
                                     for a in records.activities if a.kind != "steps"])


def series_table(report: Report) -> Table:
    """The report's time series in long form: one row per series, subject and sample time."""
    series = report.series
    rows: list[Sequence[Any]] = []

    def add(name: str, subject: str, times_s: list[float], values: list[float]) -> None:
        rows.extend((name, subject, t, v) for t, v in zip(times_s, values, strict=True))

    for name in CLUSTER_SERIES:
        if getattr(series, name):
            add(name, "", series.time_s, getattr(series, name))
    for tenant, values in series.tenant_gpus.items():
        add("tenant_gpus", tenant, series.time_s, values)
    for workload, its in series.workloads.items():
        for name in ("progress", "queued", "running"):
            if getattr(its, name):
                add(name, workload, series.time_s, getattr(its, name))
    for tier, values in series.link_load.items():
        add("link_load", tier, series.link_time_s, values)
    return _columns(SERIES_COLUMNS, rows)


def _columns(names: Iterable[str], rows: list[Sequence[Any]]) -> Table:
    """Rows as a table of the named columns."""
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def columns_doc() -> str:
    """docs/report.md's "Exported files" section: a table per file (column, unit, meaning)."""
    lines = ["## Exported files", "",
             "`clustersim run S --export DIR` (or `export_files(report, DIR)` in simulator/report/export.py) "
             "writes these tables into DIR as CSV, and as Parquet beside them (same names, `.parquet`) where "
             "pyarrow is installed. Absent values are empty fields in CSV and nulls in Parquet. Requests and "
             "events need the report `simulate()` returned (per-request data is not in the JSON report). "
             "series.csv is in long form: one row per series, subject and sample time (pivot on series and "
             "subject for the wide form). The same scenario and seed give byte-identical files.", ""]
    for name, columns in COLUMNS.items():
        lines += [f"### {name}.csv", "", "| column | unit | meaning |", "|---|---|---|"]
        lines += [f"| `{key}` | {c.unit} | {c.meaning} |" for key, c in columns.items()] + [""]
    return "\n".join(lines)
