"""Progress of long work as plain lines, for standard error that is not a terminal (a pipe, a CI log): a line
when it starts, then at most one every PERIOD_S seconds, and one when it is done."""

from __future__ import annotations

import time
from collections.abc import Callable

PERIOD_S = 10.0


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
