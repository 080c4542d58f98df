"""Checks that need more than one field: layouts against the cluster, memory fit, hardware support.

Each problem names the data path it belongs to, so the loader can point at the line in the file.
"""

from __future__ import annotations

from simulator.models.hardware import Precision
from simulator.models.topology.shape import TopologyError
from simulator.models.topology.specs import OcsTorusTopology, TorusTopology
from simulator.models.workload.arrivals import TraceError, check_columns, load_job_trace
from simulator.models.workload.memory import training_memory
from simulator.models.workload.parallelism import Recompute
from simulator.models.workload.pipeline import stage_layers
from simulator.models.workload.transformer import PositionKind
from simulator.plan.economy import pool_gpu_hour_rate
from simulator.plan.job_pricing import trace_runs
from simulator.plan.network import MissingFigure, network
from simulator.plan.serving import prefix_slots, serving_config
from simulator.plan.site_power import site_power_problem
from simulator.plan.training import training_plan
from simulator.scenario.inference import EmpiricalLength, InferenceWorkload, TraceArrivals
from simulator.scenario.jobs import ChoiceGpus, GeneratedJobs, JobSource
from simulator.scenario.loader import Problem
from simulator.scenario.pools import PoolSpec
from simulator.scenario.schema import ClusterSpec, Scenario, TrainingWorkload
from simulator.scenario.yaml_lines import Path
from simulator.units import format_si


def scenario_problems(scenario: Scenario) -> list[Problem]:
    """Everything wrong with a schema-valid scenario; empty when it can run."""
    problems: list[Problem] = []
    cluster = scenario.cluster
    usable = cluster.gpus
    try:
        usable = network(cluster).gpus  # an OCS torus keeps spare and unused cubes out of the slice
    except MissingFigure as err:
        problems.append(Problem(err.path, str(err)))
    except TopologyError as err:
        problems.append(Problem(("cluster", "topology", err.field), str(err)))
    for index, pool in enumerate(cluster.pool_specs):
        at: Path = ("cluster",) if cluster.pools is None else ("cluster", "pools", index)
        problems += _pool_problems(pool, scenario, at)  # its links were resolved with the network above
    try:
        if site := site_power_problem(scenario):
            problems.append(Problem(("cluster", "site_power", "budget"), site))
    except MissingFigure:
        pass  # the network's missing figure is reported above
    quotas = scenario.scheduler.quotas
    for index, source in enumerate(scenario.jobs):
        problems += [Problem(("jobs", index, *p.path), p.message)
                     for p in _job_problems(source, usable, quotas, cluster)]
    seen: dict[str, int] = {}
    for index, workload in enumerate(scenario.workloads):
        where: Path = ("workloads", index)
        if workload.name in seen:
            problems.append(Problem((*where, "name"), f"duplicate workload name {workload.name!r}; names must differ"))
        seen[workload.name] = index
        found = (_placed_training_problems(workload, scenario, usable) if isinstance(workload, TrainingWorkload)
                 else _placed_inference_problems(workload, scenario, usable))
        problems += [Problem((*where, *p.path), p.message) for p in found]
        # what it needs at once to start: a training job's layout and spares, a service's first replicas and
        # decode pool (one allocation each, all before it serves)
        needed = (workload.parallelism.world + workload.recovery.spare_nodes * cluster.gpus_per_node
                  if isinstance(workload, TrainingWorkload) else workload.starting_gpus)
        problems += [Problem((*where, "tenant"), message)
                     for message in _over_quota(quotas, {workload.tenant: needed}, "it needs")]
    return problems


