"""Shared fixtures: paths into the repository and the shared reference folder."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.yaml"))
SHARED = ROOT.parent / "shared"


@pytest.fixture
def quickstart_text() -> str:
    """The quickstart scenario as written in the issue."""
    return (ROOT / "scenarios" / "quickstart.yaml").read_text(encoding="utf-8")


def shared_file(*parts: str) -> Path:
    """A file under ../shared, or skip the test saying why."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared reference folder is not next to this checkout")
    return path
