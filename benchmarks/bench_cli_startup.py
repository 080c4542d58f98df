"""Start-up time of the command line: wall time of `clustersim --help` (the issue's goal: under 0.3 s) and of
`python -c "import cli"`, each the best of N fresh interpreters. Prints figures; no thresholds (the test
tests/test_cli_startup.py checks instead that importing cli loads no simulator module).

Usage: python benchmarks/bench_cli_startup.py [N]   (default 10)"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def best_wall_s(command: list[str], repeats: int) -> float:
    """The least wall time of `repeats` runs of `command` in the repository root."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    cases = {
        "python (nothing imported)": [sys.executable, "-c", "pass"],
        "python -c 'import cli'": [sys.executable, "-c", "import cli"],
        "clustersim --help": [sys.executable, "-m", "cli", "--help"],
    }
    print(f"{'case':<28} {f'wall (best of {repeats})':>18}")
    for name, command in cases.items():
        print(f"{name:<28} {best_wall_s(command, repeats):>16.3f} s")


if __name__ == "__main__":
    main()
