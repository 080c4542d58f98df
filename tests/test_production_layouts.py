"""Every production layout listed in docs/training-model.md ("Production layouts that must fit") fits the memory
model with the settings the run used: the published cases of simulator/catalog/published_training.yaml and the
shipped scenarios that reproduce a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulator.models.workload.memory import training_memory
from simulator.plan.load import load_scenario
from simulator.plan.training import training_plan
from simulator.scenario.schema import TrainingWorkload
from simulator.tools.reproduce import PUBLISHED, RESERVE_BYTES, reproduce_run

ROOT = Path(__file__).resolve().parents[1]
CASES = yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))
# the docs table's rows, each with the cases or scenarios that hold it
DOCUMENTED = {
    "Llama 3 405B, 8K sequences": ["llama3-405b-8k", "scenarios/published/llama3-405b-h100.yaml"],
    "Llama 3 405B, 16K GPUs": ["llama3-405b-16k-gpus", "scenarios/llama3-405b-failures.yaml"],
    "Llama 3 405B, 128K sequences": ["llama3-405b-cp16"],
    "DeepSeek-V3": ["scenarios/published/deepseek-v3-h800.yaml"],
    "Megatron-LM GPT 1.7B-529.6B": ["megatron-1.7b", "megatron-7.5b", "megatron-39.1b", "megatron-145.6b",
                                    "megatron-529.6b"],
    "GPT 22B, 175B, 530B, 1T": ["korthikanti-22b", "korthikanti-175b", "korthikanti-530b", "korthikanti-1t"],
    "GPT-3 175B": ["scenarios/published/gpt3-175b-a100.yaml"],
}
CASE_IDS = [item for items in DOCUMENTED.values() for item in items if not item.endswith(".yaml")]
SCENARIOS = [item for items in DOCUMENTED.values() for item in items if item.endswith(".yaml")]


def test_the_docs_list_exactly_these_runs() -> None:
    text = (ROOT / "docs" / "training-model.md").read_text(encoding="utf-8")
    section = text.split("### Production layouts that must fit")[1].split("\n## ")[0]
    rows = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")][1:]
    assert rows == list(DOCUMENTED)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_published_layout_fits(case_id: str) -> None:
    case = next(c for c in CASES["cases"] if c["id"] == case_id)
    run = reproduce_run(case, CASES["sources"])
    assert run.fits, f"{case_id}: {run.memory_per_gpu_bytes / 2**30:.1f} GiB"
    assert run.predicted_tflops_per_gpu is not None


@pytest.mark.parametrize("path", SCENARIOS)
def test_shipped_production_scenario_fits(path: str) -> None:
    scenario = load_scenario(ROOT / path)  # its checks refuse a layout that does not fit
    (workload,) = [w for w in scenario.workloads if isinstance(w, TrainingWorkload)]
    memory = training_memory(training_plan(workload, scenario.cluster).step, workload.memory_reserve_bytes)
    assert memory.headroom_bytes >= 0
    assert workload.parallelism.activation_recompute.value != "full" or "gpt3" in path  # 2021's GPT-3 did


def test_reserve_matches_the_scenarios_default() -> None:
    assert TrainingWorkload.model_fields["memory_reserve_bytes"].default == RESERVE_BYTES
