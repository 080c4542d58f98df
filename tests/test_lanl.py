"""The failure model against LANL's records (system 20: 512 nodes over 3.7 years): a process fitted to the
records reproduces their failure rate and repair-time distribution. (Per-node times between failures are
fitted too, but a Weibull renewal per node does not reproduce their clustering; see benchmarks/fit_lanl.py.)"""

from __future__ import annotations

import math

from simulator.tools.lanl import compare_with_simulation, load_system
from tests.conftest import data_file


def test_fitted_process_reproduces_rate_and_repairs() -> None:
    records = load_system(data_file("lanl-failures-1996-2005", "system-20.csv"),
                          "20")
    result = compare_with_simulation(records, seed=1)
    expected = result["failures_per_node_year_recorded"]
    failures = records.failures
    # Poisson error of the simulated count, 4 standard deviations
    assert abs(result["failures_per_node_year_simulated"] - expected) < 4 * expected / math.sqrt(failures)
    assert result["ks_repair"] < result["ks_repair_critical"]
    assert 0.3 < result["weibull_shape_fitted"] < 1.0  # decreasing hazard, as Schroeder & Gibson report
