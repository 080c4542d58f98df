"""Interactive plots for the self-contained HTML pages: figures are plain dicts in plotly's JSON figure format,
drawn by plotly.js read from the installed plotly package (inlined once per page, never fetched), so zoom,
hover and text search work offline."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from functools import lru_cache
from importlib.resources import files
from typing import Any

Figure = dict[str, Any]  # {"data": [trace, ...], "layout": {...}} as plotly.js takes it
CONFIG = {"responsive": True, "displaylogo": False, "scrollZoom": False}


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """plotly.js, minified, from the plotly package's own files (no network)."""
    return (files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def _script_json(value: object) -> str:
    """JSON that is safe inside a <script> element (no `</` can close it early)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def figure_div(figure: Figure, div_id: str, css_class: str = "plot") -> str:
    """A <div> that plotly.js fills with `figure` once the page has loaded; `div_id` must be unique in the page."""
    safe_id = html.escape(div_id, quote=True)
    return (f'<div class="{html.escape(css_class, quote=True)}" id="{safe_id}"></div>'
            f"<script>Plotly.newPlot({_script_json(div_id)}, {_script_json(figure.get('data', []))}, "
            f"{_script_json(figure.get('layout', {}))}, {_script_json(CONFIG)});</script>")


def page(title: str, body: str, style: str = "") -> str:
    """A whole HTML document: plotly.js inlined in the head, then `body` (already escaped HTML)."""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><script>{plotly_js()}</script><style>{style}</style></head>"
            f"<body>{body}</body></html>\n")


def time_axis(seconds: Sequence[float]) -> tuple[list[float], str]:
    """Simulated times in the unit that suits their span (days, hours or minutes) and that unit's name."""
    span = max(seconds) if seconds else 0.0
    for unit, scale, least in (("days", 86400.0, 2 * 86400.0), ("hours", 3600.0, 2 * 3600.0)):
        if span >= least:
            return [t / scale for t in seconds], unit
    return [t / 60.0 for t in seconds], "minutes"


def trace(x: Sequence[object], y: Sequence[object], name: str, hover: str, **style: object) -> dict[str, Any]:
    """A line (or, with mode="markers", points) named `name` in the legend; `hover` is a plotly hovertemplate
    body (its units: %{y} and %{x} are the values), the trace's name shown beside it."""
    return {"type": "scatter", "mode": "lines", "x": list(x), "y": list(y), "name": name,
            "hovertemplate": f"{hover}<extra>{html.escape(name)}</extra>", **style}


def figure(title: str, traces: list[dict[str, Any]], x_title: str, y_title: str, height_px: int = 360,
           **layout: object) -> Figure:
    """A figure with the pages' common layout: title, axis titles, legend below, hover on the nearest x."""
    base: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 15}, "x": 0.01, "xanchor": "left"}, "height": height_px,
        "hovermode": "closest", "margin": {"l": 64, "r": 64, "t": 56, "b": 40},
        "legend": {"orientation": "h", "x": 0, "y": -0.18, "yanchor": "top"},
        "xaxis": {"title": {"text": x_title, "standoff": 4}, "zeroline": False, "automargin": True},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "font": {"family": "system-ui, sans-serif", "size": 12},
    }
    for key, value in layout.items():  # axis settings merge into the defaults
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    if isinstance(base.get("yaxis2"), dict):  # a right axis ticks at its own round values, not at the left's
        base["yaxis2"] = {"tickmode": "auto", **base["yaxis2"]}
    return {"data": traces, "layout": base}
