"""Fit LANL's failure records (tests/data/lanl-failures-1996-2005, system 20: 512 nodes, 3.7 years) and
compare a simulated failure process using the fit with them: failures per node-year, per-node time between
failures (Weibull shape fitted by maximum likelihood, mean from the rate), and repair times (lognormal).
Prints the fits and two-sample Kolmogorov-Smirnov distances with their 0.1 % critical values.
Usage: python benchmarks/fit_lanl.py [CSV] [SYSTEM]   (default: the system-20 extract; the other systems are in
../shared/data/lanl-failures-1996-2005/LA-UR-05-7318-failure-data-1996-2005.csv)"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.tools.lanl import compare_with_simulation, load_system  # noqa: E402


def main() -> int:
    default = ROOT / "tests" / "data" / "lanl-failures-1996-2005" / "system-20.csv"
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    system = sys.argv[2] if len(sys.argv) > 2 else "20"
    if not path.exists():
        print(f"{path} not found: pass the LANL CSV", file=sys.stderr)
        return 1
    records = load_system(path, system)
    result = compare_with_simulation(records, seed=1)
    for key, value in result.items():
        print(f"{key:<34} {value:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
