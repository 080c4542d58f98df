"""The lifetime planner: training once plus serving for a lifetime, at a quality target (Sardana & Frankle
2023): heavy demand pulls the cheapest size below the compute-optimal one."""

from __future__ import annotations

import io
import itertools

import pytest
from click.testing import CliRunner
from rich.console import Console

from cli import main
from simulator.models.workload.scaling_laws import chinchilla_loss
from simulator.report.render_tools import lifetime_tables
from simulator.report.tools import LifetimeReport
from simulator.tools.lifetime import LifetimeRequest, candidate_sizes, plan_lifetime, tokens_for_loss
from simulator.units import format_count


def test_tokens_for_loss_inverts_the_chinchilla_loss() -> None:
    for params, tokens in [(1e9, 20e9), (70e9, 1.4e12), (7e9, 15e12)]:
        assert tokens_for_loss(params, chinchilla_loss(params, tokens)) == pytest.approx(tokens, rel=1e-9)
    assert tokens_for_loss(1e6, 2.0) == float("inf")  # a tiny model never reaches a good loss


def plan(tokens_per_day: str) -> tuple[float, float, float]:
    report = plan_lifetime(LifetimeRequest(compute="5.76e23", tokens_per_day=tokens_per_day, days=730, mfu=0.4))
    best, chin = report.rows[report.optimal_index], report.rows[report.chinchilla_index]
    for row in report.rows:  # every size reaches the same loss
        assert chinchilla_loss(row.params, row.tokens) == pytest.approx(report.target_loss_nats, rel=1e-9)
        assert row.total_usd == pytest.approx(row.training_usd + row.serving_usd)
    return best.params, chin.params, best.total_usd / chin.total_usd


def test_heavy_demand_makes_a_smaller_model_cheaper_over_its_lifetime() -> None:
    """Issue 7 acceptance: 1e11 tokens/day for 2 years at Gopher's compute budget's quality."""
    best, chinchilla, ratio = plan("1e11")
    assert best < chinchilla / 2  # 12B against 30B
    assert ratio < 0.6


def test_without_demand_the_compute_optimal_size_is_cheapest_and_demand_only_shrinks_it() -> None:
    best, chinchilla, _ = plan("1")
    assert best == pytest.approx(chinchilla, rel=0.2)  # within a grid step of the compute-optimal size
    sizes = [plan(demand)[0] for demand in ("1e9", "1e10", "1e11", "1e12")]
    assert sizes == sorted(sizes, reverse=True)


def test_cli_prints_the_table_and_rejects_bad_input() -> None:
    ok = CliRunner().invoke(main, ["plan-lifetime", "--compute", "5.76e23", "--tokens-per-day", "1e11", "--mfu", "0.4"])
    assert ok.exit_code == 0, ok.output
    assert "cheapest" in ok.output and "compute-optimal" in ok.output
    bad = CliRunner().invoke(main, ["plan-lifetime", "--compute", "-1", "--tokens-per-day", "1e11", "--mfu", "0.4"])
    assert bad.exit_code == 2 and "--compute" in bad.stderr


def test_the_summary_quotes_the_table_rows() -> None:
    """Issue 17: the summary said 32.2B on 2.98T (the continuous optimum) under a table marking 30.2B on 3.19T."""
    report = plan_lifetime(LifetimeRequest(compute="5.76e23", tokens_per_day="1e11", days=2 * 365.25, mfu=0.4))
    chin = report.rows[report.chinchilla_index]
    assert chin.params == report.chinchilla_params  # N* is a row; its tokens solve L(N*, D) = L(N*, D*)
    assert chin.tokens == pytest.approx(report.chinchilla_tokens, rel=1e-12)
    ok = CliRunner().invoke(main, ["plan-lifetime", "--compute", "5.76e23", "--tokens-per-day", "1e11", "--mfu", "0.4"])
    table, summary = ok.stdout.split("cheapest: ")
    compute_optimal = next(line for line in table.splitlines() if "compute-optimal" in line)
    cheapest = next(line for line in table.splitlines() if "cheapest" in line)
    for row, line in ((chin, compute_optimal), (report.rows[report.optimal_index], cheapest)):
        figures = (format_count(row.params), format_count(row.tokens), f"${row.total_usd / 1e6:,.2f}M")
        assert all(f" {text} " in line for text in figures), line
        assert all(text in summary for text in figures)


@pytest.mark.parametrize("optimal", [1e9, 32.2e9, 4e11])
def test_candidate_sizes_hold_the_compute_optimal_size_and_span_n_over_64_to_2n(optimal: float) -> None:
    sizes = candidate_sizes(optimal)
    assert optimal in sizes
    assert sizes[0] == pytest.approx(optimal / 64, rel=1e-12) and sizes[-1] == pytest.approx(2 * optimal, rel=1e-12)
    ratios = [b / a for a, b in itertools.pairwise(sizes)]
    assert all(r == pytest.approx(2 ** (1 / 5), rel=1e-12) for r in ratios)
    assert len(sizes) == 7 * 5 + 1


def test_an_unservable_compute_optimal_size_is_named_as_the_nearest_served() -> None:
    report = plan_lifetime(LifetimeRequest(compute="5.76e23", tokens_per_day="1e11", days=730, mfu=0.4))
    text = lifetime_summary(report.model_copy(update={"chinchilla_params": report.chinchilla_params * 1.01}))
    assert "nearest size served to the compute-optimal" in text
    assert "compute-optimal (Chinchilla approach 3)" in lifetime_summary(report)


def lifetime_summary(report: LifetimeReport) -> str:
    """The rendered plan-lifetime text."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(lifetime_tables(report))
    return console.export_text()
