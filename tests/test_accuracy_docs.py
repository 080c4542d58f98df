"""The accuracy tables in README.md and the docs are what `clustersim reproduce` prints today
(simulator/tools/accuracydocs.py writes them; this fails when one is stale or a block is unknown)."""

from __future__ import annotations

import pytest

from simulator.tools import accuracydocs


def test_accuracy_tables_are_fresh() -> None:
    for path, text in accuracydocs.documents().items():
        assert "<!-- reproduce " in text, f"{path} has no reproduce block"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run python -m simulator.tools.accuracydocs"


def test_blocks_are_replaced_whole_and_unknown_ones_refused() -> None:
    text = "before\n<!-- reproduce serving -->\nold table\n<!-- end reproduce -->\nafter\n"
    assert accuracydocs.refreshed(text, {"serving": "new\n"}) == (
        "before\n<!-- reproduce serving -->\nnew\n<!-- end reproduce -->\nafter\n")
    with pytest.raises(KeyError, match="unknown reproduce block 'other'"):
        accuracydocs.refreshed(text.replace("serving", "other"), {"serving": "new\n"})
