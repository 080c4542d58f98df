"""Terminal tables at 80 columns (simulator/report/terminal.py): the compare and replicates tables of the issue's
commands keep every label and value whole (no '…') within 80 characters; prefixes are printed once; value
columns that do not fit go to a further table; `--vary` fields are named by their last part."""

from __future__ import annotations

from rich.console import Console, RenderableType
from rich.table import Table

from simulator.catalog.listing import accelerator_rows, model_rows
from simulator.experiments.compare import compare
from simulator.experiments.montecarlo import run_replicates
from simulator.plan.load import load_scenario
from simulator.report.render import comparison_table, replicates_table, rows_table
from simulator.report.terminal import FittedTable, broken, fitted, sectioned, short_fields
from simulator.scenario.overrides import parse_axes, variants
from tests.conftest import ROOT

TOPOLOGIES = sorted((ROOT / "scenarios" / "compare-topologies").glob("*.yaml"))


def printed(renderable: RenderableType, width: int = 80) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w", encoding="utf-8"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def assert_fits(text: str, width: int = 80) -> None:
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width


def test_comparing_the_topologies_fits_80_columns_with_labels_whole() -> None:
    runs = [(path.stem, load_scenario(path)) for path in TOPOLOGIES]
    text = printed(comparison_table(compare(runs)))
    assert_fits(text)
    assert text.count("workloads.mixtral") == 2  # its figures and its step parts: each prefix printed once
    for label in ("  step_time_s", "  tp_comm_s", "cluster", "  utilization"):
        assert f"│ {label} " in text
    for stem in ("ocs-torus", "rail-fat-tree", "torus-3d"):
        assert stem in text
    assert "oversubscribed-" in text and "fat-tree" in text


def test_a_vary_comparison_names_fields_by_their_last_part_and_captions_the_paths() -> None:
    axes = parse_axes("--vary", ("cluster.topology.nic_bandwidth=100 Gbps,400 Gbps", "cluster.nodes=4,8"))
    runs = [(v.label, load_scenario(ROOT / "scenarios" / "quickstart.yaml", (), v.overrides)) for v in variants(axes)]
    text = printed(comparison_table(compare(runs)))
    assert_fits(text)
    assert "fields: cluster.topology.nic_bandwidth, cluster.nodes" in text
    assert "nodes=8" in text and "cluster.nodes=8" not in text


def test_replicates_table_fits_80_columns_and_splits_columns_it_cannot_hold() -> None:
    many = run_replicates(load_scenario(ROOT / "scenarios" / "llama3-405b-failures.yaml"), 2, 1)
    narrow, wide = printed(replicates_table(many)), printed(replicates_table(many), 200)
    assert_fits(narrow)
    joined = "".join(narrow.split())  # titles wrap
    assert "(1of2)" in joined and "(2of2)" in joined and "(1 of" not in wide
    assert "workloads.llama3-405b" in wide and "  lost_gpu_hours" in wide


def test_catalog_listings_fit_and_name_their_units() -> None:
    for rows in (accelerator_rows(), model_rows()):
        text = printed(rows_table("built-in", rows))
        assert_fits(text)
        assert all(row["name"] in text for row in rows)
    a100 = next(row for row in accelerator_rows() if row["name"] == "a100-80gb-sxm")
    assert a100["hbm_gib"] == 80.0  # 81920 MiB as the driver reports it, in GiB like every row
    assert "params_billions" in model_rows()[0]


def test_sectioned_groups_keys_by_prefix_in_order_of_first_appearance() -> None:
    keys = ["simulated_s", "cluster.cost_usd", "workloads.a.mfu", "cluster.link.ici", "cluster.energy_kwh"]
    assert sectioned(keys) == [
        ("simulated_s", "simulated_s"),
        ("cluster", None), ("  cost_usd", "cluster.cost_usd"), ("  energy_kwh", "cluster.energy_kwh"),
        ("workloads.a", None), ("  mfu", "workloads.a.mfu"),
        ("cluster.link", None), ("  ici", "cluster.link.ici"),
    ]


def test_short_fields_only_where_last_parts_are_unambiguous() -> None:
    assert short_fields(["a.b.x=1 c.y=2", "a.b.x=3 c.y=4"]) == (["x=1 y=2", "x=3 y=4"], "fields: a.b.x, c.y")
    assert short_fields(["a.x=1 b.x=2"]) == (["a.x=1 b.x=2"], "")
    assert short_fields(["ocs-torus", "torus-3d"]) == (["ocs-torus", "torus-3d"], "")


def test_broken_splits_long_words_after_punctuation_only() -> None:
    assert broken("oversubscribed-fat-tree", 15) == "oversubscribed-\nfat-tree"
    assert broken("short words stay", 5) == "short words stay"
    assert broken("cluster.link_utilization", 19) == "cluster.link_\nutilization"


def test_a_table_too_wide_for_any_layout_still_never_cuts_a_cell() -> None:
    table = FittedTable("t", "name", [f"column {i}" for i in range(12)],
                        [("row", [f"value-{i}-{'x' * 30}" for i in range(12)])])
    text = printed(table, 60)
    assert_fits(text, 60)
    assert text.count("name") == 12  # one value column per table: each too wide to share
    assert "".join(text.split()).count("x" * 30) == 12  # folded, nothing lost


def test_fitted_keeps_a_rich_tables_cells_and_justification() -> None:
    table = Table(title="t")
    for column in ("case", "error", "note"):
        table.add_column(column, justify="left" if column != "error" else "right")
    table.add_row("a", "+1.0%", "fine")
    wrapped = fitted(table)
    assert (wrapped.title, wrapped.label_header, wrapped.headers) == ("t", "case", ["error", "note"])
    assert wrapped.rows == [("a", ["+1.0%", "fine"])] and wrapped.left == {1}