def _pool_problems(pool: PoolSpec, scenario: Scenario, where: Path) -> list[Problem]:
    """A pool's accelerator without a power figure, or without the price the pool pays (`where`: the pool)."""
    acc, found = pool.accelerator, []
    if acc.tdp_w is None:
        found.append(Problem((*where, "accelerator"), (
            f"{acc.name} has no published power (tdp) in the catalog, so energy cannot be "
            f"computed; write accelerator: {{base: {acc.name}, tdp: <watts>}}"
        )))
    try:
        pool_gpu_hour_rate(scenario.pricing, pool, where)
    except MissingFigure as err:
        found.append(Problem(err.path, str(err)))
    if pool.scale_up_domain is not None and isinstance(scenario.cluster.topology, TorusTopology | OcsTorusTopology):
        found.append(Problem((*where, "scale_up_domain"), "a torus has no scale-up domains (each chip links to its "
                             "neighbours); give scale_up_domain on a switched topology only"))
    if pool.spot is not None and pool.spot.burst_nodes > pool.nodes:
        found.append(Problem((*where, "spot", "burst_nodes"), f"a reclaim cannot take {pool.spot.burst_nodes} "
                             f"nodes of a pool of {pool.nodes}"))
    return found


def _unknown_pools(w: TrainingWorkload | InferenceWorkload, cluster: ClusterSpec) -> list[Problem]:
    """Pool names a workload gives that the cluster does not have."""
    known = [p.name for p in cluster.pool_specs]
    named: list[tuple[Path, str | None]] = (
        [(("pools", n), n) for n in w.pools] if isinstance(w, TrainingWorkload) and w.pools else [(("pool",), w.pool)])
    if isinstance(w, InferenceWorkload) and w.disaggregation is not None:
        named.append((("disaggregation", "decode_pool"), w.disaggregation.decode_pool))
    return [Problem(where, f"unknown pool {name!r}; the cluster's pools: {', '.join(known)}")
            for where, name in named if name is not None and name not in known]


def _pool_room(cluster: ClusterSpec, name: str) -> tuple[int, str]:
    """(GPUs, how to say so) of one pool."""
    pool = cluster.pool_specs[cluster.pool_index(name)]
    return pool.gpus, f"pool {name} has {pool.gpus} ({pool.nodes} nodes x {pool.gpus_per_node})"


def _placed_training_problems(w: TrainingWorkload, scenario: Scenario, usable: int) -> list[Problem]:
    """A training workload's problems on the pools it may run on: every pool it names (each holding its share),
    or, unpinned, the first pool that can run it (the old form's one pool: the whole cluster)."""
    cluster = scenario.cluster
    if unknown := _unknown_pools(w, cluster):
        return unknown
    if cluster.pools is None:
        return _training_problems(w, scenario, cluster, usable)
    if w.pools:
        found = []
        for index, (name, gpus) in enumerate(w.pools.items()):
            room, said = _pool_room(cluster, name)
            spares = w.recovery.spare_nodes * cluster.gpus_per_node if index == 0 else 0  # from the first pool
            if gpus + spares > room:
                asked = f"{gpus} GPUs and {w.recovery.spare_nodes} spare nodes ({spares} GPUs)" if spares else (
                    f"{gpus} GPUs")
                found.append(Problem(("pools", name), f"{asked} asked, but {said}"))
            found += _training_problems(w, scenario, cluster.view(name), cluster.gpus, room_said=(cluster.gpus, ""))
        return _unique(found)
    candidates = [w.pool] if w.pool else [p.name for p in cluster.pool_specs]
    tried = [_training_problems(w, scenario, cluster.view(n), *(lambda r: (r[0], r))(_pool_room(cluster, n)))
             for n in candidates]
    return [] if any(not t for t in tried) else tried[0]


def _placed_inference_problems(w: InferenceWorkload, scenario: Scenario, usable: int) -> list[Problem]:
    """An inference workload's problems on its pool (the first where it names none) and its decode pool."""
    cluster = scenario.cluster
    if unknown := _unknown_pools(w, cluster):
        return unknown
    if cluster.pools is None:
        return _inference_problems(w, scenario, cluster, cluster, usable)
    main = w.pool or cluster.pool_specs[0].name
    decode = (w.disaggregation.decode_pool if w.disaggregation else None) or main
    room = _pool_room(cluster, main)[0] + (_pool_room(cluster, decode)[0] if decode != main else 0)
    return _inference_problems(w, scenario, cluster.view(main), cluster.view(decode), room)


def _unique(problems: list[Problem]) -> list[Problem]:
    """Problems in order, each once."""
    return list(dict.fromkeys(problems))


