"""The run's records (report/records.py) from the engine's state at the end of a run: the services' outcomes
and logs, and the training jobs' timelines, with each failure's duration found."""

from __future__ import annotations

import math

import numpy as np

from simulator.engine.serving.requests import ServingOutcome
from simulator.engine.serving.service import Service
from simulator.engine.spans import Span
from simulator.engine.training import TrainingJob
from simulator.report.records import OUTCOMES, Activity, RunRecords, ServiceRecords


def run_records(jobs: list[TrainingJob], services: list[Service], outcomes: list[ServingOutcome],
                now: float) -> RunRecords:
    """The records of a run that stopped at `now`."""
    activities = [a for job in jobs for a in job_activities(job, now)]
    for service in services:
        activities += _service_activities(service, now)
    return RunRecords(services=tuple(_service_records(s, o) for s, o in zip(services, outcomes, strict=True)),
                      activities=tuple(activities))


def failure_durations_s(timeline: list[Span], failures_s: list[float], now: float) -> list[float]:
    """For each failure time, the time until the job next started a step span (or until `now`)."""
    resumed = np.array(sorted(span.start_s for span in timeline if span.kind == "steps"), dtype=float)
    found = np.searchsorted(resumed, np.asarray(failures_s, dtype=float), side="left")
    return [float((resumed[i] if i < resumed.size else now) - t) for i, t in zip(found, failures_s, strict=True)]


def job_activities(job: TrainingJob, now: float) -> list[Activity]:
    """A training job's timeline as activities, a failure lasting until the job computes again."""
    failures = failure_durations_s(job.timeline, [s.start_s for s in job.timeline if s.kind == "failure"], now)
    lasting = iter(failures)
    return [Activity(job.name, span.kind, -1, span.start_s,
                     next(lasting) if span.kind == "failure" else span.end_s - span.start_s, job.gpus, span.cause)
            for span in job.timeline]


def _service_activities(service: Service, now: float) -> list[Activity]:
    gpus = service.replica_gpus
    return [Activity(service.plan.name, event.kind, event.replica, event.start_s,
                     (now if math.isnan(event.end_s) else event.end_s) - event.start_s, int(gpus[event.replica]), "")
            for event in service.deployment.log]


def _service_records(service: Service, outcome: ServingOutcome) -> ServiceRecords:
    plan = service.plan
    count = len(outcome.arrival_s)
    outcome_code = np.full(count, OUTCOMES.index("queued_at_end"), dtype=np.int8)
    outcome_code[outcome.running] = OUTCOMES.index("in_flight_at_end")
    outcome_code[np.isfinite(outcome.finish_s)] = OUTCOMES.index("completed")
    outcome_code[outcome.failed] = OUTCOMES.index("failed")
    outcome_code[~outcome.arrived] = OUTCOMES.index("not_arrived")
    replicas = len(service.replica_gpus)
    split = plan.decode is not None
    pools = tuple(("prefill" if r < plan.pool_replicas else "decode") if split else "main" for r in range(replicas))
    busy = tuple((np.array(r.busy.start_s, dtype=float), np.array(r.busy.end_s, dtype=float))
                 for r in service.deployment.everyone)
    return ServiceRecords(
        workload=plan.name, arrival_s=outcome.arrival_s, first_token_s=outcome.first_token_s,
        finish_s=outcome.finish_s, input_tokens=np.asarray(plan.load.input_tokens, dtype=np.int64),
        output_tokens=np.asarray(plan.load.output_tokens, dtype=np.int64), replica=outcome.served,
        retries=outcome.retries, preemptions=outcome.preempted, outcome=outcome_code, pools=pools,
        replica_gpus=tuple(int(g) for g in service.replica_gpus), busy=busy)
