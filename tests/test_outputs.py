"""Output files (issue 15): checked before any work, never an input, written atomically; a write that still
fails prints the report instead (simulator/report/files.py, cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import simulator.experiments.compare
import simulator.run
from cli import main
from simulator.report.files import OutputError, check_outputs, write_atomic
from simulator.report.progress import progress_bar, progress_lines
from tests.conftest import ROOT

QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
SERVE = str(ROOT / "scenarios" / "serve-llama70b-azure-conv.yaml")
TRACE = str(ROOT / "scenarios" / "traces" / "azure_llm_2023_conv.csv")


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the simulation ran before its outputs were checked")

    # cli imports them when a command runs; both modules are imported above, before any patch, so that
    # compare.py's own `simulate` is the real one once the patches are undone
    monkeypatch.setattr(simulator.run, "simulate", refuse)
    monkeypatch.setattr(simulator.experiments.compare, "compare", refuse)


@pytest.mark.usefixtures("no_simulation")
@pytest.mark.parametrize(("args", "words"), [
    (["run", QUICKSTART, "-o", "{tmp}/missing/r.json"], "does not exist"),
    (["run", QUICKSTART, "-o", QUICKSTART], "is an input of this run"),
    (["run", SERVE, "-o", TRACE], "is an input of this run"),
    (["run", QUICKSTART, "-o", "{tmp}/r.json", "--html", "{tmp}/r.json"], "is also the -o file"),
    (["run", QUICKSTART, "--html", "{tmp}"], "is a directory"),  # click refuses it
    (["compare", QUICKSTART, "--html", "{tmp}/missing/c.html"], "does not exist"),
    (["compare", QUICKSTART, SERVE, "--html", SERVE], "is an input of this run"),
    (["plan", "--params", "7B", "-o", "{tmp}/missing/s.yaml"], "does not exist"),
])
def test_a_bad_output_path_exits_2_before_any_work(tmp_path: Path, args: list[str], words: str) -> None:
    before = {p: Path(p).read_bytes() for p in (QUICKSTART, SERVE, TRACE)}
    result = CliRunner().invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2 and words in result.stderr, result.output
    assert {p: Path(p).read_bytes() for p in before} == before  # no input touched


def test_a_write_that_fails_after_the_work_prints_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: str | Path, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("simulator.report.files.write_atomic", broken)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["run", QUICKSTART, "-o", str(out)])
    assert result.exit_code == 1
    assert "could not be written (" in result.stderr and "No space left" in result.stderr
    assert '"scenario": "quickstart"' in result.stdout  # the report itself, not lost
    assert not out.exists()


def test_an_atomic_write_leaves_the_old_file_or_the_new_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.json"
    target.write_text("old", encoding="utf-8")
    write_atomic(target, "new")
    assert target.read_text(encoding="utf-8") == "new" and [p.name for p in tmp_path.iterdir()] == ["r.json"]

    def killed(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # the run is killed between writing and renaming

    monkeypatch.setattr("os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "newer")
    assert target.read_text(encoding="utf-8") == "new" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_outputs_resolve_links_and_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\n", encoding="utf-8")
    (tmp_path / "link.yaml").symlink_to(scenario)
    with pytest.raises(OutputError, match="is an input"):
        check_outputs({"-o": "link.yaml"}, [str(scenario)])
    with pytest.raises(OutputError, match="is an input"):
        check_outputs({"-o": "./s.yaml"}, ["s.yaml"])
    with pytest.raises(OutputError, match="is a folder"):
        check_outputs({"-o": str(tmp_path)}, [])
    check_outputs({"-o": "report.json", "--html": "report.html"}, ["s.yaml"])  # a fresh file in this folder


def test_replicates_report_progress_in_lines_unless_quiet(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", QUICKSTART, "--replicates", "3", "--workers", "1"])
    assert result.exit_code == 0
    assert "3 replicates: 0/3" in result.stderr and "3 replicates: 3/3 (100%)" in result.stderr
    quiet = CliRunner().invoke(main, ["run", QUICKSTART, "--replicates", "3", "--workers", "1", "--quiet"])
    assert quiet.exit_code == 0 and "replicates:" not in quiet.stderr


def test_progress_lines_are_periodic() -> None:
    now = [0.0]
    lines: list[str] = []
    advance = progress_lines("work", 100, lines.append, clock=lambda: now[0])
    for _ in range(99):
        now[0] += 1.0
        advance(1)
    assert lines[0] == "work: 0/100" and len(lines) == 1 + 9  # one every 10 s
    advance(1)
    assert lines[-1] == "work: 100/100 (100%), 99 s"


def test_progress_bar_writes_plain_lines_off_a_terminal_and_nothing_when_quiet(
        capsys: pytest.CaptureFixture[str]) -> None:
    """simulator/report/progress.py's progress_bar, moved out of cli.py: stderr is captured here (not a
    terminal), so it writes progress_lines' first and last line; `quiet` writes nothing at all."""
    with progress_bar() as task:
        advance = task("work", 3)
        advance(1)
        advance(2)
    assert capsys.readouterr() == ("", "work: 0/3\nwork: 3/3 (100%), 0 s\n")
    with progress_bar(quiet=True) as task:
        task("work", 3)(3)
    assert capsys.readouterr() == ("", "")
