"""Write the accuracy tables of README.md and the docs from `clustersim reproduce`, so the figures there are what
the command prints today: `python -m simulator.tools.accuracydocs` rewrites every block between
`<!-- reproduce NAME -->` and `<!-- end reproduce -->`, and a test fails when one is stale."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from simulator.report.tools import ReproductionReport, ServingReproductionReport
from simulator.tools.reproduce import reproduce_serving, reproduce_training
from simulator.units import format_si

ROOT = Path(__file__).resolve().parents[2]
FILES = (ROOT / "README.md", ROOT / "docs" / "training-model.md", ROOT / "docs" / "serving.md")
BLOCK = re.compile(r"(<!-- reproduce (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end reproduce -->)", re.DOTALL)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f} %"


def training_table(report: ReproductionReport) -> str:
    """Every published training run, predicted, with the summary lines."""
    lines = ["| case | GPUs | layout | metric | published TFLOP/s | predicted | error | memory/GPU |",
             "|---|---|---|---|---|---|---|---|"]
    for run in report.runs:
        predicted = "refused" if run.predicted_tflops_per_gpu is None else f"{run.predicted_tflops_per_gpu:.0f}"
        memory = format_si(run.memory_per_gpu_bytes, "B", binary=True) + ("" if run.fits else " (over)")
        lines.append(f"| {run.id}{' (held out)' if run.held_out else ''} | {run.gpus:,} | {run.layout} | "
                     f"{run.metric} | {run.published_tflops_per_gpu:g} | {predicted} | {_percent(run.error)} | "
                     f"{memory} |")
    lines += ["", f"Shared-reference runs: median |error| {report.median_abs_error:.1%}, worst "
              f"{report.max_abs_error:.1%}."]
    if report.held_out_median_abs_error is not None and report.held_out_max_abs_error is not None:
        lines[-1] += (f" Held-out runs: median |error| {report.held_out_median_abs_error:.1%}, worst "
                      f"{report.held_out_max_abs_error:.1%}.")
    if report.refused:
        lines[-1] += f" Refused (does not fit the memory model): {', '.join(report.refused)}."
    lines += ["", "Shipped scenarios against their runs' published figures (failure-free, on the scenario's network):",
              "", "| scenario | metric | published | predicted | error |", "|---|---|---|---|---|"]
    lines += [f"| {row.scenario} | {row.metric} | {row.published:,.4g} | {row.predicted:,.4g} | {_percent(row.error)} |"
              for row in report.scenarios]
    return "\n".join(lines) + "\n"


def serving_table(report: ServingReproductionReport) -> str:
    """Every published serving cell, predicted, with the summary line."""
    lines = ["| case | input / output | published tok/s | predicted | error | what limits it |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {run.id} | {run.input_tokens:,} / {run.output_tokens:,} | {run.published_tokens_per_s:,.0f} | "
              f"{run.predicted_tokens_per_s:,.0f} | {_percent(run.error)} | {run.limited_by} "
              f"({run.concurrency:,} sequences) |" for run in report.runs]
    lines += ["", f"Median |error| {report.median_abs_error:.1%}, worst {report.max_abs_error:.1%}."]
    return "\n".join(lines) + "\n"


TABLES: dict[str, Callable[[], str]] = {
    "training": lambda: training_table(reproduce_training()),
    "serving": lambda: serving_table(reproduce_serving()),
}


def refreshed(text: str, tables: dict[str, str]) -> str:
    """`text` with every reproduce block replaced by its current table."""
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in tables:
            raise KeyError(f"unknown reproduce block {name!r}; known: {', '.join(sorted(tables))}")
        return match.group(1) + tables[name] + match.group(4)

    return BLOCK.sub(replace, text)


def documents() -> dict[Path, str]:
    """Every file with reproduce blocks, as it should read now."""
    tables = {name: make() for name, make in TABLES.items()}
    return {path: refreshed(path.read_text(encoding="utf-8"), tables) for path in FILES}


def main() -> None:
    """Rewrite the stale files and name them."""
    for path, text in documents().items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"rewrote {path.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
