"""Scaling-law planner: a compute budget, a parameter count or a dollar budget in; for each scaling law the
compute-optimal parameters and tokens, the GPUs (or days) and the cost out, as a PlanReport; and the
Chinchilla approach-1 plan as a ready-to-run training scenario.

The laws themselves are pure arithmetic in simulator/models/workload/scaling_laws.py; this module parses the
inputs, looks up the accelerator and its price, picks the MFU, sizes the GPUs, and maps a plan to a
scenario (model shape, parallel layout that fits in memory, cluster, pricing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import yaml

from simulator import catalog
from simulator.models.hardware import Accelerator, PriceKind
from simulator.models.workload.memory import training_memory
from simulator.models.workload.parallelism import Parallelism, Recompute
from simulator.models.workload.scaling_laws import (
    Allocation,
    ScalingLaw,
    all_laws,
    chinchilla_approach1,
    chinchilla_loss,
    days_for_gpus,
    gpus_for_days,
    sustained_mfu,
)
from simulator.models.workload.shapes import llama_style_model
from simulator.models.workload.transformer import TransformerModel, parameter_counts
from simulator.report.tools import LawPlanRow, PlanReport
from simulator.tools.layouts import estimate_mfu, fewest_gpus, mfu_estimate_gpus
from simulator.units import Dimension, QuantityError, format_count, parse_quantity

if TYPE_CHECKING:
    from simulator.scenario.schema import ClusterSpec

DEFAULT_ACCELERATOR = "h100-sxm"
DEFAULT_DAYS = 90.0
MFU_START = 0.4  # first guess only, when the MFU is estimated for a GPU count that depends on it
MAX_COMPUTE_FLOPS = 1e35  # ~1e9 x the largest runs announced; anything above is a typo
MAX_PARAMS = 1e17
MAX_BUDGET_USD = 1e15
MAX_DAYS = 36525.0  # a century

# Scenario shape (Llama-3 style, Grattafiori et al. 2024 "The Llama 3 Herd of Models", Table 3): head size 128,
# 8 key/value heads, SwiGLU with ffn_hidden = 3.5 x hidden (14,336 for 4,096), vocabulary 128,256, RoPE,
# RMSNorm, no biases, untied embeddings, 8,192-token context. hidden/layers = 128 is the 8B's aspect ratio
# (4096/32; the 405B has 16384/126 = 130).
SEQ_LEN = 8192
GPUS_PER_NODE = 8
TP = 8
SMALL_BATCH_TOKENS = 4 * 2**20  # Llama 3's first global batch (4M tokens); 16M from 100B parameters
LARGE_BATCH_TOKENS = 16 * 2**20
LARGE_MODEL_PARAMS = 1e11



class PlanError(ValueError):
    """An input the planner cannot use, with a one-line explanation."""


@dataclass(frozen=True)
class PlanRequest:
    """What the user asked for, as given on the command line (quantities still text)."""

    compute: str | None = None  # FLOPs, e.g. "5.76e23"
    params: str | None = None  # e.g. "1T", "70B"
    budget_usd: str | None = None  # e.g. "300M"
    accelerator: str = DEFAULT_ACCELERATOR
    days: str | None = None  # "90 d", "12 weeks", or a plain number of days
    gpus: int | None = None
    mfu: float | None = None
    gpu_hour_usd: float | None = None


def parse_count(text: str, what: str, upper: float) -> float:
    """A positive count such as '5.76e23' or '70B', at most `upper`; PlanError naming `what` otherwise."""
    try:
        value = parse_quantity(text, Dimension.COUNT)
    except QuantityError as err:
        raise PlanError(f"{what}: {err}") from None
    if not 0 < value <= upper:
        raise PlanError(f"{what} must be positive and at most {upper:g}, got {text!r}")
    return value


def parse_days(text: str) -> float:
    """Days from '90 d', '12 weeks', '2160 h' or a plain number, which means days."""
    try:
        days = float(text)
    except ValueError:
        try:
            days = parse_quantity(text, Dimension.DURATION) / 86400.0
        except QuantityError as err:
            raise PlanError(f"--days: {err} (a plain number means days)") from None
    if not 0 < days <= MAX_DAYS:
        raise PlanError(f"--days must be positive and at most {MAX_DAYS:g} days, got {text!r}")
    return days


def catalog_accelerator(name: str) -> Accelerator:
    """The catalog entry, or PlanError listing the names."""
    try:
        return catalog.accelerator(name)
    except catalog.UnknownEntry as err:
        raise PlanError(str(err)) from None


def on_demand_price(acc: Accelerator, given: float | None) -> tuple[float | None, str]:
    """(USD per GPU-hour, source): the one given, or the catalog's latest on-demand price (None if none)."""
    if given is not None:
        if not 0 < given <= 1e4:
            raise PlanError(f"--gpu-hour-usd must be positive and at most 10000, got {given:g}")
        return given, "--gpu-hour-usd"
    price = acc.latest_price(PriceKind.ON_DEMAND)
    if price is None:
        return None, f"none: the catalog has no on-demand price for {acc.name}; give --gpu-hour-usd"
    return price.usd, f"catalog on-demand price ({price.offer}, {price.date})"


