"""Progress of long work on standard error: a rich bar on a terminal; elsewhere (a pipe, a CI log) plain lines,
one when it starts, then at most one every PERIOD_S seconds, and one when it is done."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

PERIOD_S = 10.0
Task = Callable[[str, int], Callable[[int], None]]  # task(label, total) -> advance(k)


def progress_lines(label: str, total: int, write: Callable[[str], None],
                   clock: Callable[[], float] = time.monotonic) -> Callable[[int], None]:
    """Announce `label` (0 of `total`) through `write`; returns `advance(k)`, which writes
    `label: done/total (pct %), elapsed` when PERIOD_S has passed since the last line, or when all are done."""
    started = clock()
    state = {"done": 0, "last": started}
    write(f"{label}: 0/{total:,}")

    def advance(k: int) -> None:
        state["done"] += k
        now = clock()
        if state["done"] >= total or now - state["last"] >= PERIOD_S:
            state["last"] = now
            share = state["done"] / total if total else 1.0
            write(f"{label}: {state['done']:,}/{total:,} ({share:.0%}), {now - started:.0f} s")

    return advance


@contextmanager
def progress_bar(quiet: bool = False) -> Iterator[Task]:
    """Progress on stderr: a rich bar on a terminal, plain lines elsewhere (a pipe, a CI log), nothing if
    `quiet`; yields `task(label, total) -> advance(k)`."""
    if quiet:
        yield lambda label, total: lambda k: None
        return
    if not sys.stderr.isatty():
        yield lambda label, total: progress_lines(label, total, lambda line: print(line, file=sys.stderr, flush=True))
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:

        def task(label: str, total: int) -> Callable[[int], None]:
            task_id = bar.add_task(label, total=total)
            return lambda k: bar.advance(task_id, k)

        yield task
