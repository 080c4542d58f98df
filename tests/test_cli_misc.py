"""The CLI's listing commands, the JSON Schema for editors, and generated docs kept in step."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cli import main
from simulator import catalog
from simulator.tools.fielddocs import documents


def test_catalog_tables_and_json_list_every_entry() -> None:
    for kind, table in (("accelerators", catalog.accelerators()), ("models", catalog.models())):
        result = CliRunner().invoke(main, ["catalog", kind, "--json"])
        assert result.exit_code == 0
        assert [row["name"] for row in json.loads(result.output)] == list(table)
        text = CliRunner().invoke(main, ["catalog", kind]).output
        assert "built-in" in text


def test_schema_is_json_schema_with_aliases() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "Scenario"
    assert {"cluster", "pricing", "workloads", "horizon"} <= schema["properties"].keys()
    topology = json.dumps(schema["$defs"]["FatTreeTopology"])
    assert "nic_bandwidth" in topology and "oversubscription" in topology


def test_validate_accepts_good_files() -> None:
    result = CliRunner().invoke(main, ["validate", "scenarios/quickstart.yaml"])
    assert result.exit_code == 0
    assert "ok" in result.output


def test_generated_docs_are_up_to_date() -> None:
    for path, text in documents().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run python -m simulator.tools.fielddocs"
