"""docs/python-api.md's Python blocks run, in order, as one script from the repository root."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.conftest import ROOT

DOC = ROOT / "docs" / "python-api.md"


def python_blocks(text: str) -> list[str]:
    """The ```python fenced blocks of a Markdown page, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_page_has_an_example() -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert blocks and all("import simulator as cs" in b or "cs." in b for b in blocks)


def test_the_example_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {"__name__": "python_api_example"}
    for block in python_blocks(DOC.read_text(encoding="utf-8")):
        exec(compile(block, str(DOC), "exec"), namespace)  # the documented example, as a user would run it
    printed = capsys.readouterr().out
    assert "gpt3-1.3b:" in printed and "ETTR" in printed and "8 nodes:" in printed
    out = namespace["OUT"]
    assert (out / "chat" / "requests.csv").exists() and (out / "chat.trace.json").stat().st_size > 0  # type: ignore[operator]
    shutil.rmtree(out)  # type: ignore[arg-type]
    assert "does not fit" in printed or "must be at most" in printed