class MfuSource:
    """The MFU for a model size on some GPUs: the one given, or the step model's estimate; and, with the
    estimate, the fewest GPUs that hold the model (a given MFU sizes GPUs by arithmetic alone)."""

    def __init__(self, given: float | None) -> None:
        if given is not None and not 0 < given <= 1:
            raise PlanError(f"--mfu must be in (0, 1], got {given:g}")
        self.given = given

    @property
    def source(self) -> str:
        if self.given is not None:
            return f"--mfu {self.given:g}, the same for every law (no memory check: GPUs by arithmetic alone)"
        return ("simulator.tools.layouts.estimate_mfu: the step model's MFU for the best layout of a dense "
                "Llama-style model of each law's size on a power of two of 8-GPU nodes near that law's GPUs, "
                "at least the fewest that hold it in memory")

    def __call__(self, params: float, acc: Accelerator, gpus: int) -> float:
        if self.given is not None:
            return self.given
        try:
            mfu = float(estimate_mfu(params, acc, gpus))
        except ValueError as err:
            raise PlanError(f"MFU estimate for {format_count(params)} parameters on {gpus:,} GPUs: {err}; "
                            f"give --mfu") from None
        if not 0 < mfu <= 1:
            raise PlanError(f"the MFU estimate for {format_count(params)} parameters on {gpus} GPUs is {mfu:g}")
        return mfu

    def fewest_gpus(self, params: float, acc: Accelerator) -> int:
        """The fewest GPUs that hold the model in memory (1 with a given MFU: not checked)."""
        if self.given is not None:
            return 1
        try:
            return fewest_gpus(params, acc)
        except ValueError as err:
            raise PlanError(f"{err}; give --mfu to size GPUs by arithmetic alone") from None

    def searched_gpus(self, params: float, acc: Accelerator, gpus: int) -> int | None:
        """The GPUs the estimate's layout search ran on (None with a given MFU)."""
        return None if self.given is not None else mfu_estimate_gpus(params, acc, gpus)


def _mfu_for_days(flops: float, params: float, acc: Accelerator, days: float, mfu: MfuSource,
                  fewest: int = 1) -> float:
    """The MFU on the GPUs that finish within `days` (at least `fewest`): an estimated MFU depends on the GPU
    count, which depends on the MFU, so iterate from MFU_START until the GPU count stops changing (at most 8
    rounds)."""
    value = mfu.given or MFU_START
    gpus = max(fewest, gpus_for_days(flops, days, acc.peak_bf16_flops, value).gpus)
    for _ in range(8):
        value = mfu(params, acc, gpus)
        again = max(fewest, gpus_for_days(flops, days, acc.peak_bf16_flops, value).gpus)
        if again == gpus:
            break
        gpus = again
    return value


def _budget_compute(budget_gpus: int, days: float, acc: Accelerator, mfu: MfuSource, law: ScalingLaw) -> float:
    """FLOPs `budget_gpus` deliver in `days`. An estimated MFU is the one of `law`'s model for that compute, so
    the compute is that of the MFU that sustains itself (`sustained_mfu`: the budget's compute at MFU v buys a
    model whose MFU is at least v, and v is within 0.1 % of one whose model's MFU falls short); PlanError where
    the models of no MFU down to 0.1 % fit on the GPUs."""
    full_speed_flops = budget_gpus * days * 86400.0 * acc.peak_bf16_flops
    if mfu.given is not None:
        return full_speed_flops * mfu.given

    def mfu_at(value: float) -> float:
        params = law.params_for_compute(full_speed_flops * value)
        return mfu(params, acc, budget_gpus) if mfu.fewest_gpus(params, acc) <= budget_gpus else 0.0

    sustained = sustained_mfu(mfu_at, MFU_START)
    if sustained.mfu == 0:
        params = law.params_for_compute(full_speed_flops * sustained.above)
        raise PlanError(f"the budget's {budget_gpus:,} GPUs hold no layout of {law.title}'s "
                        f"{format_count(params)}-parameter model; give --mfu")
    return full_speed_flops * sustained.mfu


