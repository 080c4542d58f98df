"""clustersim command line: parse arguments, call the simulator, render, set exit codes. No logic here (the
shared chores are in cli_support.py). Commands import the simulator when they run, so that `--help` stays quick
(tests/test_cli_startup.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import click

from cli_support import (
    EXIT_BAD_INPUT,
    EXIT_WRITE_FAILED,
    console,
    duration_or_exit,
    emit,
    load_mixes_or_exit,
    load_or_exit,
    outputs_or_exit,
    print_issues,
    print_json,
    save,
    write_and_emit,
)


@click.group()
@click.version_option(package_name="clustersim")
def main() -> None:
    """clustersim: simulate AI clusters running training jobs; report time, utilization and cost."""


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the JSON report here")
@click.option("--set", "overrides", multiple=True, metavar="FIELD.PATH=VALUE",
              help="override a scenario field, e.g. workloads.pretrain.parallelism.tp=2 (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print the JSON report instead of tables")
@click.option("--replicates", type=click.IntRange(1, 1_000_000), metavar="N",
              help="run N independent seeds and report mean, std and 95 % CI of every figure")
@click.option("--workers", type=click.IntRange(1, 4096), metavar="N",
              help="processes for --replicates [default: all cores; 1: in this process]")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="also write a self-contained HTML report with plots here")
@click.option("--quiet", is_flag=True, help="no progress on standard error (--replicates)")
@click.option("--export", "export_dir", type=click.Path(file_okay=False),
              help="also write requests, jobs, events and series tables (CSV; Parquet with pyarrow) into this folder")
@click.option("--trace", "trace_path", type=click.Path(dir_okay=False), help="also write a Perfetto trace here")
def run(scenario: str, output: str | None, overrides: tuple[str, ...], as_json: bool, replicates: int | None,
        workers: int | None, html_path: str | None, quiet: bool, export_dir: str | None,
        trace_path: str | None) -> None:
    """Simulate SCENARIO and print a summary (or the JSON report).

    With --replicates N: replicate i uses seed SeedSequence(seed).spawn(N)[i].generate_state(1)[0]; -o and
    --json give the ReplicatesReport (every numeric figure: mean, std, ci95_low/high, min, max)."""
    from simulator.report.render import report_tables
    from simulator.run import simulate

    loaded = load_or_exit(scenario, overrides)
    for option, given in (("--html", html_path), ("--export", export_dir), ("--trace", trace_path)):
        if replicates is not None and given:
            click.echo(f"{option}: not with --replicates (it describes one run)", err=True)
            sys.exit(EXIT_BAD_INPUT)
    outputs_or_exit({"-o": output, "--html": html_path, "--trace": trace_path, "--export": export_dir},
                     [scenario, *loaded.input_files()])
    if replicates is not None:
        from simulator.experiments.montecarlo import run_replicates
        from simulator.report.progress import progress_bar
        from simulator.report.render import replicates_table

        with progress_bar(quiet) as advance:
            many = run_replicates(loaded, replicates, workers, advance(f"{replicates:,} replicates", replicates))
        write_and_emit(many, output, as_json, replicates_table)
        return
    report = simulate(loaded)
    saved = True
    if html_path:
        from simulator.report.html import report_html

        saved = save("--html", html_path, report_html(report))
    if trace_path:
        from simulator.report.trace import trace_json

        saved = save("--trace", trace_path, trace_json(report)) and saved
    if export_dir:
        from simulator.report.export import export_files

        try:
            export_files(report, export_dir)
        except OSError as err:
            click.echo(f"--export {export_dir}: could not be written ({err})", err=True)
            saved = False
    write_and_emit(report, output, as_json, report_tables)
    if not saved:
        sys.exit(EXIT_WRITE_FAILED)


@main.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="FIELD.PATH=VALUE", help="override a field")
def validate(scenarios: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Check scenario files; print FILE:LINE: field: problem for each error (exit 2 if any)."""
    from simulator.plan.load import load_scenario
    from simulator.scenario.loader import ScenarioError

    failed = False
    for path in scenarios:
        try:
            loaded = load_scenario(path, overrides)
        except ScenarioError as err:
            failed = True
            print_issues(err)
            continue
        streams = f", {len(loaded.jobs)} job stream(s)" if loaded.jobs else ""
        click.echo(f"{path}: ok ({len(loaded.workloads)} workload(s){streams}, {loaded.cluster.gpus} GPUs)")
    if failed:
        sys.exit(EXIT_BAD_INPUT)


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="FIELD.PATH=VALUE", help="override a field")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of tables")
def topology(scenario: str, overrides: tuple[str, ...], as_json: bool) -> None:
    """Describe SCENARIO's network: parts, bisection, diameter, collective bus bandwidths."""
    from simulator.report.render_tools import topology_tables
    from simulator.tools.topology import describe_topology

    loaded = load_or_exit(scenario, overrides)
    report = describe_topology(loaded)
    emit(report, as_json, topology_tables)


