"""Request arrival times and token lengths for serving workloads: synthetic processes (Poisson, gamma,
diurnal) and replay of CSV traces such as the Azure LLM inference trace, as plain numpy arrays."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator.units import Dimension, parse_quantity

_EPOCH = datetime(1970, 1, 1)


def _check_count(count: int) -> None:
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")


def _check_rate(rate_per_s: float) -> None:
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise ValueError(f"rate_per_s must be a positive finite number, got {rate_per_s}")


def poisson_arrivals_s(rate_per_s: float, count: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """`count` arrival times (s) of a Poisson process of `rate_per_s`, starting after 0."""
    _check_rate(rate_per_s)
    _check_count(count)
    return np.cumsum(rng.exponential(1.0 / rate_per_s, size=count))


def gamma_arrivals_s(rate_per_s: float, cv: float, count: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """`count` arrival times (s) with gamma gaps of mean 1/rate and coefficient of variation `cv`.

    cv = 1 is a Poisson process; cv > 1 is burstier, cv < 1 more regular."""
    _check_rate(rate_per_s)
    _check_count(count)
    if not (math.isfinite(cv) and cv > 0):
        raise ValueError(f"cv must be a positive finite number, got {cv}")
    shape = 1.0 / cv**2
    return np.cumsum(rng.gamma(shape, 1.0 / (rate_per_s * shape), size=count))


def diurnal_arrivals_s(
    rates_per_s: Sequence[float], period_s: float, count: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """`count` arrival times (s) of a Poisson process whose rate is piecewise constant and repeats every `period_s`.

    The period is split into len(rates_per_s) equal slots, slot i running at rates_per_s[i]. Exact: unit-rate
    Poisson times are mapped through the inverse of the cumulative intensity (no thinning)."""
    _check_count(count)
    rates = np.asarray(rates_per_s, dtype=np.float64)
    if rates.ndim != 1 or rates.size == 0 or not np.all(np.isfinite(rates)) or np.any(rates < 0):
        raise ValueError(f"rates_per_s must be a non-empty list of finite rates >= 0, got {list(rates_per_s)}")
    if not np.any(rates > 0):
        raise ValueError("rates_per_s are all zero: no arrivals can ever happen")
    if not (math.isfinite(period_s) and period_s > 0):
        raise ValueError(f"period_s must be a positive finite number, got {period_s}")
    slot_s = period_s / rates.size
    cumulative = np.concatenate(([0.0], np.cumsum(rates * slot_s)))  # expected arrivals up to each slot edge
    per_period = float(cumulative[-1])
    unit_times = np.cumsum(rng.exponential(1.0, size=count))
    periods, remainder = np.divmod(unit_times, per_period)
    remainder = np.minimum(remainder, np.nextafter(per_period, 0.0))
    # Last slot whose start has cumulative <= remainder: never a zero-rate slot, since its end would qualify too.
    slot = np.clip(np.searchsorted(cumulative, remainder, side="right") - 1, 0, rates.size - 1)
    offset_s = slot * slot_s + (remainder - cumulative[slot]) / rates[slot]
    return np.asarray(periods * period_s + offset_s, dtype=np.float64)


class TraceError(ValueError):
    """A trace file that cannot be read: missing column, bad value, or no rows."""


@dataclass(frozen=True)
class Trace:
    """Arrival times (s, first at 0, sorted) and per-request token counts, one entry per request."""

    arrival_s: NDArray[np.float64]
    input_tokens: NDArray[np.int64]
    output_tokens: NDArray[np.int64]


def _parse_time(value: str) -> tuple[int, float]:
    """(whole seconds, fraction) of a number of seconds or a naive timestamp such as 2023-11-16 18:15:46.6805900.

    Kept apart so that differences of epoch timestamps keep sub-microsecond precision."""
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise ValueError("not a finite number")
        return 0, seconds
    text = value.strip()
    fraction = 0.0
    head, dot, digits = text.rpartition(".")
    if dot and ":" in head:  # fractional seconds; datetime accepts at most 6 digits, traces have 7
        if not digits.isdigit():
            raise ValueError("bad fractional seconds")
        text, fraction = head, float("0." + digits)
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is not None:
        raise ValueError("timestamps with a time zone are not supported")
    return int((stamp - _EPOCH).total_seconds()), fraction


def load_trace(
    path: str | Path,
    *,
    time_column: str = "TIMESTAMP",
    input_column: str = "ContextTokens",
    output_column: str = "GeneratedTokens",
    time_scale: float = 1.0,
    limit: int | None = None,
) -> Trace:
    """Read a CSV trace with a header row: one request per row, arrival time and input/output token counts.

    Times are seconds or timestamps (up to 100 ns digits). They are made relative to the earliest row, then
    MULTIPLIED by `time_scale`: 0.5 replays the trace twice as fast, 2.0 half as fast. Rows are sorted by time,
    stably. `limit` keeps only the first `limit` data rows of the file (before sorting)."""
    if not (math.isfinite(time_scale) and time_scale > 0):
        raise ValueError(f"time_scale must be a positive finite number, got {time_scale}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit}")
    path = Path(path)
    whole: list[int] = []
    fraction: list[float] = []
    input_tokens: list[int] = []
    output_tokens: list[int] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header, columns = _header(path, reader, (time_column, input_column, output_column))
        for row in reader:
            if not row:
                continue
            if limit is not None and len(whole) >= limit:
                break
            if len(row) < len(header):
                raise TraceError(f"{path}, line {reader.line_num}: {len(row)} fields, the header has {len(header)}")
            name = time_column
            value = row[columns[0]]
            try:
                seconds, part = _parse_time(value)
                name, value = input_column, row[columns[1]]
                tokens_in = int(value)
                name, value = output_column, row[columns[2]]
                tokens_out = int(value)
            except ValueError as error:
                raise TraceError(
                    f"{path}, line {reader.line_num}, column {name!r}: bad value {value!r} ({error})"
                ) from None
            if tokens_in < 0 or tokens_out < 0:
                raise TraceError(f"{path}, line {reader.line_num}: negative token count ({tokens_in}, {tokens_out})")
            whole.append(seconds)
            fraction.append(part)
            input_tokens.append(tokens_in)
            output_tokens.append(tokens_out)
    if not whole:
        raise TraceError(f"{path}: no data rows after the header")
    whole_s = np.asarray(whole, dtype=np.int64)
    relative_s = (whole_s - whole_s.min()).astype(np.float64) + np.asarray(fraction, dtype=np.float64)
    order = np.argsort(relative_s, kind="stable")
    arrival_s = relative_s[order] - relative_s[order[0]]
    return Trace(
        arrival_s=arrival_s * time_scale,
        input_tokens=np.asarray(input_tokens, dtype=np.int64)[order],
        output_tokens=np.asarray(output_tokens, dtype=np.int64)[order],
    )


def _header(path: Path, reader: Any, names: Sequence[str]) -> tuple[list[str], list[int]]:
    """The header row and the positions of `names` in it; TraceError if it lacks one."""
    header = [name.strip() for name in next(reader, [])]
    if not header:
        raise TraceError(f"{path}: empty file, expected a header row")
    for name in names:
        if name not in header:
            raise TraceError(f"{path}: no column {name!r}; the columns are {', '.join(header)}")
    return header, [header.index(name) for name in names]


def check_columns(path: str | Path, names: Sequence[str]) -> None:
    """Raise TraceError unless `path` is a readable CSV whose header has every column in `names`."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            _header(path, csv.reader(handle), names)
    except (OSError, UnicodeDecodeError) as error:
        raise TraceError(f"cannot read {path}: {error}") from None


