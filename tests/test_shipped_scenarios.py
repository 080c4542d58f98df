"""Every shipped scenario validates, runs, and matches its golden files in tests/expected/ (its summary and its
whole report but `wall_s`). A test run never writes them: see tests/golden.py for the command that does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.plan.load import load_scenario
from simulator.run import simulate
from tests import golden
from tests.conftest import ROOT, SCENARIOS
from tests.golden import full, report_file, summary, summary_file


def _approx(value: object) -> object:
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-12)
    return value


def _expected(target: Path) -> object:
    assert target.exists(), f"no golden file {target}; write it with `python -m tests.golden` and review it"
    return json.loads(target.read_text(encoding="utf-8"))


def test_there_are_shipped_scenarios() -> None:
    assert len(SCENARIOS) >= 4


IDS = [str(p.relative_to(ROOT / "scenarios").with_suffix("")) for p in SCENARIOS]


@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_shipped_scenario_matches_expected(path: Path) -> None:
    report = simulate(load_scenario(path))
    assert summary(report) == _approx(_expected(summary_file(path)))
    assert full(report) == _approx(_expected(report_file(path)))


def test_a_missing_or_wrong_golden_file_fails_and_stays_as_it_was(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A test run never passes by writing the file it compares against."""
    monkeypatch.setattr(golden, "EXPECTED", tmp_path)
    path = ROOT / "scenarios" / "quickstart.yaml"
    with pytest.raises(AssertionError, match="no golden file"):
        test_shipped_scenario_matches_expected(path)
    assert not any(tmp_path.iterdir())
    target = golden.summary_file(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"simulated_s": 1.0}), encoding="utf-8")
    with pytest.raises(AssertionError):
        test_shipped_scenario_matches_expected(path)
    assert json.loads(target.read_text(encoding="utf-8")) == {"simulated_s": 1.0}


@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_shipped_scenario_says_what_it_shows(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#") or "description:" in text
    assert load_scenario(path).description