@main.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="FIELD.PATH=VALUE", help="override in every run")
@click.option("--vary", "varies", multiple=True, metavar="FIELD.PATH=V1,V2,...",
              help="one run per value, values split at commas outside quotes and brackets "
                   "(several --vary: every combination)")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="also write a self-contained HTML report with the runs side by side here")
@click.option("--baseline", "baseline", metavar="NAME",
              help="the run (column label) ratios are taken against (default: the first)")
def compare(scenarios: tuple[str, ...], overrides: tuple[str, ...], varies: tuple[str, ...], as_json: bool,
            html_path: str | None, baseline: str | None) -> None:
    """Run scenarios (and --vary variants) and show them side by side with ratios to the first (or --baseline)."""
    from simulator.experiments.compare import UnknownBaseline, baseline_label
    from simulator.experiments.compare import compare as compare_runs
    from simulator.report.render import comparison_table
    from simulator.scenario.overrides import OverrideError, parse_axes, variants

    try:
        combinations = variants(parse_axes("--vary", varies))
    except OverrideError as err:
        click.echo(str(err), err=True)
        sys.exit(EXIT_BAD_INPUT)
    runs = []
    for path in scenarios:
        for variant in combinations:
            loaded = load_or_exit(path, overrides, variant.overrides)
            runs.append((" ".join(x for x in (Path(path).stem if len(scenarios) > 1 else "", variant.label) if x)
                         or Path(path).stem, loaded))
    try:
        baseline_label([label for label, _ in runs], baseline)
    except UnknownBaseline as err:
        click.echo(str(err), err=True)
        sys.exit(EXIT_BAD_INPUT)
    outputs_or_exit({"--html": html_path}, [*scenarios, *(f for _, s in runs for f in s.input_files())])
    comparison = compare_runs(runs, baseline)
    saved = True
    if html_path:
        from simulator.report.html import comparison_html

        saved = save("--html", html_path, comparison_html(comparison))
    emit(comparison, as_json, comparison_table)
    if not saved:
        sys.exit(EXIT_WRITE_FAILED)


