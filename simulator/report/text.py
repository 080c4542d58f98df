"""Text for people shared by every terminal table (report/render.py for runs, render_tools.py for the analytic
tools): durations as they are read, and two-column tables of labelled values. It imports no report model, so
that the tools' tables load without the run report (`clustersim plan` starts quicker)."""

from __future__ import annotations

from rich.console import JustifyMethod
from rich.table import Table


def duration_text(seconds: float) -> str:
    """Seconds as people read them: '12.3 s', '45.0 min', '10.26 h', '54.00 d'."""
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.2f} d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.3g} s"


def pairs_table(title: str, rows: list[tuple[str, str]], justify: JustifyMethod = "right") -> Table:
    """A headerless table of (label, value) rows, labels in bold."""
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify=justify)
    for label, value in rows:
        table.add_row(label, value)
    return table
