"""`clustersim --help` stays quick: importing cli loads click and nothing of the simulator or its heavy
dependencies (each command imports what it needs when it runs). The wall time is benchmarks/bench_cli_startup.py's."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from cli import main
from tests.conftest import ROOT

HEAVY = ("simulator", "simpy", "numpy", "pydantic", "yaml", "rich", "scipy")


def _modules_after(*args: str) -> list[str]:
    """Top-level packages of the modules a fresh interpreter holds after importing cli and, given `args`, running
    `clustersim ARGS`."""
    run = f"\ntry:\n    cli.main({list(args)!r})\nexcept SystemExit:\n    pass" if args else ""
    probe = f"import cli{run}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return list(json.loads(out.splitlines()[-1]))


def test_importing_cli_loads_no_simulator_module() -> None:
    loaded = _modules_after()
    assert "click" in loaded
    assert not set(HEAVY) & set(loaded)


def test_help_loads_no_simulator_module_and_the_probe_sees_them_when_they_are_loaded() -> None:
    assert not set(HEAVY) & set(_modules_after("--help"))
    assert not set(HEAVY) & set(_modules_after("run", "--help"))
    assert {"simulator", "numpy", "pydantic"} <= set(_modules_after("schema"))


def test_every_command_still_runs_with_its_imports_inside() -> None:
    """A command whose lazy import were missing would fail only when run: run the quick ones."""
    runner = CliRunner()
    for args in (["catalog", "models", "--json"], ["schema"], ["validate", "scenarios/quickstart.yaml"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, (args, result.output)


def test_plan_prices_networks_without_importing_networkx() -> None:
    """Pricing needs only the channels and the router; networkx (~0.1 s) loads where a graph is built."""
    assert "networkx" not in _modules_after("plan", "--params", "70B")
    assert "networkx" in _modules_after("topology", "scenarios/quickstart.yaml")