def _over_quota(quotas: dict[str, int], largest: dict[str, int], what: str) -> list[str]:
    """Tenants whose quota is smaller than their largest single allocation, which could never start."""
    return [f"{what} {gpus:,} GPUs, but tenant {tenant!r} may hold at most {quotas[tenant]:,} (scheduler.quotas)"
            for tenant, gpus in sorted(largest.items()) if tenant in quotas and gpus > quotas[tenant]]


def _training_problems(w: TrainingWorkload, scenario: Scenario, cluster: ClusterSpec, usable: int,
                       room_said: tuple[int, str] | None = None) -> list[Problem]:
    """Problems of the workload's layout and memory on `cluster` (a pool's view of it); `room_said` is (GPUs,
    how to say so) of a pool it is pinned to, with `usable` its GPUs."""
    lay, m = w.parallelism, w.model
    par: Path = ("parallelism",)
    found: list[Problem] = []
    if lay.world > usable:
        names = [n for n in ("tp", "cp", "pp", "dp") if n != "cp" or lay.cp > 1]
        product = " x ".join(names) + " = " + " x ".join(str(lay.degrees[n]) for n in names)
        if room_said is None or not room_said[1]:
            spare = f", {usable} of them in the OCS slice" if usable < cluster.gpus else ""
            said = f"the cluster has {cluster.gpus} ({cluster.nodes} nodes x {cluster.gpus_per_node}{spare})"
        else:
            said = room_said[1]
        found.append(Problem(par, f"{product} = {lay.world} GPUs, but {said}; the product must be at most {usable}"))
    if m.heads % lay.tp:
        found.append(Problem((*par, "tp"), f"tp {lay.tp} must divide the model's {m.heads} attention heads"))
    if lay.ep > 1 and not m.is_moe:
        found.append(Problem((*par, "ep"), f"ep {lay.ep} needs a mixture-of-experts model; {m.name} is dense"))
    elif lay.ep > 1 and (m.experts % lay.ep or lay.dp % lay.ep):
        found.append(Problem((*par, "ep"), (
            f"ep {lay.ep} must divide both the {m.experts} experts and dp {lay.dp}"
        )))
    if w.seq_len % lay.cp:
        found.append(Problem((*par, "cp"), f"cp {lay.cp} must divide seq_len {w.seq_len}"))
    fixed = {"first_stage_layers": lay.first_stage_layers, "last_stage_layers": lay.last_stage_layers}
    named = {k: v for k, v in fixed.items() if v is not None}
    others = lay.pp - len(named)
    if named and m.layers - sum(named.values()) < others:
        listed = " + ".join(f"{k} {v}" for k, v in named.items())
        found.append(Problem((*par, next(iter(named))), (
            f"{listed} leaves {m.layers - sum(named.values())} of the model's {m.layers} layers for the other "
            f"{others} stages; each needs at least one"
        )))
    elif lay.virtual_stages > 1 and lay.pp > 1:
        # every chunk needs a layer, except that the first stage's first chunk may hold only the embedding and
        # the last stage's last chunk only the output layer (Llama 3, sec. 3.3.2)
        split = stage_layers(m.layers, lay.pp, lay.first_stage_layers, lay.last_stage_layers)
        room = [n + (1 if s in (0, lay.pp - 1) else 0) for s, n in enumerate(split)]
        if min(room) < lay.virtual_stages:
            fewest = split[room.index(min(room))]
            found.append(Problem((*par, "virtual_stages"), (
                f"interleaving needs a layer per chunk: a stage with {fewest} layers cannot run "
                f"{lay.virtual_stages} chunks (the first and last stages may give one chunk to the embedding or "
                f"output layer alone); use virtual_stages <= {max(1, min(room))} or fewer stages"
            )))
    if w.structured_sparsity and not cluster.accelerator.sparse_2_4:
        found.append(Problem(("structured_sparsity",), f"{cluster.accelerator.name} has no 2:4 sparse tensor cores"))
    if w.moe_capacity_factor != 1.0 and not m.is_moe:
        found.append(Problem(("moe_capacity_factor",), f"{m.name} is dense: capacity factors apply to MoE models"))
    if lay.pp > m.layers:
        found.append(Problem((*par, "pp"), f"pp {lay.pp} exceeds the model's {m.layers} layers"))
    if m.position is PositionKind.LEARNED and w.seq_len > m.max_seq_len:
        found.append(Problem(("seq_len",), (
            f"{m.name} has learned positions for {m.max_seq_len} tokens; seq_len must be at most that "
            f"(or give the model a larger max_seq_len)"
        )))
    if w.precision is Precision.FP8 and cluster.accelerator.peak_fp8_flops is None:
        found.append(Problem(("precision",), f"{cluster.accelerator.name} has no fp8 tensor cores; use bf16"))
    if found:
        return found
    memory = training_memory(training_plan(w, cluster).step, w.memory_reserve_bytes)
    if memory.headroom_bytes < 0:
        terms = memory.terms()
        largest = next(iter(terms))
        listed = ", ".join(f"{k} {format_si(v, 'B', binary=True)}" for k, v in terms.items())
        found.append(Problem(par, (
            f"{m.name} does not fit: needs {format_si(memory.total_bytes, 'B', binary=True)} per GPU, "
            f"{cluster.accelerator.name} has {format_si(memory.capacity_bytes, 'B', binary=True)} "
            f"(over by {format_si(-memory.headroom_bytes, 'B', binary=True)}); the largest term is {largest} "
            f"({listed}); {_memory_advice(w, largest)}"
        )))
    return found


