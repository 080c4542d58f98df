"""report.to_frames() (report/tables.py): the same tables as --export, typed, plus a row per workload."""

from __future__ import annotations

import pandas as pd
import pytest

import simulator as cs
from simulator.report.export import csv_text
from simulator.report.model import Report
from simulator.report.tables import COLUMNS, frames, jobs_table, requests_table
from tests.conftest import ROOT

SERVE = ROOT / "scenarios" / "serve-llama70b-azure-conv.yaml"
FAILURES = ROOT / "scenarios" / "llama3-405b-failures.yaml"


@pytest.fixture(scope="module")
def serving() -> Report:
    return cs.simulate(SERVE)


def test_frames_hold_the_export_tables_with_their_types(serving: Report) -> None:
    tables = serving.to_frames()
    assert set(tables) == {"workloads", "cluster", "jobs", "series", "requests", "events"}
    for name in ("jobs", "series", "requests", "events"):
        assert list(tables[name].columns) == list(COLUMNS[name])
    requests = tables["requests"]
    assert str(requests["input_tokens"].dtype) == "Int64" and str(requests["outcome"].dtype) == "string"
    assert requests["arrival_s"].dtype == "float64"
    assert len(requests) == serving.workloads["chat"].requests.arrived + serving.workloads["chat"].requests.not_arrived
    assert requests["outcome"].value_counts().to_dict() == {"completed": serving.workloads["chat"].requests.completed}
    assert pd.read_csv(__import__("io").StringIO(csv_text(requests_table(serving.records)))).shape == requests.shape


def test_workloads_and_cluster_rows(serving: Report) -> None:
    tables = serving.to_frames()
    chat = tables["workloads"].set_index("name").loc["chat"]
    assert chat["kind"] == "inference" and chat["ttft_s.p50"] == serving.workloads["chat"].ttft_s.p50
    assert tables["cluster"].loc[0, "cost_usd"] == serving.cluster.cost_usd
    assert tables["cluster"].loc[0, "cost_breakdown.useful_usd"] == serving.cluster.cost_breakdown.useful_usd


def test_a_report_read_from_json_has_no_request_frames(serving: Report) -> None:
    again = Report.model_validate_json(serving.model_dump_json())
    assert again.records is None and again == serving
    assert set(again.to_frames()) == {"workloads", "cluster", "jobs", "series"}


def test_training_jobs_and_series() -> None:
    report = cs.simulate(FAILURES, {"workloads.llama3-405b.tokens": "100B"})
    tables = frames(report)
    jobs = tables["jobs"]
    assert list(jobs["name"]) == ["llama3-405b"] and jobs.loc[0, "steps"] == report.workloads["llama3-405b"].steps
    assert len(jobs) == len(jobs_table(report)["name"])
    progress = tables["series"].query("series == 'progress'")
    assert len(progress) == len(report.series.time_s) and progress["value"].iloc[-1] == pytest.approx(1.0)
    failures = tables["events"].query("kind == 'failure'")
    assert len(failures) == report.workloads["llama3-405b"].interruptions
