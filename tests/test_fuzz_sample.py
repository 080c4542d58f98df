"""A bounded sample of the hostile-input fuzz benchmark (benchmarks/bench_fuzz.py, issue 15): every class of
hostile file, and mutations of the shipped scenarios, end in exit 0 or a located exit 2, never a traceback, each
within 5 s."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.fuzz_inputs import CLASSES, hostile_files
from cli import main
from tests.conftest import ROOT

SAMPLE = 150


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fuzz")
    inner = base / "scenarios"
    inner.mkdir()
    for link in (inner / "traces", base / "traces"):
        link.symlink_to(ROOT / "scenarios" / "traces")
    return inner


def test_a_sample_of_hostile_files_never_crashes(folder: Path) -> None:
    seen: Counter[str] = Counter()
    for kind, name, content in hostile_files(SAMPLE, seed=15):
        path = folder / f"{name}.yaml"
        path.write_bytes(content)
        started = time.perf_counter()
        result = CliRunner().invoke(main, ["validate", str(path)])
        elapsed = time.perf_counter() - started
        assert result.exception is None or isinstance(result.exception, SystemExit), (name, result.exception)
        assert result.exit_code in (0, 2), (name, result.output)
        if result.exit_code == 2:  # every refusal is located: FILE:LINE: field: message, one per line
            for line in result.stderr.splitlines():
                assert line.startswith(f"{path}:"), (name, line)
        assert elapsed < 5.0, (name, elapsed)
        seen[kind] += 1
    assert set(seen) == set(CLASSES)  # every class is in the sample
