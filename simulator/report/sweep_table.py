"""`clustersim sweep` in the terminal: a rich table of the rows that fits a given width (80 columns).

Grid keys are shown without the dotted prefix they share (`checkpoint.interval`, the prefix `workloads.llama3-405b.`
in the caption), and figures of a sweep's only workload without `workloads.<name>.`. One row per point (or per
replicate), with `mean ± half-width` cells; where that is wider than the width, the table is transposed (one
column per point, the grid values heading them) and split into as many tables as it takes.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Group
from rich.table import Table

from simulator.report.experiments import ReplicateRow, SweepFigure, SweepRow
from simulator.report.render import format_figure

Row = SweepRow | ReplicateRow
PADDING = 3  # per column: a space either side and a separator


def shared_prefix(paths: Sequence[str]) -> str:
    """The dotted prefix all `paths` share, ending in a dot, leaving each at least its last part ("" if none)."""
    split = [p.split(".")[:-1] for p in paths]
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) > 1:
            break
        common.append(parts[0])
    return "".join(f"{part}." for part in common)


def _figure_prefix(figures: Sequence[str]) -> str:
    """`workloads.<name>.` where every workload figure is of one workload, else ""."""
    names = {f.split(".")[1] for f in figures if f.startswith("workloads.") and f.count(".") >= 2}
    return f"workloads.{names.pop()}." if len(names) == 1 else ""


def _cell(path: str, figure: SweepFigure | float | None) -> str:
    if figure is None:
        return "-"
    if not isinstance(figure, SweepFigure):
        return format_figure(path, figure, True)
    mean = format_figure(path, figure.mean, True)
    return mean if figure.ci95 is None else f"{mean} ± {format_figure(path, figure.ci95, True)}"


def _cells(rows: Sequence[Row], figures: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the wide table: grid keys (shortened), the replicate index, then the figures."""
    keys = list(rows[0].grid)
    grid_prefix, figure_prefix = shared_prefix(keys), _figure_prefix(figures)
    header = [k.removeprefix(grid_prefix) for k in keys]
    per_replicate = isinstance(rows[0], ReplicateRow)
    header += ["rep"] * per_replicate + [f.removeprefix(figure_prefix) for f in figures]
    cells = []
    for row in rows:
        line = list(row.grid.values()) + ([str(row.replicate)] if isinstance(row, ReplicateRow) else [])
        cells.append(line + [_cell(f, row.figures.get(f)) for f in figures])
    return header, cells


def _width(texts: Sequence[str]) -> int:
    return max(len(t) for t in texts) + PADDING


def sweep_table(rows: Sequence[Row], figures: Sequence[str], title: str, width: int = 80) -> Group:
    """`title`, then the rows as one table (or transposed, several) no wider than `width`, then what the
    shortened names stand for and what ± means."""
    if not rows:
        return Group(f"{title}: no rows")
    header, cells = _cells(rows, figures)
    notes = []
    if grid_prefix := shared_prefix(list(rows[0].grid)):
        notes.append(f"grid: {grid_prefix}<key>")
    if figure_prefix := _figure_prefix(figures):
        notes.append(f"workload figures: {figure_prefix}<figure>")
    if isinstance(rows[0], SweepRow):
        notes.append("±: Student-t 95 % interval of the mean, t(0.975, n - 1) std / sqrt(n)")
    columns = [[h, *(line[i] for line in cells)] for i, h in enumerate(header)]
    if sum(_width(c) for c in columns) + 1 <= width:
        table = Table(box=box.SIMPLE_HEAD)
        for index, name in enumerate(header):
            table.add_column(name, justify="left" if index < len(rows[0].grid) else "right", no_wrap=True)
        for line in cells:
            table.add_row(*line)
        return Group(title, table, *notes)
    return Group(title, *_transposed(header, cells, width), *notes)


def _transposed(header: list[str], cells: list[list[str]], width: int) -> list[Table]:
    """One row per column of the wide table, one column per row of it, in as many tables as `width` needs."""
    label_width = _width(header)
    tables: list[Table] = []
    start = 0
    while start < len(cells):
        end, used = start, label_width + 1
        while end < len(cells) and (end == start or used + _width(cells[end]) <= width):
            used += _width(cells[end])
            end += 1
        part = f"rows {start + 1}-{end} of {len(cells)}" if len(cells) > end - start else None
        table = Table(title=part, box=box.SIMPLE_HEAD, show_header=False)
        table.add_column("", style="bold", no_wrap=True)
        for _ in range(start, end):
            table.add_column("", justify="right", no_wrap=True)
        for index, name in enumerate(header):
            table.add_row(name, *(cells[row][index] for row in range(start, end)))
        tables.append(table)
        start = end
    return tables
