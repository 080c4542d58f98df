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
from pathlib import Path

from simulator.report.files import write_atomic
from simulator.report.model import Report
from simulator.report.tables import COLUMNS, Column, Table, events_table, jobs_table, requests_table, series_table


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