@main.command("plan-layout")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--workload", "workload_name", help="training workload to lay out (default: the first)")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 1000), help="layouts to show")
@click.option("--set", "overrides", multiple=True, metavar="FIELD.PATH=VALUE", help="override a field")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def plan_layout(scenario: str, workload_name: str | None, top: int, overrides: tuple[str, ...], as_json: bool) -> None:
    """Rank the parallel layouts of SCENARIO's training workload that fit, fastest first."""
    from simulator.report.render_tools import layout_table
    from simulator.tools.layout_plan import plan_layouts

    loaded = load_or_exit(scenario, overrides)
    names = [w.name for w in loaded.workloads if w.kind == "training"]
    if not names or (workload_name is not None and workload_name not in names):
        click.echo(f"{scenario}: --workload: no training workload named {workload_name!r}; names: "
                   f"{', '.join(names)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    report = plan_layouts(loaded, workload_name, top)
    emit(report, as_json, layout_table)


@main.group()
def reproduce() -> None:
    """Compare the models with published measurements."""


@reproduce.command("training")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def reproduce_training_command(as_json: bool) -> None:
    """Predicted vs published training throughput for every case in the catalog's published runs."""
    from simulator.report.render_tools import reproduction_tables
    from simulator.tools.reproduce import reproduce_training

    report = reproduce_training()
    emit(report, as_json, reproduction_tables)


@reproduce.command("serving")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def reproduce_serving_command(as_json: bool) -> None:
    """Predicted vs published offline serving throughput (output tokens/s)."""
    from simulator.report.render_tools import serving_reproduction_table
    from simulator.tools.reproduce import reproduce_serving

    emit(reproduce_serving(), as_json, serving_reproduction_table)


@main.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editors)."""
    from simulator.scenario.schema import Scenario

    print_json(Scenario.model_json_schema(by_alias=True))


@main.command()
@click.argument("kind", type=click.Choice(["accelerators", "models"]))
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def catalog(kind: str, as_json: bool) -> None:
    """List the built-in accelerators or models."""
    from simulator.catalog.listing import accelerator_rows, model_rows
    from simulator.report.render import rows_table

    rows = accelerator_rows() if kind == "accelerators" else model_rows()
    if as_json:
        print_json(rows)
    else:
        console().print(rows_table(f"built-in {kind}", rows))


@main.command()
@click.option("--compute", metavar="FLOPS", help="training compute budget, FLOPs (e.g. 5.76e23)")
@click.option("--params", metavar="N", help="parameter count (e.g. 70B, 1T): the compute and tokens it is optimal for")
@click.option("--budget-usd", metavar="USD", help="dollar budget (e.g. 300M): the compute it rents for --days")
@click.option("--accelerator", default="h100-sxm", show_default=True, help="catalog accelerator name")
@click.option("--days", metavar="DAYS",
              help="training time the GPUs are sized for: '90 d', '12 weeks' or a plain number of days [default: 90]")
@click.option("--gpus", type=int, help="GPUs to train on (instead of --days): the days are computed")
@click.option("--mfu", type=float, help="model FLOPs utilization, 0..1 (default: the step model's estimate)")
@click.option("--gpu-hour-usd", type=float, help="USD per GPU-hour (default: the catalog's latest on-demand price)")
@click.option("--json", "as_json", is_flag=True, help="print the JSON plan instead of tables")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="write the Chinchilla approach-1 plan here as a ready-to-run training scenario")
def plan(compute: str | None, params: str | None, budget_usd: str | None, accelerator: str, days: str | None,
         gpus: int | None, mfu: float | None, gpu_hour_usd: float | None, as_json: bool, output: str | None) -> None:
    """Compute-optimal parameters and tokens under four scaling laws, with GPUs, days and cost."""
    from simulator.report.render_tools import plan_tables
    from simulator.tools.planner import PlanError, PlanRequest, make_plan, scenario_yaml

    request = PlanRequest(compute=compute, params=params, budget_usd=budget_usd, accelerator=accelerator, days=days,
                          gpus=gpus, mfu=mfu, gpu_hour_usd=gpu_hour_usd)
    outputs_or_exit({"-o": output}, [])
    try:
        report = make_plan(request)
        scenario_text = scenario_yaml(report) if output else ""
    except PlanError as err:
        click.echo(f"plan: {err}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if output and not save("-o", output, scenario_text):
        sys.exit(EXIT_WRITE_FAILED)
    emit(report, as_json, plan_tables)


@main.command("plan-lifetime")
@click.option("--compute", required=True, metavar="FLOPS",
              help="the quality target as a compute-optimal training budget, FLOPs (e.g. 5.76e23)")
@click.option("--tokens-per-day", required=True, metavar="N",
              help="serving demand: prompt + generated tokens per day (e.g. 1e11)")
@click.option("--years", default=2.0, show_default=True, type=click.FloatRange(0.001, 100), help="serving lifetime")
@click.option("--accelerator", default="h100-sxm", show_default=True, help="catalog accelerator name")
@click.option("--mfu", type=float, help="training MFU, 0..1 (default: the step model's estimate)")
@click.option("--gpu-hour-usd", type=float, help="USD per GPU-hour (default: the catalog's latest on-demand price)")
@click.option("--input-tokens", default=1000, show_default=True, type=int, help="prompt tokens of a request")
@click.option("--output-tokens", default=250, show_default=True, type=int, help="generated tokens of a request")
@click.option("--json", "as_json", is_flag=True, help="print the JSON report instead of tables")
def plan_lifetime(compute: str, tokens_per_day: str, years: float, accelerator: str, mfu: float | None,
                  gpu_hour_usd: float | None, input_tokens: int, output_tokens: int, as_json: bool) -> None:
    """The model size that costs least to train once and serve for its lifetime at a quality target."""
    from simulator.report.render_tools import lifetime_tables
    from simulator.tools.lifetime import LifetimeRequest
    from simulator.tools.lifetime import plan_lifetime as make_lifetime_plan
    from simulator.tools.planner import PlanError

    request = LifetimeRequest(compute=compute, tokens_per_day=tokens_per_day, days=years * 365.25,
                              accelerator=accelerator, gpu_hour_usd=gpu_hour_usd, mfu=mfu,
                              input_tokens=input_tokens, output_tokens=output_tokens)
    try:
        report = make_lifetime_plan(request)
    except PlanError as err:
        click.echo(f"plan-lifetime: {err}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    emit(report, as_json, lifetime_tables)


@main.command("plan-capacity")
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--deadline", required=True, metavar="DURATION", help="every training workload done by then, e.g. 10d")
@click.option("--probability", default=0.9, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="chance of meeting the deadline asked for")
@click.option("--mix", "mixes", multiple=True, required=True, metavar="'FIELD.PATH=VALUE ...'",
              help="one capacity mix: [LABEL:] overrides separated by spaces ('' for the scenario as is; repeatable)")
@click.option("--set", "overrides", multiple=True, metavar="FIELD.PATH=VALUE", help="override in every mix")
@click.option("--replicates", default=40, show_default=True, type=click.IntRange(1, 100_000), metavar="N",
              help="independent seeds per mix")
@click.option("--rule", type=click.Choice(["wilson_low", "point"]), default="wilson_low", show_default=True,
              help="which estimate must reach the probability: the Wilson 95 % lower bound, or met/replicates")
@click.option("--workers", type=click.IntRange(1, 4096), metavar="N", help="processes [default: all cores]")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def plan_capacity(scenario: str, deadline: str, probability: float, mixes: tuple[str, ...],
                  overrides: tuple[str, ...], replicates: int, rule: Literal["wilson_low", "point"],
                  workers: int | None, as_json: bool) -> None:
    """The cheapest capacity mix of SCENARIO (pools, rentals, spot) that meets --deadline with --probability."""
    from simulator.experiments.capacity import plan_capacity as run_plan
    from simulator.report.render_capacity import capacity_table

    runs = load_mixes_or_exit(scenario, overrides, mixes)
    emit(run_plan(runs, duration_or_exit("--deadline", deadline), probability, replicates, rule, workers),
         as_json, capacity_table)


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--grid", "grid", multiple=True, required=True, metavar="FIELD.PATH=V1,V2,...",
              help="values to sweep, split at commas outside quotes and brackets (several --grid: every combination)")
@click.option("--set", "overrides", multiple=True, metavar="FIELD.PATH=VALUE", help="override in every point")
@click.option("--replicates", default=1, show_default=True, type=click.IntRange(1, 1_000_000), metavar="N",
              help="independent seeds per point")
@click.option("--figure", "figures", multiple=True, metavar="PATH",
              help="a number of the JSON report as a column, e.g. workloads.NAME.mfu (repeatable) "
                   "[default: the headline figures]")
@click.option("--per-replicate", is_flag=True, help="one row per replicate (its seed and figures) instead of per point")
@click.option("--workers", type=click.IntRange(1, 4096), metavar="N",
              help="processes shared by all points [default: all cores; 1: in this process]")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="results file: CSV, or a JSON list if it ends in .json, JSON lines if .jsonl; "
                   "points already in it are skipped (resume)")
@click.option("--fresh", is_flag=True, help="start the -o file over instead of resuming it")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="also write a self-contained HTML page with a plot per figure here")
@click.option("--pareto", metavar="FIG1,FIG2", help="--html: Pareto view of two figures (max:/min: sets which is "
                                                    "better; default: higher for rates and shares, else lower)")
@click.option("--quiet", is_flag=True, help="no progress on standard error")
@click.option("--json", "as_json", is_flag=True, help="print the rows as a JSON list instead of a table")
@click.option("--csv", "as_csv", is_flag=True, help="print the rows as CSV instead of a table")
@click.option("--executor", type=click.Choice(["process", "ray"]), default="process", show_default=True,
              help="where replicates run: a local process pool, or Ray tasks (pip install 'clustersim[ray]')")
@click.option("--address", metavar="ADDRESS",
              help="Ray cluster to connect to, e.g. ray://head:10001 or auto [default: start a local Ray]")
def sweep(scenario: str, grid: tuple[str, ...], overrides: tuple[str, ...], replicates: int, figures: tuple[str, ...],
          per_replicate: bool, workers: int | None, output: str | None, fresh: bool, html_path: str | None,
          pareto: str | None, quiet: bool, as_json: bool, as_csv: bool, executor: str, address: str | None) -> None:
    """Run SCENARIO at every combination of --grid values, each with --replicates seeds; one row per point
    (grid values, their SI values, mean and 95 % CI half-width of each figure) or per replicate."""
    from simulator.experiments.sweep import InvalidPoints, prepare, run_sweep
    from simulator.experiments.sweep_files import SweepError, csv_text, json_text
    from simulator.report.files import OutputError
    from simulator.report.progress import progress_bar
    from simulator.report.sweep_html import objectives, sweep_html
    from simulator.report.sweep_table import sweep_table
    from simulator.scenario.overrides import OverrideError

    outputs_or_exit({"-o": output, "--html": html_path}, [scenario])
    try:
        plan = prepare(scenario, grid, overrides, output, replicates, fresh, figures, per_replicate)
        goals = objectives(pareto, plan.figures) if pareto else None
    except OverrideError as err:
        click.echo(str(err), err=True)
        sys.exit(EXIT_BAD_INPUT)
    except (SweepError, OutputError, ValueError) as err:  # ValueError: a --figure or --pareto
        click.echo(f"sweep: {err}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except InvalidPoints as err:
        for point, problem in err.failures:
            click.echo(f"sweep: grid point {point.label} is invalid (nothing was run):", err=True)
            print_issues(problem)
        sys.exit(EXIT_BAD_INPUT)
    remote = None
    if executor == "ray":
        from simulator.experiments.distributed import RayUnavailable, ray_runner

        try:
            remote = ray_runner(address, workers)
        except RayUnavailable as err:
            click.echo(f"sweep: {err}", err=True)
            sys.exit(EXIT_BAD_INPUT)
    elif address:
        click.echo("sweep: --address needs --executor ray", err=True)
        sys.exit(EXIT_BAD_INPUT)
    todo = plan.todo
    if output and not quiet:
        click.echo(f"sweep: {len(plan.points)} points; {len(plan.points) - len(todo)} already in {output}, skipped; "
                   f"running {len(todo)} x {replicates:,} replicates", err=True)
    with progress_bar(quiet) as task:
        try:
            result = run_sweep(plan, workers, task(f"{len(todo)} points", len(todo) * replicates), remote)
        except RuntimeError as err:  # RayUnavailable: the cluster could not be reached
            click.echo(f"sweep: {err}", err=True)
            sys.exit(EXIT_BAD_INPUT)
    title = f"clustersim sweep: {Path(scenario).stem}, {replicates:,} replicates per point"
    saved = not html_path or save("--html", html_path, sweep_html(result.points, plan.figures, title, goals))
    if as_json or as_csv:
        click.echo(json_text(result.rows) if as_json else csv_text(result.rows, plan.header), nl=as_json)
    else:
        terminal = console()
        terminal.print(sweep_table(result.rows, plan.figures, title, terminal.width))
    if output and not quiet:
        click.echo(f"sweep: wrote {len(result.rows)} rows to {output}", err=True)
    if not saved:
        sys.exit(EXIT_WRITE_FAILED)


if __name__ == "__main__":
    main()