def make_plan(request: PlanRequest) -> PlanReport:
    """Every law's compute-optimal plan for the request; PlanError for input that cannot be planned."""
    if sum(value is not None for value in (request.compute, request.params, request.budget_usd)) != 1:
        raise PlanError("give exactly one of --compute, --params or --budget-usd")
    acc = catalog_accelerator(request.accelerator)
    price, price_source = on_demand_price(acc, request.gpu_hour_usd)
    if request.gpus is not None and not 0 < request.gpus <= 10**9:
        raise PlanError(f"--gpus must be positive and at most 1e9, got {request.gpus}")
    if request.gpus is not None and request.days is not None:
        raise PlanError("give --days (GPUs are sized to finish in time) or --gpus (days are computed), not both")
    days = parse_days(request.days) if request.days is not None else DEFAULT_DAYS
    gpus = request.gpus
    notes: list[str] = []
    compute: float | None = None
    params_given: float | None = None
    budget: float | None = None
    budget_gpus: int | None = None
    given: Literal["compute", "params", "budget"]
    if request.compute is not None:
        given = "compute"
        compute = parse_count(request.compute, "--compute", MAX_COMPUTE_FLOPS)
    elif request.params is not None:
        given = "params"
        params_given = parse_count(request.params, "--params", MAX_PARAMS)
    else:
        given = "budget"
        assert request.budget_usd is not None
        budget = parse_count(request.budget_usd, "--budget-usd", MAX_BUDGET_USD)
        if gpus is not None:
            raise PlanError("--budget-usd decides the GPUs (budget / (days x 24 x price)); leave out --gpus")
        if price is None:
            raise PlanError(f"--budget-usd needs a price: the catalog has no on-demand price for {acc.name}; "
                            f"give --gpu-hour-usd")
        budget_gpus = math.floor(budget / (days * 24.0 * price) * (1 + 1e-12))
        if budget_gpus < 1:
            raise PlanError(f"${budget:,.0f} rents less than one {acc.name} for {days:g} days at ${price:g}/h")
        gpus = budget_gpus
    mfu = MfuSource(request.mfu)
    if budget is not None and budget_gpus is not None:
        compute = _budget_compute(budget_gpus, days, acc, mfu, chinchilla_approach1())
        notes.append(f"${budget:,.0f} rents {budget_gpus:,} x {acc.name} for {days:g} days at ${price:g}/GPU-hour "
                     f"(rounded down to whole GPUs); their compute at the approach-1 model's MFU is "
                     f"{compute:.3g} FLOPs")
    rows: dict[str, LawPlanRow] = {}
    for law in all_laws():
        if compute is not None:
            plan = law.for_compute(compute)
        else:
            assert params_given is not None
            plan = law.for_params(params_given)
        rows[law.key] = _row(law, plan, acc, price, mfu, days if gpus is None else None, gpus)
    notes += _notes(request, price, rows)
    return PlanReport(
        given=given, compute_flops=compute, params_given=params_given, budget_usd=budget,
        budget_gpus=budget_gpus, accelerator=acc.name, peak_bf16_flops_per_s=acc.peak_bf16_flops,
        gpu_hour_usd=price, price_source=price_source, target_days=days if request.gpus is None else None,
        gpus_given=request.gpus, mfu_source=mfu.source, laws=rows, scenario_law=chinchilla_approach1().key,
        notes=notes,
    )


