"""A run's tables (requests, jobs, events, series), column by column, with each column's type, unit and meaning:
what `--export` writes (report/export.py) and `report.to_frames()` returns. They read the report and its run
records duck-typed, so that the report model can offer them without an import cycle."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from simulator.report.records import OUTCOMES, RunRecords
from simulator.report.series import WorkloadSeries

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
                     "fragmentation, batch_running, it_power_w, facility_power_w, tenant_gpus, link_load) or a "
                     "WorkloadSeries field (progress, queued, running, replicas_up, kv_cache_use, busy_fraction, "
                     "ttft_p50_s, ttft_p99_s, e2e_p50_s, e2e_p99_s)"),
    "subject": Column("string", "", "the tenant, workload or network tier (empty for cluster-wide series)"),
    "time_s": Column("float64", "s", "sample time (link_load: from TimeSeries.link_time_s)"),
    "value": Column("float64", "", "the value then, in the series' unit (docs above; empty: none, such as a "
                    "latency window without requests)"),
}
COLUMNS = {"requests": REQUESTS_COLUMNS, "jobs": JOBS_COLUMNS, "events": EVENTS_COLUMNS, "series": SERIES_COLUMNS}
# WorkloadSeries' series, exported under their own names with the workload as subject
WORKLOAD_SERIES = tuple(name for name in WorkloadSeries.model_fields if name != "events")
# TimeSeries' cluster-wide series, exported under their own names
CLUSTER_SERIES = ("allocated_gpus", "busy_gpus", "down_gpus", "waiting_workloads", "fragmentation", "batch_running",
                  "it_power_w", "facility_power_w")


def floats(values: np.ndarray) -> list[float | None]:
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
            columns[name] += floats(getattr(service, name))
        columns["input_tokens"] += service.input_tokens.tolist()
        columns["output_tokens"] += service.output_tokens.tolist()
        columns["replica"] += service.replica.tolist()
        columns["pool"] += pools[service.replica].tolist()
        columns["retries"] += service.retries.tolist()
        columns["preemptions"] += service.preemptions.tolist()
        columns["outcome"] += np.array(OUTCOMES, dtype=object)[service.outcome].tolist()
    return columns


def jobs_table(report: Any) -> Table:
    """Training workloads (scenario order), then batch jobs (submission order): their rows of the Report
    `report` flattened."""
    tenant_of = {name: tenant for tenant, t in report.tenants.items() for name in t.workloads}
    rows: list[Sequence[Any]] = [
        (name, "training", tenant_of.get(name, ""), w.status, w.submitted_s, w.started_s, w.finished_s, w.gpus,
         w.steps, w.steps_total, w.interruptions, w.preemptions, w.lost_gpu_hours, w.gpu_hours, w.cost_usd)
        for name, w in report.workloads.items() if w.kind == "training"]
    rows += [(j.name, "batch", j.tenant, j.status, j.submitted_s, j.started_s, j.finished_s, j.gpus, None, None,
              j.interruptions, j.preemptions, j.lost_gpu_hours, j.gpu_hours,
              j.gpu_hours * report.cluster.gpu_hour_usd) for j in (report.jobs.rows if report.jobs else [])]
    return by_column(JOBS_COLUMNS, rows)


def events_table(records: RunRecords) -> Table:
    """Every activity of the run but training step spans (those are the trace's): training jobs' first."""
    return by_column(EVENTS_COLUMNS, [(a.workload, a.kind, a.replica, a.start_s, a.duration_s, a.gpus, a.cause)
                                     for a in records.activities if a.kind != "steps"])


def series_table(report: Any) -> Table:
    """The Report `report`'s time series in long form: one row per series, subject and sample time."""
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
        for name in WORKLOAD_SERIES:
            if getattr(its, name):
                add(name, workload, series.time_s, getattr(its, name))
    for tier, values in series.link_load.items():
        add("link_load", tier, series.link_time_s, values)
    return by_column(SERIES_COLUMNS, rows)


def by_column(names: Iterable[str], rows: list[Sequence[Any]]) -> Table:
    """Rows as a table of the named columns."""
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def frames(report: Any) -> dict[str, Any]:
    """The Report `report` as pandas DataFrames (pandas is an optional extra: `pip install 'clustersim[frames]'`):
    `workloads` (a row per workload, nested figures as dotted columns), `cluster` (one row), `jobs` and `series`
    (the --export tables), and `requests` and `events` where the report holds its run's records."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_frames() needs pandas: pip install 'clustersim[frames]'") from None

    def frame(table: Table, columns: dict[str, Column]) -> Any:
        kinds = {"int64": "Int64", "float64": "float64", "string": "string"}
        return pd.DataFrame({name: pd.Series(values, dtype=kinds[columns[name].type]) if values else
                             pd.Series([], dtype=kinds[columns[name].type]) for name, values in table.items()})

    workloads = [{"name": name, **_flat(w.model_dump())} for name, w in report.workloads.items()]
    out = {"workloads": pd.DataFrame(workloads), "cluster": pd.DataFrame([_flat(report.cluster.model_dump())]),
           "jobs": frame(jobs_table(report), JOBS_COLUMNS), "series": frame(series_table(report), SERIES_COLUMNS)}
    if report.records is not None:
        out["requests"] = frame(requests_table(report.records), REQUESTS_COLUMNS)
        out["events"] = frame(events_table(report.records), EVENTS_COLUMNS)
    return out


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A model's dump with nested mappings as dotted keys; lists (of links, of notes) are left out."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        elif not isinstance(value, list):
            flat[f"{prefix}{key}"] = value
    return flat