def load_column(path: str | Path, column: str) -> NDArray[np.int64]:
    """The token counts (integers >= 1) in one column of a CSV file with a header row."""
    path = Path(path)
    values: list[int] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        _, (index,) = _header(path, reader, (column,))
        for row in reader:
            if not row:
                continue
            try:
                value = int(row[index])
            except (ValueError, IndexError):
                raise TraceError(f"{path}, line {reader.line_num}, column {column!r}: not a token count") from None
            if value < 1:
                raise TraceError(f"{path}, line {reader.line_num}, column {column!r}: {value} is not >= 1")
            values.append(value)
    if not values:
        raise TraceError(f"{path}: no data rows after the header")
    return np.asarray(values, dtype=np.int64)


def _check_length(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be >= 1 token, got {value}")


def fixed_lengths(value: int, count: int) -> NDArray[np.int64]:
    """`count` copies of `value` tokens."""
    _check_length("value", value)
    _check_count(count)
    return np.full(count, value, dtype=np.int64)


def uniform_lengths(low: int, high: int, count: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """`count` token counts uniform on low..high, both included."""
    _check_length("low", low)
    _check_count(count)
    if high < low:
        raise ValueError(f"high ({high}) must be >= low ({low})")
    return rng.integers(low, high, size=count, endpoint=True, dtype=np.int64)


def lognormal_lengths(
    median: float,
    sigma: float,
    count: int,
    rng: np.random.Generator,
    *,
    minimum: int = 1,
    maximum: int | None = None,
) -> NDArray[np.int64]:
    """`count` token counts from a lognormal of `median` and log-space `sigma`, rounded and clipped to
    minimum..maximum."""
    _check_length("minimum", minimum)
    _check_count(count)
    if not (math.isfinite(median) and median > 0 and math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"median must be > 0 and sigma >= 0, got median={median}, sigma={sigma}")
    if maximum is not None and maximum < minimum:
        raise ValueError(f"maximum ({maximum}) must be >= minimum ({minimum})")
    samples = np.rint(rng.lognormal(math.log(median), sigma, size=count))
    return np.clip(samples, minimum, maximum).astype(np.int64)


def empirical_lengths(values: NDArray[np.integer], count: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """`count` token counts drawn with replacement from observed `values` (e.g. a trace's column)."""
    _check_count(count)
    source = np.asarray(values, dtype=np.int64)
    if source.size == 0 or np.any(source < 1):
        raise ValueError("values must be a non-empty array of token counts >= 1")
    return rng.choice(source, size=count, replace=True)


@dataclass(frozen=True)
class JobColumns:
    """Which CSV columns of a job trace hold what; optional ones may be absent from the file."""

    submit: str = "submit_time"
    tenant: str = "tenant"
    gpus: str = "gpus"
    duration: str = "duration"  # run time, s; may be empty on a row that gives tokens
    priority: str | None = "priority"
    preemptible: str | None = "preemptible"
    tokens: str | None = "tokens"  # tokens to train, instead of a duration
    model: str | None = "model"  # catalog model of a row that gives tokens


@dataclass(frozen=True)
class JobTrace:
    """Batch jobs from a CSV file, in submission order: times relative to the first (s), tenants, GPUs, run
    times (s; NaN where the row gives tokens), tokens (NaN where it gives a run time), models (None where the
    trace has none), priorities, and the file line of each job."""

    submit_s: NDArray[np.float64]
    tenants: list[str]
    gpus: NDArray[np.int64]
    duration_s: NDArray[np.float64]
    priority: NDArray[np.int64]
    preemptible: list[bool | None]  # None where the trace has no such column
    tokens: NDArray[np.float64]
    models: list[str | None]
    lines: list[int]


FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def load_job_trace(path: str | Path, columns: JobColumns) -> JobTrace:
    """Read a job trace; TraceError naming the file, line and column of a bad value. Each row gives a run time
    or tokens to train (the trace needs one of the two columns)."""
    path = Path(path)
    rows: list[tuple[int, float, str, int, float, int, bool | None, float, str | None, int]] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header, at = _header(path, reader, [columns.submit, columns.tenant, columns.gpus])
        optional = {name: header.index(name) if name in header else None for name in
                    (columns.duration, columns.priority, columns.preemptible, columns.tokens, columns.model)
                    if name is not None}
        if optional.get(columns.duration) is None and optional.get(columns.tokens or "") is None:
            raise TraceError(f"{path}: no column {columns.duration!r} (or {columns.tokens!r} to give tokens to "
                             f"train instead); the columns are {', '.join(header)}")

        def cell(row: list[str], name: str | None) -> str:
            index = optional.get(name or "")
            return row[index].strip() if index is not None and index < len(row) else ""

        for row in reader:
            if not row:
                continue
            name, value = columns.submit, row[at[0]] if len(row) > at[0] else ""
            try:
                whole, part = _parse_time(value)
                name, value = columns.gpus, row[at[2]]
                gpus = int(value)
                name, value = columns.duration, cell(row, columns.duration)
                duration = float(value) if value else math.nan
                name, value = columns.tokens or "", cell(row, columns.tokens)
                tokens = parse_quantity(value, Dimension.COUNT) if value else math.nan  # 2e9, 2B
                name, value = columns.priority or "", cell(row, columns.priority)
                priority = int(value or 0)
                name, value = columns.preemptible or "", cell(row, columns.preemptible)
                flag = FLAGS[value.lower()] if value else None
            except (ValueError, IndexError, KeyError) as error:
                raise TraceError(f"{path}, line {reader.line_num}, column {name!r}: bad value {value!r} "
                                 f"({error})") from None
            if gpus < 1:
                raise TraceError(f"{path}, line {reader.line_num}: gpus must be >= 1")
            given = [x for x in (duration, tokens) if not math.isnan(x)]
            if len(given) != 1 or not (math.isfinite(given[0]) and given[0] > 0):
                raise TraceError(f"{path}, line {reader.line_num}: give a duration > 0 or tokens > 0 to train "
                                 f"(one of the two)")
            rows.append((whole, part, row[at[1]].strip() or "default", gpus, duration, priority, flag, tokens,
                         cell(row, columns.model) or None, reader.line_num))
    if not rows:
        raise TraceError(f"{path}: no data rows after the header")
    first = min(r[0] for r in rows)
    times = np.array([(r[0] - first) + r[1] for r in rows])
    order = np.argsort(times, kind="stable")
    return JobTrace(submit_s=times[order] - times[order[0]], tenants=[rows[i][2] for i in order],
                    gpus=np.array([rows[i][3] for i in order], dtype=np.int64),
                    duration_s=np.array([rows[i][4] for i in order]),
                    priority=np.array([rows[i][5] for i in order], dtype=np.int64),
                    preemptible=[rows[i][6] for i in order], tokens=np.array([rows[i][7] for i in order]),
                    models=[rows[i][8] for i in order], lines=[rows[i][9] for i in order])