def _row(law: ScalingLaw, plan: Allocation, acc: Accelerator, price: float | None, mfu: MfuSource,
         days: float | None, gpus: int | None) -> LawPlanRow:
    """The law's plan, scheduled on the GPUs given, or on the fewest that finish within `days` and hold the
    model; where it cannot be scheduled, the law's figures with the reason instead of a schedule."""
    law_figures: dict[str, Any] = {
        "title": law.title, "rule": law.rule, "source": law.source, "params": plan.params, "tokens": plan.tokens,
        "flops": plan.flops, "gopher_units": plan.gopher_units, "tokens_per_param": plan.tokens_per_param,
        "chinchilla_loss_nats": chinchilla_loss(plan.params, plan.tokens),
    }
    try:
        fewest = mfu.fewest_gpus(plan.params, acc)
        if gpus is not None:
            if gpus < fewest:
                raise PlanError(f"{gpus:,} GPUs hold no layout of the {format_count(plan.params)}-parameter model: "
                                f"it needs at least {fewest:,} {acc.name}")
            used = mfu(plan.params, acc, gpus)
            schedule = days_for_gpus(plan.flops, gpus, acc.peak_bf16_flops, used)
        else:
            assert days is not None
            used = _mfu_for_days(plan.flops, plan.params, acc, days, mfu, fewest)
            schedule = gpus_for_days(plan.flops, days, acc.peak_bf16_flops, used)
            if schedule.gpus < fewest:  # the model needs more GPUs than the days do: it finishes early
                schedule = days_for_gpus(plan.flops, fewest, acc.peak_bf16_flops, used)
    except PlanError as err:
        return LawPlanRow(**law_figures, mfu=None, mfu_gpus=None, fewest_gpus=None, gpus=None, days=None,
                          gpu_hours=None, cost_usd=None, reason=str(err))
    return LawPlanRow(
        **law_figures, mfu=used, mfu_gpus=mfu.searched_gpus(plan.params, acc, schedule.gpus),
        fewest_gpus=None if mfu.given is not None else fewest, gpus=schedule.gpus, days=schedule.days,
        gpu_hours=schedule.gpu_hours, cost_usd=None if price is None else schedule.gpu_hours * price,
    )


def _notes(request: PlanRequest, price: float | None, rows: dict[str, LawPlanRow]) -> list[str]:
    notes = [
        "C = 6 N D for every law; GPU-hours = C / (peak_bf16 x MFU); cost = GPU-hours x price (rental only)",
        "kaplan2020 counts non-embedding parameters and compute; the Chinchilla laws count all parameters",
    ]
    if request.params is not None:
        notes.append("from --params: each law's compute and tokens for which that parameter count is optimal")
    if price is None:
        notes.append("no price known: give --gpu-hour-usd for costs")
    if any(row.fewest_gpus is not None and row.gpus == row.fewest_gpus for row in rows.values()):
        notes.append("where GPUs = the fewest that fit, the model needs more GPUs than the days do: it finishes early")
    return notes


# --- the approach-1 plan as a training scenario --------------------------------------------------------------


def fat_tree(gpus: int) -> dict[str, Any]:
    """A non-blocking fat tree of 64-port switches (Quantum-2 NDR) that holds `gpus`: 2 tiers up to 2,048 GPUs
    (64 leaves of 32), 3 tiers up to 65,536 (64 pods of 32 leaves); beyond that 3 tiers of the smallest even
    radix r with r^3 / 4 >= gpus (a larger switch than any listed in the catalog)."""
    if gpus <= 64 * 64 // 2:
        return {"kind": "fat_tree", "tiers": 2, "radix": 64, "oversubscription": 1}
    radix = 64
    while radix**3 // 4 < gpus:
        radix += 2
    return {"kind": "fat_tree", "tiers": 3, "radix": radix, "oversubscription": 1}


def _cluster(acc: Accelerator, nodes: int) -> ClusterSpec:
    from simulator.scenario.schema import ClusterSpec  # the scenario schema only where a scenario is written

    return ClusterSpec.model_validate({"accelerator": acc, "nodes": nodes, "gpus_per_node": GPUS_PER_NODE,
                                       "topology": fat_tree(nodes * GPUS_PER_NODE)})


def _workload(model: TransformerModel, tokens: float, parallelism: dict[str, Any]) -> dict[str, Any]:
    lay = Parallelism.model_validate(parallelism)
    target = LARGE_BATCH_TOKENS if parameter_counts(model).total >= LARGE_MODEL_PARAMS else SMALL_BATCH_TOKENS
    # at least 4 micro-batches per pipeline stage keeps the 1F1B bubble under a fifth of the step
    micro_batches = max(4 * lay.pp, round(target / (SEQ_LEN * lay.dp * lay.micro_batch_size)))
    return {
        "name": "pretrain", "kind": "training",
        "model": model.model_dump(mode="json", by_alias=True, include={
            "name", "layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab", "mlp", "norm", "bias",
            "position", "tied_embeddings", "max_seq_len",
        }),
        "tokens": round(tokens), "seq_len": SEQ_LEN,
        "global_batch_tokens": micro_batches * lay.dp * lay.micro_batch_size * SEQ_LEN,
        "parallelism": parallelism, "precision": "bf16",
    }


