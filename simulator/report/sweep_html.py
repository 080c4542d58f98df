"""`clustersim sweep --html`: a self-contained page (plots through report/interactive.py) of a sweep's points.

One plot per figure against the grid: the first grid key on the x axis (its SI values where it has them, else
its values as given, in grid order), one line per combination of the other keys' values, the Student-t 95 %
interval as error bars. With two objectives (`--pareto FIG1,FIG2`) a Pareto view: every point as (FIG1, FIG2)
and the non-dominated ones highlighted and joined. Which direction is better: a `max:` or `min:` prefix, else
higher for figures named like a rate or share (BETTER_HIGH), lower for the rest (time, cost, losses). A point
is dominated when another is at least as good in both figures and better in one; points lacking either figure
are left out. Hover shows a point's grid values. The rows follow as an HTML table.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from simulator.report.experiments import SweepFigure, SweepRow
from simulator.report.interactive import Figure, figure_div, page
from simulator.report.render import format_figure
from simulator.report.sweep_table import shared_prefix

BETTER_HIGH = ("ettr", "mfu", "hfu", "utilization", "per_s", "attainment", "tokens", "steps", "completed", "share")
STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}.plot{height:420px}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
         "th{background:#f3f3f3}td.key,th.key{text-align:left}")


@dataclass(frozen=True)
class Objective:
    """A figure of the Pareto view and whether more of it is better."""

    path: str
    higher: bool

    @property
    def words(self) -> str:
        """`higher ettr is better`."""
        return f"{'higher' if self.higher else 'lower'} {self.path.rsplit('.', 1)[-1]} is better"


def objectives(text: str, figures: Sequence[str]) -> tuple[Objective, Objective]:
    """`FIG1,FIG2` (each optionally `max:` or `min:`) as two objectives among the sweep's `figures`; ValueError
    naming the problem otherwise."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        raise ValueError(f"--pareto {text}: expected two figures, FIG1,FIG2 (each may start with max: or min:)")
    found = []
    for part in parts:
        direction, _, path = part.rpartition(":")
        if direction not in ("", "max", "min") or path not in figures:
            raise ValueError(f"--pareto {text}: {part!r} is not [max:|min:]FIGURE of this sweep's figures "
                             f"({', '.join(figures)})")
        higher = direction == "max" or (direction == "" and path.endswith(BETTER_HIGH))
        found.append(Objective(path, higher))
    return found[0], found[1]


def pareto_front(values: Sequence[tuple[float, float] | None], goals: tuple[Objective, Objective]) -> list[bool]:
    """Whether each point (None: lacking a figure) is non-dominated under the two objectives."""
    signs = [1.0 if goal.higher else -1.0 for goal in goals]
    scored = [None if v is None else (v[0] * signs[0], v[1] * signs[1]) for v in values]  # higher is better

    def dominated(point: tuple[float, float]) -> bool:
        return any(o is not None and o[0] >= point[0] and o[1] >= point[1] and o != point for o in scored)

    return [point is not None and not dominated(point) for point in scored]


def _hover(row: SweepRow) -> str:
    return "<br>".join(f"{html.escape(key)} = {html.escape(value)}" for key, value in row.grid.items())


def _mean(row: SweepRow, path: str) -> float | None:
    figure = row.figures.get(path)
    return None if figure is None else figure.mean


def figure_plot(rows: Sequence[SweepRow], path: str) -> Figure:
    """One figure against the first grid key, a line per combination of the other keys, CI as error bars."""
    keys = list(rows[0].grid)
    first, numeric = keys[0], keys[0] in rows[0].grid_si
    lines: dict[str, list[SweepRow]] = {}
    for row in rows:
        lines.setdefault(" ".join(f"{k}={row.grid[k]}" for k in keys[1:]), []).append(row)
    traces = []
    for label, members in lines.items():
        traces.append({
            "type": "scatter", "mode": "lines+markers", "name": label or path,
            "x": [row.grid_si[first] if numeric else row.grid[first] for row in members],
            "y": [_mean(row, path) for row in members],
            "error_y": {"type": "data", "visible": True, "array": [
                None if (f := row.figures.get(path)) is None else f.ci95 for row in members]},
            "text": [_hover(row) for row in members], "hovertemplate": "%{text}<br>%{y}<extra></extra>",
        })
    axis = f"{first} (SI)" if numeric else first
    return {"data": traces, "layout": {"title": {"text": path}, "xaxis": {"title": {"text": axis}},
                                       "yaxis": {"title": {"text": path}}, "showlegend": len(keys) > 1}}


