"""The mixed-fleet scenarios say what they show: the figures in the comments of scenarios/fleets/*.yaml are what
`python -m benchmarks.fleet_mix` prints, to the digits quoted."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import fleet_mix


@pytest.fixture(scope="module")
def training() -> dict[str, dict[str, float]]:
    return fleet_mix.figures()


@pytest.fixture(scope="module")
def serving() -> dict[str, dict[str, float]]:
    return fleet_mix.serving_figures()


def _quoted(path: Path) -> str:
    """The file's comments as one line, spaces collapsed."""
    comments = [line.lstrip("#") for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    return " ".join(" ".join(comments).split())


@pytest.mark.parametrize(("case", "step_s", "days", "job_usd"), [
    ("H100 pool alone (DP 16)", "24.43", "4.49", "$340,150"),
    ("both pools, balanced", "21.15", "3.89", "$359,087"),
    ("both pools, even", "43.81", "8.06", "$743,848"),
])
def test_the_training_mix_quotes_its_runs(training: dict[str, dict[str, float]], case: str, step_s: str, days: str,
                                          job_usd: str) -> None:
    row = training[case]
    assert (f"{row['step_s']:.2f}", f"{row['days']:.2f}", f"${row['job_usd']:,.0f}") == (step_s, days, job_usd)
    assert f"{step_s} s per step, {days} days, job {job_usd}" in _quoted(fleet_mix.SCENARIO)


def test_the_training_mix_quotes_its_ratios(training: dict[str, dict[str, float]]) -> None:
    alone, balanced = training["H100 pool alone (DP 16)"], training["both pools, balanced"]
    sooner = (1 - balanced["days"] / alone["days"]) * 100
    more = (balanced["job_usd"] / alone["job_usd"] - 1) * 100
    slower = training["both pools, even"]["step_s"] / alone["step_s"]
    assert f"-> {sooner:.0f} % sooner for {more:.0f} % more" in _quoted(fleet_mix.SCENARIO)
    assert f"-> {slower:.2f}x slower than the H100s alone" in _quoted(fleet_mix.SCENARIO)


def test_the_balanced_split_is_near_the_pools_added_rates(training: dict[str, dict[str, float]]) -> None:
    alone = [training["H100 pool alone (DP 16)"]["step_s"], training["A100 pool alone (DP 8)"]["step_s"]]
    ideal = 1 / sum(1 / s for s in alone)
    balanced = training["both pools, balanced"]["step_s"]
    assert f"ideal (the two pools' rates added: {ideal:.2f} s)" in _quoted(fleet_mix.SCENARIO)
    assert ideal <= balanced <= 1.05 * ideal
    assert f"The balanced step is {(balanced / ideal - 1) * 100:.1f} % above the ideal" in _quoted(fleet_mix.SCENARIO)
    assert f"{training['H100 pool alone (DP 16)']['cluster_usd']:,.0f}" in _quoted(fleet_mix.SCENARIO)


@pytest.mark.parametrize(("case", "tpot_ms", "usd", "kwh"), [
    ("H100 prefill + MI300X decode", "23.30", "$75.53", "26.6"),
    ("H100 prefill + H100 decode", "26.43", "$93.35", "25.9"),
])
def test_the_serving_split_quotes_its_runs(serving: dict[str, dict[str, float]], case: str, tpot_ms: str, usd: str,
                                           kwh: str) -> None:
    row = serving[case]
    assert (f"{row['tpot_p50_s'] * 1e3:.2f}", f"${row['usd']:.2f}", f"{row['kwh']:.1f}") == (tpot_ms, usd, kwh)
    assert f"{case} TPOT p50 {tpot_ms} ms, TTFT p50 80.8 ms, cost {usd}, {kwh} kWh" in _quoted(fleet_mix.SERVING)
    assert row["slo"] > 0.999


def test_decode_on_the_faster_memory_is_faster_but_by_less_than_the_bandwidth_ratio(
        serving: dict[str, dict[str, float]]) -> None:
    mi300x, h100 = serving["H100 prefill + MI300X decode"], serving["H100 prefill + H100 decode"]
    assert 1.0 < h100["tpot_p50_s"] / mi300x["tpot_p50_s"] < 5.3 / 3.35
    assert mi300x["ttft_p50_s"] == pytest.approx(h100["ttft_p50_s"])


@pytest.fixture(scope="module")
def domains() -> dict[str, dict[str, float]]:
    return fleet_mix.domain_figures()


@pytest.mark.parametrize(("case", "tpot_ms", "ttft_ms", "slo", "usd"), [
    ("TP16 in the NVL72 rack", "22.7", "107", "100.0", "$94.32"),
    ("TP16 on the rack's 4-GPU trays", "69.8", "291", "1.4", "$95.30"),
    ("TP16 over two HGX H100 nodes", "78.0", "319", "1.1", "$55.80"),
])
def test_the_nvl72_scenario_quotes_its_runs(domains: dict[str, dict[str, float]], case: str, tpot_ms: str,
                                            ttft_ms: str, slo: str, usd: str) -> None:
    row = domains[case]
    measured = (f"{row['tpot_p50_s'] * 1e3:.1f}", f"{row['ttft_p50_s'] * 1e3:.0f}", f"{row['slo'] * 100:.1f}",
                f"${row['usd']:.2f}")
    assert measured == (tpot_ms, ttft_ms, slo, usd)
    quoted = f"{case} TPOT p50 {tpot_ms} ms, TTFT p50 {ttft_ms} ms, SLO met {slo} %, cost {usd}"
    assert quoted.replace(", cost", ",") in _quoted(fleet_mix.DOMAINS)


def test_the_rack_s_domain_not_its_chip_makes_tp16_work(domains: dict[str, dict[str, float]]) -> None:
    rack, trays = domains["TP16 in the NVL72 rack"], domains["TP16 on the rack's 4-GPU trays"]
    hgx = domains["TP16 over two HGX H100 nodes"]
    assert rack["tpot_p50_s"] < 0.5 * trays["tpot_p50_s"] < 0.5 * hgx["tpot_p50_s"]
    below = (1 - trays["tpot_p50_s"] / hgx["tpot_p50_s"]) * 100
    assert f"without it the same GB200s' TPOT is only {below:.1f} % below the H100s'" in _quoted(fleet_mix.DOMAINS)
