"""Bad scenarios: every one exits 2 with `FILE:LINE: field.path: message` lines and never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from tests.conftest import ROOT

LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<field>[\w.\[\]()-]+): (?P<message>.+)$")

# (name, edit of the quickstart text, expected line, expected field, words the message must contain)
CASES = [
    ("unknown-key", ("  nodes: 4\n", "  nodes: 4\n  nodez: 3\n"), 7, "cluster.nodez", ["unknown key", "allowed keys"]),
    ("bad-unit", ("200 Gbps", "200 parsecs"), 10, "cluster.topology.nic_bandwidth", ["unknown unit", "Gbps"]),
    ("negative-count", ("nodes: 4", "nodes: -1"), 6, "cluster.nodes", ["greater than 0"]),
    ("zero-tokens", ("tokens: 26B", "tokens: 0"), 20, "workloads.pretrain.tokens", ["greater than 0"]),
    ("layout-vs-gpus", ("dp: 32", "dp: 64"), 23, "workloads.pretrain.parallelism", ["64 GPUs", "32"]),
    ("unknown-accelerator", ("a100-80gb-sxm", "a100-80gb"), 5, "cluster.accelerator",
     ["did you mean", "a100-80gb-sxm"]),
    ("unknown-model", ("gpt3-1.3b", "gpt3-13"), 19, "workloads.pretrain.model", ["did you mean", "gpt3-13b"]),
    ("does-not-fit", ("gpt3-1.3b", "gpt3-175b"), 23, "workloads.pretrain.parallelism", ["does not fit", "over by"]),
    ("absurd-size", ("nodes: 4", "nodes: 400000000000"), 6, "cluster.nodes", ["less than or equal"]),
    ("unknown-kind", ("kind: training", "kind: trainin"), 18, "workloads.pretrain.kind", ["training"]),
    ("duplicate-key", ("seq_len: 2048\n", "seq_len: 2048\n    seq_len: 4096\n"), 22, "workloads[0].seq_len",
     ["duplicate"]),
    ("not-yaml", ("nodes: 4", "nodes: [4"), 7, "(document)", ["not valid YAML"]),
    ("fp8-on-a100", ("precision: bf16", "precision: fp8"), 24, "workloads.pretrain.precision", ["fp8"]),
    ("cap-above-tdp", ("  nodes: 4\n", "  nodes: 4\n  power_cap: 500 W\n"), 7, "cluster.power_cap",
     ["exceeds", "400 W"]),
    ("cap-below-static", ("  nodes: 4\n", "  nodes: 4\n  power_cap: 60 W\n"), 7, "cluster.power_cap",
     ["static power", "80 W"]),
    ("cap-below-settable", ("a100-80gb-sxm\n  nodes: 4\n", "h100-sxm\n  nodes: 4\n  power_cap: 150 W\n"), 7,
     "cluster.power_cap", ["below", "lowest settable limit 200 W"]),
    ("tp-vs-heads", ("{tp: 1, pp: 1, dp: 32}", "{tp: 3, pp: 1, dp: 8}"), 23, "workloads.pretrain.parallelism.tp",
     ["divide", "16"]),
]


@pytest.mark.parametrize(("name", "edit", "line", "field", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_scenario_gives_located_one_line_error(
    tmp_path: Path, quickstart_text: str, name: str, edit: tuple[str, str], line: int, field: str, words: list[str]
) -> None:
    old, new = edit
    assert old in quickstart_text
    path = tmp_path / f"{name}.yaml"
    path.write_text(quickstart_text.replace(old, new, 1), encoding="utf-8")
    for command in (["validate", str(path)], ["run", str(path)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        match = LINE.match(lines[0])
        assert match, lines[0]
        assert match["file"] == str(path)
        assert int(match["line"]) == line
        assert match["field"] == field
        for word in words:
            assert word in match["message"], (word, match["message"])


def test_several_problems_are_all_reported(tmp_path: Path, quickstart_text: str) -> None:
    text = quickstart_text.replace("nodes: 4", "nodes: 0").replace("pue: 1.2", "pue: 0.5")
    path = tmp_path / "two.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    fields = {LINE.match(x)["field"] for x in result.stderr.strip().splitlines()}  # type: ignore[index]
    assert fields == {"cluster.nodes", "pricing.pue"}


@pytest.mark.parametrize(
    ("override", "field", "words"),
    [
        ("workloads.pretrain.parallelism.tp=3", "workloads.pretrain.parallelism", ["96 GPUs"]),
        ("workloads.nosuch.tokens=1B", "workloads.nosuch", ["no item named", "pretrain"]),
        ("cluster.topology.kind=hypercube", "cluster.topology.kind", ["fat_tree", "dragonfly"]),
        ("cluster.nodes", "(document)", ["FIELD.PATH=VALUE"]),
    ],
)
def test_bad_override_points_at_the_override(override: str, field: str, words: list[str]) -> None:
    result = CliRunner().invoke(main, ["run", "scenarios/quickstart.yaml", "--set", override])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith("--set:1: ")
    assert f": {field}: " in line
    for word in words:
        assert word in line


def test_missing_file_is_a_located_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert "cannot read the file" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        (["workloads.pretrain.global_batch_size=512"], "workloads.pretrain", ["not both"]),
        (["workloads.pretrain.seq_len=4096"], "workloads.pretrain.seq_len", ["2048", "max_seq_len"]),
        (["cluster.accelerator=tpu-v5e", "cluster.topology.nic_bandwidth=100 Gbps"], "cluster.accelerator",
         ["tdp", "base: tpu-v5e"]),
        (["cluster.accelerator=mi325x"], "cluster.topology.scale_up_bandwidth", ["scale-up bandwidth"]),
        (["workloads.pretrain.parallelism.ep=2"], "workloads.pretrain.parallelism.ep", ["mixture-of-experts"]),
        (["workloads.pretrain.model=mixtral-8x7b", "workloads.pretrain.parallelism={tp: 1, dp: 32, ep: 3}",
          "workloads.pretrain.global_batch_tokens=4M"], "workloads.pretrain.parallelism.ep", ["divide"]),
        (["cluster.topology={kind: torus, dims: [4, 4, 4]}"], "cluster.topology.dims", ["64 chips", "32"]),
        (["cluster.nodes=64", "workloads.pretrain.parallelism.dp=512", "cluster.topology.radix=16"],
         "cluster.topology.tiers", ["tiers: 3"]),
        (["cluster.nodes=4096", "cluster.topology={kind: fat_tree, tiers: 3, radix: 16}"], "cluster.topology.radix",
         ["pods"]),
        (["cluster.nodes=16", "cluster.topology={kind: ocs_torus, slice: [4, 4, 6]}"], "cluster.topology.slice",
         ["whole", "cubes"]),
        (["cluster.topology={kind: dragonfly, groups: 4, routers_per_group: 2, global_links_per_router: 1}"],
         "cluster.topology.global_links_per_router", ["global link"]),
        (["cluster.accelerator=gb200", "cluster.topology={kind: fat_tree}"], "cluster.topology.nic_bandwidth",
         ["NIC bandwidth"]),
        (["workloads.pretrain.parallelism={tp: 1, pp: 4, dp: 8, virtual_stages: 7}"],
         "workloads.pretrain.parallelism.virtual_stages", ["a layer per chunk", "6 layers", "7 chunks"]),
        (["workloads.pretrain.parallelism={tp: 1, pp: 4, dp: 8, first_stage_layers: 12, last_stage_layers: 11}"],
         "workloads.pretrain.parallelism.first_stage_layers", ["leaves 1 of", "24 layers", "2 stages"]),
        (["workloads.pretrain.parallelism={tp: 1, pp: 4, dp: 8, schedule: dualpipe, first_stage_layers: 30}"],
         "workloads.pretrain.parallelism.first_stage_layers", ["leaves -6"]),
    ],
)
def test_cross_field_problems(overrides: list[str], field: str, words: list[str]) -> None:
    args = ["validate", "scenarios/quickstart.yaml"]
    for override in overrides:
        args += ["--set", override]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert any(f": {field}: " in line and all(w in line for w in words) for line in lines), lines


def test_interleaving_need_not_divide_the_layers_evenly() -> None:
    """Llama 3 ran 126 layers on 16 interleaved stages (the first and last a layer short): 24 layers in 4 x 5
    chunks is a valid layout, paced by its fullest stage."""
    result = CliRunner().invoke(main, ["validate", "scenarios/quickstart.yaml", "--set",
                                       "workloads.pretrain.parallelism={tp: 1, pp: 4, dp: 8, virtual_stages: 5}"])
    assert result.exit_code == 0, result.output


def test_unknown_keys_list_what_the_item_of_that_kind_allows() -> None:
    """A list of unions (workloads of several kinds) resolves each item by its own kind: an inference workload's
    unknown key lists the inference keys, and a key under its trace arrivals the trace's (it listed a training
    workload's keys, and nothing under arrivals)."""
    serve = str(ROOT / "scenarios" / "serve-llama70b-azure-conv.yaml")
    result = CliRunner().invoke(main, ["validate", serve, "--set", "workloads.chat.foo=1",
                                       "--set", "workloads.chat.arrivals.duration=5 min"])
    assert result.exit_code == 2
    chat, = (line for line in result.stderr.splitlines() if line.startswith("--set:1:"))
    arrivals, = (line for line in result.stderr.splitlines() if line.startswith("--set:2:"))
    assert "allowed keys: name, kind, model, replicas," in chat and "parallelism" not in chat
    assert arrivals.endswith("unknown key 'duration'; allowed keys: kind, path, time_column, input_column, "
                             "output_column, time_scale, requests")
