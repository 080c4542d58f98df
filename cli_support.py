"""The command line's shared chores (cli.py): located problems on stderr, loading or exiting, output paths checked
before the work, files written atomically, reports printed as JSON or tables, exit codes. Click only, no logic."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console, RenderableType

    from simulator.scenario.loader import ScenarioError
    from simulator.scenario.overrides import Override
    from simulator.scenario.schema import Scenario

EXIT_BAD_INPUT = 2
EXIT_WRITE_FAILED = 1  # the work was done and printed, but a file could not be written


def print_issues(err: ScenarioError) -> None:
    for issue in err.issues:
        click.echo(str(issue), err=True)


def load_or_exit(path: str, overrides: tuple[str, ...], variant: tuple[Override, ...] = ()) -> Scenario:
    """The validated scenario (with the `--set` options, then a --vary variant), or its located problems on
    stderr and exit code 2."""
    from simulator.plan.load import load_scenario
    from simulator.scenario.loader import ScenarioError

    try:
        return load_scenario(path, overrides, variant)
    except ScenarioError as err:
        print_issues(err)
        sys.exit(EXIT_BAD_INPUT)


def load_mixes_or_exit(path: str, overrides: tuple[str, ...],
                       mixes: tuple[str, ...]) -> list[tuple[str, list[Override], Scenario]]:
    """(label, overrides, validated scenario) per `--mix` (the `--set` options, then the mix's own), or the
    located problems on stderr and exit code 2."""
    from simulator.experiments.capacity import mix_label, mix_overrides
    from simulator.scenario.overrides import OverrideError

    try:
        parsed = [mix_overrides(number, text) for number, text in enumerate(mixes, start=1)]
    except OverrideError as err:
        click.echo(str(err), err=True)
        sys.exit(EXIT_BAD_INPUT)
    labels = [mix_label(text)[0] for text in mixes]
    if len(set(labels)) < len(labels):
        click.echo(f"--mix: each mix needs its own label (got {', '.join(labels)})", err=True)
        sys.exit(EXIT_BAD_INPUT)
    return [(label, mix, load_or_exit(path, overrides, tuple(mix))) for label, mix in zip(labels, parsed, strict=True)]


def duration_or_exit(option: str, text: str) -> float:
    """`text` as seconds (a number, or a quantity such as '10 d'), or a message and exit code 2."""
    from simulator.units import Dimension, parse_quantity

    try:
        return parse_quantity(text, Dimension.DURATION)
    except ValueError as err:
        click.echo(f"{option}: {err}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def console() -> Console:
    """The terminal, or a wide virtual one when output goes to a file or pipe (tables stay whole)."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def outputs_or_exit(outputs: dict[str, str | None], inputs: list[str | Path]) -> None:
    """Exit 2 before any work where an output path cannot or must not be written (simulator/report/files.py)."""
    from simulator.report.files import OutputError, check_outputs

    try:
        check_outputs(outputs, inputs)
    except OutputError as err:
        click.echo(str(err), err=True)
        sys.exit(EXIT_BAD_INPUT)


def save(option: str, path: str, text: str) -> bool:
    """Write `text` to `path` atomically; where that still fails, say so and print it instead (no work is
    lost). Whether it was written."""
    from simulator.report.files import write_atomic

    try:
        write_atomic(path, text)
        return True
    except OSError as err:
        click.echo(f"{option} {path}: could not be written ({err}); it follows on standard output", err=True)
        click.echo(text, nl=False)
        return False


def write_and_emit(report: BaseModel, output: str | None, as_json: bool,
                    render: Callable[[Any], RenderableType]) -> None:
    """Write `report` as JSON to `output` (if given), then print it (exit 1 after printing where the file could
    not be written)."""
    if output and not save("-o", output, report.model_dump_json(indent=2) + "\n"):
        sys.exit(EXIT_WRITE_FAILED)
    emit(report, as_json, render)


def emit(report: BaseModel, as_json: bool, render: Callable[[Any], RenderableType]) -> None:
    """Print `report` as JSON, or rendered for people."""
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        console().print(render(report))


def print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2))
