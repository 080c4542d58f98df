"""`--vary FIELD=V1,V2,...` options turned into labelled override lists (the cartesian product of all)."""

from __future__ import annotations

import itertools


def split_values(text: str) -> list[str]:
    """Split on commas outside brackets and braces: 'a,[1, 2],{x: 1, y: 2}' -> three values."""
    values, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    values.append(current.strip())
    return values


def expand(varies: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """(label, overrides) for every combination of the --vary options; one empty variant when none."""
    axes = []
    for vary in varies:
        key, sep, values = vary.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise ValueError(f"--vary expects FIELD.PATH=V1,V2,..., got {vary!r}")
        axes.append([f"{key.strip()}={value}" for value in split_values(values)])
    return [(" ".join(combo), list(combo)) for combo in itertools.product(*axes)] if axes else [("", [])]