def _memory_advice(w: TrainingWorkload, largest: str) -> str:
    lay = w.parallelism
    ideas = []
    if largest in {"optimizer", "gradients", "weights"} or lay.activation_recompute is Recompute.FULL:
        if lay.zero_stage < 3 and lay.dp > 1:
            ideas.append(f"zero_stage: {lay.zero_stage + 1}")
        ideas.append("a larger tp or pp")
    else:
        ideas.append("activation_recompute: full")
        if lay.micro_batch_size > 1:
            ideas.append("a smaller micro_batch_size")
        ideas.append("a larger tp, cp or pp")
    return "try " + ", ".join(ideas)


def _inference_problems(w: InferenceWorkload, scenario: Scenario, cluster: ClusterSpec, decoding: ClusterSpec,
                        usable: int) -> list[Problem]:
    """Problems of a service on `cluster` (its pool's view), its decode replicas on `decoding`'s."""
    m, acc = w.model, cluster.accelerator
    found: list[Problem] = []
    if w.gpus > usable:
        found.append(Problem((), (
            f"the service needs {w.gpus} GPUs (its replicas, autoscaling maximum and decode pool), but "
            f"{'the cluster has' if cluster.pools is None else 'its pools have'} {usable}"
        )))
    tps: list[tuple[Path, int]] = [(("tp",), w.tp)]
    pps: list[tuple[Path, int]] = [(("pp",), w.pp)]
    if w.disaggregation is not None:
        tps.append((("disaggregation", "decode_tp"), w.decode_tp))
        pps.append((("disaggregation", "decode_pp"), w.decode_pp))
    for where, tp in tps:
        if m.heads % tp:
            found.append(Problem(where, f"tp {tp} must divide the model's {m.heads} attention heads"))
    if w.expert_parallel and not m.is_moe:
        found.append(Problem(("expert_parallel",), f"{m.name} is dense: expert parallelism needs an MoE model"))
    elif w.expert_parallel and any(m.experts % tp for _, tp in tps):
        found.append(Problem(("expert_parallel",), (
            f"expert parallelism spreads the {m.experts} experts over tp GPUs: tp "
            f"({', '.join(str(tp) for _, tp in tps)}) must divide them"
        )))
    for where, pp in pps:
        if pp > m.layers:
            found.append(Problem(where, f"pp {pp} exceeds the model's {m.layers} layers"))
    for where, precision in ((("precision",), w.precision), (("kv_cache_precision",), w.kv_cache_precision)):
        for chip in dict.fromkeys((acc, decoding.accelerator)):
            if precision is Precision.FP8 and chip.peak_fp8_flops is None:
                found.append(Problem(where, f"{chip.name} has no fp8 support; use bf16"))
    if w.weight_bits is not None and w.weight_bits > 8 * w.precision.bytes:
        found.append(Problem(("weight_bits",), (
            f"weights stored in {w.weight_bits} bits are wider than {w.precision.value}; weight_bits may only narrow "
            f"them (e.g. 4 for int4)"
        )))
    if found:
        return found + _file_problems(w)
    for where, decode in ((("tp",), False), (("disaggregation", "decode_tp"), True)):
        if decode and w.disaggregation is None:
            continue
        on = decoding if decode else cluster
        cfg = serving_config(w, on, decode)
        if not decode and w.prefix_caching is not None and cfg.kv_capacity_tokens >= w.kv_block_tokens \
                and prefix_slots(w, cfg)[0] == 0:
            found.append(Problem(("prefix_caching", "cache_fraction"), (
                f"{w.prefix_caching.cache_fraction:g} of a replica's {cfg.kv_capacity_tokens:,} KV-cache tokens "
                f"cannot hold one prefix of {w.prefix_caching.prefix_tokens:,} tokens; raise cache_fraction"
            )))
        if cfg.kv_capacity_tokens < w.kv_block_tokens:
            found.append(Problem(where, (
                f"{m.name} does not fit for serving: weights {format_si(cfg.weight_bytes_per_gpu, 'B', binary=True)} "
                f"per GPU at tp {cfg.tp}, pp {cfg.pp} plus workspace "
                f"{format_si(w.workspace_bytes, 'B', binary=True)} leave no "
                f"room for a KV-cache block in {on.accelerator.name}'s "
                f"{format_si(on.accelerator.hbm_bytes, 'B', binary=True)}; try a "
                f"larger tp or pp, fp8 or int4 weights (precision, weight_bits), or a smaller workspace"
            )))
    return found + _file_problems(w)


