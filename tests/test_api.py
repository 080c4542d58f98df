"""The Python API (simulator/api.py): the CLI's checks and located errors, every source kind, overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import simulator as cs
from simulator.scenario.schema import Scenario
from tests.conftest import ROOT

QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def _oversized(tmp_path: Path) -> Path:
    """Llama 3 405B laid out TP1 PP1 DP8192 on 80 GB A100s: ~2 TiB per GPU (the issue's report: it ran)."""
    text = (ROOT / "scenarios" / "published" / "llama3-405b-h100.yaml").read_text(encoding="utf-8")
    text = text.replace("accelerator: h100-sxm", "accelerator: a100-80gb-sxm")
    start = text.index("    parallelism: {tp: 8")
    end = text.index("activation_recompute: none}", start) + len("activation_recompute: none}")
    path = tmp_path / "oversized.yaml"
    path.write_text(text[:start] + "    parallelism: {tp: 1, pp: 1, dp: 8192, zero_stage: 1}" + text[end:],
                    encoding="utf-8")
    return path


def test_load_raises_what_the_cli_prints(tmp_path: Path) -> None:
    path = _oversized(tmp_path)
    cli = subprocess.run([sys.executable, str(ROOT / "cli.py"), "run", str(path)], capture_output=True, text=True,
                         check=False)
    assert cli.returncode == 2
    with pytest.raises(cs.ScenarioError) as raised:
        cs.load(path)
    assert str(raised.value) + "\n" == cli.stderr
    assert "does not fit" in str(raised.value) and "TiB per GPU" in str(raised.value)
    assert all(issue.location.startswith(f"{path}:") for issue in raised.value.issues)


def test_a_scenario_built_past_the_loader_is_still_checked(tmp_path: Path) -> None:
    data = yaml.safe_load(_oversized(tmp_path).read_text(encoding="utf-8"))
    bypassed = Scenario.model_validate(data)  # the schema alone accepts it
    with pytest.raises(cs.ScenarioError, match=r"<scenario>: workloads\.llama3-405b\.parallelism: .*does not fit"):
        cs.simulate(bypassed)
    with pytest.raises(cs.ScenarioError, match=r"^<dict>: workloads\.llama3-405b\.parallelism: .*does not fit"):
        cs.load(data)


def test_every_source_kind_gives_the_same_scenario() -> None:
    text = QUICKSTART.read_text(encoding="utf-8")
    from_file = cs.load(QUICKSTART)
    assert cs.load(str(QUICKSTART)) == from_file
    assert cs.load(text) == from_file
    assert cs.load(yaml.safe_load(text)) == from_file
    assert cs.load(from_file) is from_file
    assert cs.load(from_file.model_dump(by_alias=True, mode="json")) == from_file


def test_overrides_as_mapping_or_strings_match_set() -> None:
    by_map = cs.load(QUICKSTART, {"cluster.nodes": 8, "cluster.topology.nic_bandwidth": "100 Gbps"})
    by_text = cs.load(QUICKSTART, ["cluster.nodes=8", "cluster.topology.nic_bandwidth=100 Gbps"])
    assert by_map == by_text and by_map.cluster.gpus == 64
    assert cs.load(by_map, {"cluster.nodes": 4}).cluster.gpus == 32


def test_every_problem_is_listed_in_one_error() -> None:
    text = QUICKSTART.read_text(encoding="utf-8").replace("nodes:", "nodez:")
    with pytest.raises(cs.ScenarioError) as raised:
        cs.load(text)
    lines = str(raised.value).splitlines()
    assert len(lines) == len(raised.value.issues) >= 2
    assert any(line.startswith("<string>:") and "unknown key 'nodez'" in line for line in lines)
    with pytest.raises(cs.ScenarioError, match=r"^overrides\[.cluster.nodes.\]: cluster\.nodes: .*integer"):
        cs.load(QUICKSTART, {"cluster.nodes": "many"})
    with pytest.raises(cs.ScenarioError, match=r"^overrides:1: cluster\.nodes: .*integer"):
        cs.load(QUICKSTART, ["cluster.nodes=many"])
    with pytest.raises(cs.ScenarioError, match="cannot read the file"):
        cs.load(ROOT / "no-such-scenario.yaml")
    with pytest.raises(TypeError):
        cs.load(QUICKSTART, "cluster.nodes=8")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not int"):
        cs.load(42)  # type: ignore[arg-type]
    with pytest.raises(cs.ScenarioError, match=r"^<dict>: name: "):
        cs.load({**yaml.safe_load(QUICKSTART.read_text(encoding="utf-8")), "name": ["not", "a", "name"]})


def test_simulate_equals_the_cli_report(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    subprocess.run([sys.executable, str(ROOT / "cli.py"), "run", str(QUICKSTART), "-o", str(out)],
                   capture_output=True, check=True)
    report = cs.simulate(QUICKSTART)
    from simulator.report.model import Report

    cli = Report.model_validate_json(out.read_text(encoding="utf-8"))
    assert report.model_dump(exclude={"wall_s"}) == cli.model_dump(exclude={"wall_s"})
    assert cs.simulate(QUICKSTART, seed=report.seed + 1).seed == report.seed + 1


def test_replicates_and_compare() -> None:
    many = cs.replicates(QUICKSTART, 2, {"workloads.pretrain.tokens": "1B"})
    assert many.replicates == 2 and len(many.seeds) == 2
    comparison = cs.compare({"4 nodes": QUICKSTART, "8 nodes": cs.load(QUICKSTART, {"cluster.nodes": 8})},
                            {"workloads.0.tokens": "1B"})
    assert [run.label for run in comparison.runs] == ["4 nodes", "8 nodes"]
    assert all(v == 1.0 for v in comparison.runs[0].ratios.values())
    assert [run.label for run in cs.compare([QUICKSTART]).runs] == ["quickstart"]
    against_8 = cs.compare({"4 nodes": QUICKSTART, "8 nodes": cs.load(QUICKSTART, {"cluster.nodes": 8})},
                           {"workloads.0.tokens": "1B"}, baseline="8 nodes")
    assert against_8.baseline == "8 nodes" and all(v == 1.0 for v in against_8.runs[1].ratios.values())
    with pytest.raises(ValueError, match="no run named 'x'"):
        cs.compare([QUICKSTART], baseline="x")
    with pytest.raises(ValueError):
        cs.replicates(QUICKSTART, 0)
    with pytest.raises(ValueError):
        cs.compare([])


def test_importing_the_package_imports_no_simulation() -> None:
    code = "import simulator, sys; print(any(m.startswith(('simpy', 'simulator.api')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
    with pytest.raises(AttributeError):
        _ = cs.no_such_function  # type: ignore[attr-defined]


def test_sweep_takes_python_values(tmp_path: Path) -> None:
    result = cs.sweep(QUICKSTART, {"cluster.topology.nic_bandwidth": ["100 Gbps", "400 Gbps"]},
                      {"workloads.pretrain.tokens": "1B"}, figures=["simulated_s", "workloads.pretrain.mfu"],
                      output=tmp_path / "s.csv")
    records = result.records()
    assert [r["cluster.topology.nic_bandwidth"] for r in records] == ["100 Gbps", "400 Gbps"]
    assert records[0]["cluster.topology.nic_bandwidth_si"] == pytest.approx(100e9 / 8)
    assert all(r["simulated_s.mean"] > 0 for r in records)
    assert (tmp_path / "s.csv").exists()
    with pytest.raises(cs.ScenarioError, match=r"^--grid:1: cluster\.nodes: "):
        cs.sweep(QUICKSTART, {"cluster.nodes": ["many"]})
    with pytest.raises(TypeError, match="file's path"):
        cs.sweep(cs.load(QUICKSTART), {"cluster.nodes": [4]})


def test_value_text_reads_back_as_one_value() -> None:
    from simulator.scenario.overrides import read_value, split_values, value_text

    for value in (8, 1.5, True, None, "400 Gbps", "a,b", 'x"y,z', "it's", {"tp": 2, "dp": 16}, [1, 2], ""):
        text = value_text(value)
        assert split_values(text) == [text] and read_value(text) == value
    assert value_text({"tp": 2, "dp": 16}) == "{tp: 2, dp: 16}"  # the order given


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=20)
KEYS = st.sampled_from(["name", "cluster", "pricing", "workloads", "seed", "nodes", "accelerator", "kind", "model"])


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS | st.text(max_size=6), JSON, max_size=6), st.dictionaries(
    st.sampled_from(["cluster.nodes", "seed", "workloads.0.tokens", "a..b", "name"]), JSON, max_size=2))
def test_any_mapping_loads_or_raises_one_scenario_error(data: dict[str, object],
                                                        overrides: dict[str, object]) -> None:
    try:
        scenario = cs.load(data, overrides)
    except cs.ScenarioError as err:
        assert err.issues and all(str(issue) for issue in err.issues)
    else:
        assert isinstance(scenario, Scenario)
