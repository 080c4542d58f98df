"""Interactive plots for the self-contained HTML pages: figures are plain dicts in plotly's JSON figure format,
drawn by plotly.js read from the installed plotly package (inlined once per page, never fetched), so zoom,
hover and text search work offline."""

from __future__ import annotations

import html
import json
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