def _file_problems(w: InferenceWorkload) -> list[Problem]:
    """Trace and length files that cannot be read or lack a column."""
    files: list[tuple[Path, str, list[str]]] = []
    if isinstance(w.arrivals, TraceArrivals):
        a = w.arrivals
        files.append((("arrivals", "path"), a.path, [a.time_column, a.input_column, a.output_column]))
    for key in ("input_tokens", "output_tokens"):
        length = getattr(w, key)
        if isinstance(length, EmpiricalLength):
            files.append(((key, "path"), length.path, [length.column]))
    found = []
    for where, path, columns in files:
        try:
            check_columns(path, columns)
        except TraceError as err:
            found.append(Problem(where, str(err)))
    return found


def _job_problems(source: JobSource, usable: int, quotas: dict[str, int], cluster: ClusterSpec) -> list[Problem]:
    """Job sizes the cluster or their tenant's quota cannot hold, and job traces that cannot be read."""
    if isinstance(source, GeneratedJobs):
        spec = source.gpus
        largest = max(spec.values) if isinstance(spec, ChoiceGpus) else spec.max
        if largest > usable:
            return [Problem(("gpus",), f"jobs of up to {largest:,} GPUs, but the cluster has {usable:,}")]
        return [Problem(("gpus",), message)
                for message in _over_quota(quotas, dict.fromkeys(source.tenants, largest), "jobs of up to")]
    try:
        trace = load_job_trace(source.path, source.columns())
    except (TraceError, OSError, UnicodeDecodeError) as err:
        return [Problem(("path",), str(err))]
    if int(trace.gpus.max()) > usable:
        return [Problem(("path",), f"a job needs {int(trace.gpus.max()):,} GPUs, but the cluster has {usable:,}")]
    try:
        trace_runs(source, trace, cluster)
    except TraceError as err:
        return [Problem(("path",), str(err))]
    biggest: dict[str, int] = {}
    for tenant, gpus in zip(trace.tenants, trace.gpus.tolist(), strict=True):
        biggest[tenant] = max(biggest.get(tenant, 0), gpus)
    return [Problem(("path",), message) for message in _over_quota(quotas, biggest, "a job of")]
