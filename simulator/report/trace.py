"""`clustersim run --trace FILE`: the run as a Chrome trace-event file (the JSON object form, `traceEvents`), for
Perfetto (ui.perfetto.dev) and chrome://tracing: one process per training job, service and tenant, plus the
cluster; complete slices ("X") for a job's step spans (between checkpoints and failures, never one per step),
checkpoint stalls, failures, detection, waits, restarts and waits for GPUs again; per service replica, its busy
stretches (back-to-back iterations merged), outages and autoscaler switches (instants); counters ("C") of the
cluster's and each tenant's GPUs.

Bounded: a thread (track) holds at most MAX_SLICES_PER_TRACK slices; one with more has runs of consecutive
slices merged into one each (args.merged: how many), and otherData.merged_slices counts the slices merged away.
Timestamps are simulated microseconds."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from simulator.report.model import Report
from simulator.report.records import RunRecords, ServiceRecords

MAX_SLICES_PER_TRACK = 2_000
US_PER_S = 1e6
# a training job's threads, by the activities they show
JOB_THREADS = {"steps": 1, "checkpoint": 2, "failure": 3, "detection": 4, "waiting": 4, "restart": 4,
               "preemption": 4, "requeue": 4}
JOB_THREAD_NAMES = {1: "steps", 2: "checkpoints", 3: "failures", 4: "recovery and requeueing"}
Event = dict[str, Any]


def trace_json(report: Report) -> str:
    """The run as a Chrome trace-event JSON object (compact, deterministic). ValueError for a report without
    records (read back from JSON, or a Monte Carlo replicate's)."""
    records = report.records
    if records is None:
        raise ValueError("this report has no run records (it was read from JSON, or is a replicate's): "
                         "trace the report that simulate() returned")
    trace = _Trace()
    _cluster(trace, report)
    _jobs(trace, records)
    for service in records.services:
        _service(trace, service, records)
    for tenant, values in report.series.tenant_gpus.items():
        pid = trace.process(f"tenant {tenant}")
        trace.counters(pid, "GPUs held", report.series.time_s, {"gpus": values})
    return json.dumps({"traceEvents": trace.events, "displayTimeUnit": "ms",
                       "otherData": {"scenario": report.scenario, "seed": report.seed,
                                     "clustersim_version": report.clustersim_version,
                                     "max_slices_per_track": MAX_SLICES_PER_TRACK,
                                     "merged_slices": trace.merged}}, separators=(",", ":"))


class _Trace:
    """Trace events as they are added, with process numbers handed out in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.merged = 0  # slices merged away to keep the bound
        self.pids = 0

    def process(self, name: str) -> int:
        """A new process (a track group) named `name`: its pid."""
        self.pids += 1
        pid = self.pids
        self.events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": name}})
        return pid

    def thread(self, pid: int, tid: int, name: str) -> None:
        """Name thread `tid` of process `pid`."""
        self.events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}})

    def slices(self, pid: int, tid: int, names: Sequence[str], start_s: np.ndarray, end_s: np.ndarray,
               args: Sequence[dict[str, Any]] | None = None) -> None:
        """Complete slices on a thread, in time order; past the bound, runs of consecutive ones are merged."""
        count = len(names)
        if count > MAX_SLICES_PER_TRACK:
            size = math.ceil(count / MAX_SLICES_PER_TRACK)
            firsts = np.arange(0, count, size)
            lasts = np.minimum(firsts + size - 1, count - 1)
            self.merged += count - firsts.size
            merged_names = [names[f] if len(set(names[f:last + 1])) == 1 else "merged"
                            for f, last in zip(firsts.tolist(), lasts.tolist(), strict=True)]
            args = [{"merged": last - f + 1} for f, last in zip(firsts.tolist(), lasts.tolist(), strict=True)]
            names, start_s, end_s = merged_names, start_s[firsts], end_s[lasts]
        for i, (name, start, end) in enumerate(zip(names, start_s.tolist(), end_s.tolist(), strict=True)):
            event: Event = {"ph": "X", "name": name, "cat": name, "pid": pid, "tid": tid, "ts": _us(start),
                            "dur": max(0.0, _us(end) - _us(start))}
            if args is not None and args[i]:
                event["args"] = args[i]
            self.events.append(event)

    def instant(self, pid: int, tid: int, name: str, time_s: float) -> None:
        """An instant on a thread."""
        self.events.append({"ph": "i", "name": name, "cat": name, "pid": pid, "tid": tid, "ts": _us(time_s),
                            "s": "t"})

    def counters(self, pid: int, name: str, times_s: list[float], series: dict[str, list[float]]) -> None:
        """A counter track of one or more series sampled at `times_s`."""
        for i, time_s in enumerate(times_s):
            self.events.append({"ph": "C", "name": name, "pid": pid, "tid": 0, "ts": _us(time_s),
                                "args": {key: values[i] for key, values in series.items()}})


def _us(seconds: float) -> float:
    return round(seconds * US_PER_S, 3)


def _cluster(trace: _Trace, report: Report) -> None:
    series = report.series
    pid = trace.process(f"cluster ({report.cluster.gpus} GPUs)")
    trace.counters(pid, "GPUs", series.time_s, {"allocated": series.allocated_gpus, "busy": series.busy_gpus,
                                                "down": series.down_gpus})


def _jobs(trace: _Trace, records: RunRecords) -> None:
    """Each training job's activities on its threads."""
    jobs = [a for a in records.activities if a.replica < 0]
    for name in dict.fromkeys(a.workload for a in jobs):
        pid = trace.process(f"training {name}")
        mine = [a for a in jobs if a.workload == name]
        for tid, thread in JOB_THREAD_NAMES.items():
            shown = sorted((a for a in mine if JOB_THREADS[a.kind] == tid), key=lambda a: a.start_s)
            if not shown:
                continue
            trace.thread(pid, tid, thread)
            start = np.array([a.start_s for a in shown])
            trace.slices(pid, tid, [a.kind for a in shown], start, start + np.array([a.duration_s for a in shown]),
                         [{"gpus": a.gpus, "cause": a.cause} if a.cause else {"gpus": a.gpus} for a in shown])


def _service(trace: _Trace, service: ServiceRecords, records: RunRecords) -> None:
    """A service's replicas: busy stretches and switches on one thread each, outages on another."""
    pid = trace.process(f"service {service.workload}")
    events = [a for a in records.activities if a.workload == service.workload and a.replica >= 0]
    for replica, (start_s, end_s) in enumerate(service.busy):
        tid = 2 * replica + 1
        trace.thread(pid, tid, f"replica {replica} ({service.pools[replica]}, {service.replica_gpus[replica]} GPUs)")
        trace.slices(pid, tid, ["busy"] * len(start_s), start_s, end_s)
        for switch in (a for a in events if a.replica == replica and a.kind != "failure"):
            trace.instant(pid, tid, switch.kind, switch.start_s)
        outages = [a for a in events if a.replica == replica and a.kind == "failure"]
        if outages:
            trace.thread(pid, tid + 1, f"replica {replica} outages")
            start = np.array([a.start_s for a in outages])
            trace.slices(pid, tid + 1, ["failure"] * len(outages), start,
                         start + np.array([a.duration_s for a in outages]))


def trace_doc() -> str:
    """docs/report.md's "Trace file" section: what `--trace` writes and its size bound."""
    return "\n".join([
        "## Trace file", "",
        "`clustersim run S --trace FILE` (or `trace_json(report)` in simulator/report/trace.py) writes the run as "
        "a Chrome trace-event JSON object (`traceEvents`, `displayTimeUnit`, `otherData`) that Perfetto "
        "(ui.perfetto.dev) and chrome://tracing open. Timestamps are simulated microseconds.", "",
        "- a process per training job, with threads for its step spans (one slice per span between checkpoints, "
        "failures and preemptions, never one per step), checkpoint stalls, failures (until it computes again), "
        "and recovery (detection, waits, restarts, waits for GPUs after a preemption or a requeue);",
        "- a process per service, a thread per replica with its busy stretches (consecutive iterations merged) "
        "and autoscaler switches (instants), and a thread for the replica's outages where it had any;",
        "- a process per tenant (a counter of the GPUs it holds) and one for the cluster (allocated, busy and "
        "down GPUs), at the report's sample times (at most 512).", "",
        f"Size bound: at most {MAX_SLICES_PER_TRACK:,} slices per thread. A thread with more has runs of "
        "consecutive slices merged into one each (`args.merged`: how many; name `merged` where they differ), and "
        "`otherData.merged_slices` counts the slices merged away, so the file grows with the number of jobs and "
        "replicas, not with the number of requests, steps or iterations.", ""])