def _fitting_layout(model: TransformerModel, tokens: float, acc: Accelerator, gpus: int) -> dict[str, Any]:
    """tp 8, the fewest pipeline stages that fit in memory (selective recompute first, then full), dp the rest."""
    from simulator.plan.training import training_plan  # the scenario schema only where a scenario is written
    from simulator.scenario.schema import TrainingWorkload

    for recompute in (Recompute.SELECTIVE, Recompute.FULL):
        for pp in range(1, model.layers + 1):
            dp = max(1, math.ceil(gpus / (TP * pp)))
            layout = {"tp": TP, "pp": pp, "dp": dp, "micro_batch_size": 1, "zero_stage": 1,
                      "activation_recompute": recompute.value}
            workload = TrainingWorkload.model_validate(_workload(model, tokens, layout))
            cluster = _cluster(acc, pp * dp)
            memory = training_memory(training_plan(workload, cluster).step, workload.memory_reserve_bytes)
            if memory.headroom_bytes >= 0:
                return layout
    raise PlanError(f"{model.name} does not fit on {acc.name} even with tp 8, pp {model.layers} and full "
                    f"recompute")


def plan_scenario(report: PlanReport) -> dict[str, Any]:
    """The scenario mapping for `report`'s scenario law (Chinchilla approach 1)."""
    if report.gpu_hour_usd is None:
        raise PlanError(f"a scenario needs a price: {report.price_source}")
    row = report.laws[report.scenario_law]
    if row.reason is not None or row.gpus is None:
        raise PlanError(f"{row.title} could not be planned: {row.reason}")
    acc = catalog_accelerator(report.accelerator)
    try:
        model = llama_style_model(row.params)
    except ValueError as err:
        raise PlanError(str(err)) from None
    layout = _fitting_layout(model, row.tokens, acc, row.gpus)
    nodes = layout["pp"] * layout["dp"]
    total = parameter_counts(model).total
    return {
        "name": f"plan-{model.name}",
        "description": (
            f"{row.title} compute-optimal plan: {format_count(row.params)} parameters (model: "
            f"{format_count(total)}) on {format_count(row.tokens)} tokens, {row.flops:.3g} FLOPs, "
            f"on {nodes * GPUS_PER_NODE:,} x {acc.name}"
        ),
        "seed": 0,
        "cluster": {"accelerator": acc.name, "nodes": nodes, "gpus_per_node": GPUS_PER_NODE,
                    "topology": fat_tree(nodes * GPUS_PER_NODE)},
        "pricing": {"gpu_hour_usd": report.gpu_hour_usd, "electricity_usd_per_kwh": 0, "pue": 1.0},
        "workloads": [_workload(model, row.tokens, layout)],
    }


def scenario_yaml(report: PlanReport) -> str:
    """The scenario file text, with a leading comment saying what produced it."""
    scenario = plan_scenario(report)
    row = report.laws[report.scenario_law]
    assert row.mfu is not None and row.days is not None  # planned, or plan_scenario raised
    model = scenario["workloads"][0]["model"]
    lay = scenario["workloads"][0]["parallelism"]
    gpus = scenario["cluster"]["nodes"] * GPUS_PER_NODE
    header = [
        "Written by `clustersim plan` (simulator/tools/planner.py): the Chinchilla approach-1 compute-optimal plan,",
        f"{row.rule} (Hoffmann et al. 2022 Table 3 fit): N = {format_count(row.params)} parameters,",
        f"D = {format_count(row.tokens)} tokens, C = {row.flops:.3g} FLOPs ({row.gopher_units:.4g} Gopher units).",
        f"Model: Llama-3-style, hidden {model['hidden']} x {model['layers']} layers (hidden/layers near 128),",
        "head size 128, 8 KV heads, SwiGLU at 3.5 x hidden; its exact parameter count is within 5 % of N.",
        f"Layout: tp 8 inside a node, pp {lay['pp']} (the fewest stages that fit in memory), dp {lay['dp']};",
        f"{gpus:,} GPUs (the plan's {row.gpus:,} rounded up to whole tp x pp groups); the plan assumed MFU "
        f"{row.mfu:.3g}",
        f"and {row.days:.3g} days. Rental {report.gpu_hour_usd:g} USD/GPU-hour ({report.price_source});"
        " power is in the rental.",
        "A starting point: the MFU came from the best layout on a power-of-two GPU count; this simple layout",
        "usually runs slower: `clustersim plan-layout` on this file ranks faster ones.",
    ]
    text = yaml.safe_dump(scenario, sort_keys=False, default_flow_style=False, width=120)
    return "".join(f"# {line}\n" for line in header) + text
