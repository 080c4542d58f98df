"""Shared fixtures: paths into the repository and its validation data (tests/data, see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.yaml"))
DATA = ROOT / "tests" / "data"


@pytest.fixture
def quickstart_text() -> str:
    """The quickstart scenario as written in the issue."""
    return (ROOT / "scenarios" / "quickstart.yaml").read_text(encoding="utf-8")


def data_file(*parts: str) -> Path:
    """A file or folder under tests/data; a missing one fails the test (the data ships with the repository)."""
    path = DATA.joinpath(*parts)
    assert path.exists(), f"{path} is missing from the repository"
    return path