def pareto_plot(rows: Sequence[SweepRow], goals: tuple[Objective, Objective]) -> Figure:
    """Every point as (first objective, second), the non-dominated ones highlighted and joined."""
    values = [None if (x := _mean(r, goals[0].path)) is None or (y := _mean(r, goals[1].path)) is None else (x, y)
              for r in rows]
    front = pareto_front(values, goals)
    plotted = [(r, v) for r, v in zip(rows, values, strict=True) if v is not None]
    best = sorted(((v, r) for r, v, on in zip(rows, values, front, strict=True) if on and v is not None),
                  key=lambda pair: pair[0])
    traces = [{"type": "scatter", "mode": "markers", "name": "all points", "marker": {"color": "#999"},
               "x": [v[0] for _, v in plotted], "y": [v[1] for _, v in plotted],
               "text": [_hover(r) for r, _ in plotted], "hovertemplate": "%{text}<extra></extra>"},
              {"type": "scatter", "mode": "lines+markers", "name": "non-dominated", "line": {"color": "#d62728"},
               "marker": {"size": 10}, "x": [v[0] for v, _ in best], "y": [v[1] for v, _ in best],
               "text": [_hover(r) for _, r in best], "hovertemplate": "%{text}<extra></extra>"}]
    title = f"Pareto front: {goals[0].words}, {goals[1].words}"
    return {"data": traces, "layout": {"title": {"text": title}, "xaxis": {"title": {"text": goals[0].path}},
                                       "yaxis": {"title": {"text": goals[1].path}}}}


def _cell(path: str, figure: SweepFigure | None) -> str:
    if figure is None:
        return "-"
    mean = format_figure(path, figure.mean, True)
    return mean if figure.ci95 is None else f"{mean} ± {format_figure(path, figure.ci95, True)}"


def rows_html(rows: Sequence[SweepRow], figures: Sequence[str]) -> str:
    """The points as an HTML table: grid values as given, then mean ± half-width of each figure."""
    keys = list(rows[0].grid)
    prefix = shared_prefix(keys)
    head = "".join(f'<th class="key">{html.escape(k.removeprefix(prefix))}</th>' for k in keys)
    head += "".join(f"<th>{html.escape(f)}</th>" for f in figures)
    body = "".join("<tr>" + "".join(f'<td class="key">{html.escape(row.grid[k])}</td>' for k in keys)
                   + "".join(f"<td>{html.escape(_cell(f, row.figures.get(f)))}</td>" for f in figures) + "</tr>"
                   for row in rows)
    note = f"<p>Grid keys under <code>{html.escape(prefix)}</code>.</p>" if prefix else ""
    return f"{note}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def sweep_html(rows: Sequence[SweepRow], figures: Sequence[str], title: str,
               goals: tuple[Objective, Objective] | None = None) -> str:
    """The whole page: a plot per figure, the Pareto view with `goals`, and the table of points."""
    parts: list[Any] = [f"<h1>{html.escape(title)}</h1>",
                        f"<p>{len(rows):,} points, {rows[0].replicates:,} replicates each (seeds shared by every "
                        "point); error bars and ±: Student-t 95 % interval of the mean, t(0.975, n - 1) std / "
                        "sqrt(n).</p>"]
    if goals is not None:
        parts += ["<h2>Pareto front</h2>", f"<p>{html.escape(goals[0].words)}; {html.escape(goals[1].words)}. "
                  "Highlighted: points no other point beats in one figure without losing in the other.</p>",
                  figure_div(pareto_plot(rows, goals), "pareto")]
    parts.append("<h2>Figures</h2>")
    parts += [figure_div(figure_plot(rows, path), f"figure-{index}") for index, path in enumerate(figures)]
    parts += ["<h2>Points</h2>", rows_html(rows, figures)]
    return page(title, "\n".join(parts), STYLE)
