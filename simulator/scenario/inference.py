"""The schema of `kind: inference` workloads: a served model on replicas, the requests that reach it (arrival
process, prompt and output lengths, or a replayed trace), the scheduler and router, disaggregation,
autoscaling, failure policy and the latency SLO it is judged against."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from simulator.base import Strict
from simulator.models.hardware import Precision
from simulator.scenario.policies import LoadMetricName, RouterName
from simulator.scenario.refs import NAME_PATTERN, ModelRef
from simulator.units import Bytes, Duration, NonNegativeDuration, PositiveBandwidth

MAX_REQUESTS = 10_000_000  # ~0.15 ms each to simulate (benchmarks/bench_serving.py): 25 min at the limit
MAX_RATE_PER_S = 1e7


def _relative_to_scenario(path: str, info: ValidationInfo) -> str:
    """A relative path is relative to the scenario file's folder (the loader passes it as `base_dir`)."""
    base = (info.context or {}).get("base_dir")
    return str(Path(base) / path) if base is not None and not Path(path).is_absolute() else path


CsvPath = Annotated[str, Field(min_length=1), AfterValidator(_relative_to_scenario)]


class PoissonArrivals(Strict):
    """Exponential gaps at a constant rate."""

    kind: Literal["poisson"]
    rate_per_s: float = Field(alias="rate", gt=0, le=MAX_RATE_PER_S, description="mean requests per second")
    requests: int = Field(gt=0, le=MAX_REQUESTS, description="requests to generate")


class GammaArrivals(Strict):
    """Gamma-distributed gaps: bursty when the coefficient of variation is above 1 (Poisson at 1)."""

    kind: Literal["gamma"]
    rate_per_s: float = Field(alias="rate", gt=0, le=MAX_RATE_PER_S, description="mean requests per second")
    cv: float = Field(gt=0, le=100, description="coefficient of variation of the gaps (1 = Poisson)")
    requests: int = Field(gt=0, le=MAX_REQUESTS, description="requests to generate")


class DiurnalArrivals(Strict):
    """A Poisson process whose rate follows a repeating curve: equal slots of the period, one rate each."""

    kind: Literal["diurnal"]
    rates_per_s: list[Annotated[float, Field(ge=0, le=MAX_RATE_PER_S)]] = Field(
        alias="rates", min_length=1, max_length=10_000, description="requests per second in each slot, in order"
    )
    period_s: Duration = Field(86_400.0, alias="period", gt=0, description="length of one cycle (default 1 day)")
    requests: int = Field(gt=0, le=MAX_REQUESTS, description="requests to generate")

    @field_validator("rates_per_s")
    @classmethod
    def _some_traffic(cls, rates: list[float]) -> list[float]:
        if not any(rates):
            raise ValueError("the rates are all zero: no request would ever arrive")
        return rates


class TraceArrivals(Strict):
    """Replay a CSV trace (header row; one request per row): arrival times and, unless lengths are given
    otherwise, its token counts. The Azure LLM inference traces replay with the default columns."""

    kind: Literal["trace"]
    path: CsvPath = Field(description="CSV file, relative to the scenario file")
    time_column: str = Field("TIMESTAMP", description="column of arrival times: seconds or timestamps")
    input_column: str = Field("ContextTokens", description="column of prompt tokens")
    output_column: str = Field("GeneratedTokens", description="column of generated tokens")
    time_scale: float = Field(
        1.0, gt=0, le=1e6, description="multiplies the trace's times: 0.5 replays twice as fast (double the load)"
    )
    requests: int | None = Field(None, gt=0, le=MAX_REQUESTS, description="replay only the first N rows")


Arrivals = Annotated[
    PoissonArrivals | GammaArrivals | DiurnalArrivals | TraceArrivals, Field(discriminator="kind")
]


class FixedLength(Strict):
    """Every request the same length."""

    kind: Literal["fixed"]
    tokens: int = Field(gt=0, le=10_000_000, description="tokens")


class UniformLength(Strict):
    """Uniform on low..high, both included."""

    kind: Literal["uniform"]
    low: int = Field(gt=0, le=10_000_000, description="fewest tokens")
    high: int = Field(gt=0, le=10_000_000, description="most tokens")

    @model_validator(mode="after")
    def _ordered(self) -> UniformLength:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self


class LognormalLength(Strict):
    """Lognormal around a median, rounded and clipped."""

    kind: Literal["lognormal"]
    median: float = Field(gt=0, le=10_000_000, description="median tokens")
    sigma: float = Field(ge=0, le=10, description="standard deviation of the log")
    min: int = Field(1, gt=0, le=10_000_000, description="fewest tokens")
    max: int | None = Field(None, gt=0, le=10_000_000, description="most tokens (default: unbounded)")


class EmpiricalLength(Strict):
    """Drawn with replacement from a column of a CSV file (such as a trace's token counts)."""

    kind: Literal["empirical"]
    path: CsvPath = Field(description="CSV file with a header row, relative to the scenario file")
    column: str = Field(min_length=1, description="column of token counts")


class TraceLength(Strict):
    """The token counts of the replayed trace's own rows (only with `arrivals: {kind: trace}`)."""

    kind: Literal["trace"]


def _fixed_shorthand(value: Any) -> Any:
    """`input_tokens: 512` means `{kind: fixed, tokens: 512}`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {"kind": "fixed", "tokens": value}
    return value


Length = Annotated[
    FixedLength | UniformLength | LognormalLength | EmpiricalLength | TraceLength,
    Field(discriminator="kind"),
    BeforeValidator(_fixed_shorthand),
]


class PrefixCachingSpec(Strict):
    """Requests that share the start of their prompt (a system prompt, a conversation so far) and replicas that
    keep the shared part cached (vLLM automatic prefix caching, SGLang RadixAttention): a request whose prefix
    its replica holds computes only the rest of its prompt, and the prefix's KV blocks are not its own."""

    prefix_tokens: int = Field(gt=0, le=10_000_000, description="shared tokens at the start of each prompt "
                               "(capped at the prompt length)")
    groups: int = Field(gt=0, le=10_000_000, description="distinct shared prefixes; each request has one")
    zipf_exponent: float = Field(
        0.0, ge=0, le=5, description="popularity of the prefixes: group k drawn with weight 1/k^s (0: uniform)"
    )
    cache_fraction: float = Field(
        0.1, gt=0, lt=1, description="of a replica's KV-cache blocks kept for cached prefixes (least recently "
        "used ones are forgotten)",
    )


class SloSpec(Strict):
    """The latency a request must meet to count as served well."""

    ttft_s: Duration = Field(alias="ttft", gt=0, description="time to first token, from arrival")
    tpot_s: Duration = Field(alias="tpot", gt=0, description="time per output token after the first (mean per request)")


class DisaggregationSpec(Strict):
    """Prefill/decode disaggregation (Splitwise, DistServe): the `replicas` only prefill, these only decode,
    and each request's KV cache moves between them over the network."""

    decode_replicas: int = Field(gt=0, le=100_000, description="replicas of the decode pool")
    decode_tp: int | None = Field(
        None, gt=0, le=1024, description="tensor parallelism of a decode replica (default: tp)"
    )
    decode_pp: int | None = Field(None, gt=0, le=256, description="pipeline stages of a decode replica (default: pp)")
    decode_max_batch: int | None = Field(
        None, gt=0, le=1 << 20, description="running sequences per decode iteration (default: max_batch)"
    )
    decode_pool: str | None = Field(
        None, max_length=100, description="cluster pool the decode replicas run on (default: the workload's pool)"
    )
    kv_transfer_bandwidth_bytes_per_s: PositiveBandwidth | None = Field(
        None, alias="kv_transfer_bandwidth",
        description="per GPU between the pools (default: the accelerator's NIC bandwidth; each TP rank sends its "
        "own KV shard)",
    )


class AutoscalingSpec(Strict):
    """Replicas added or removed on load: every interval, outstanding requests per serving replica above
    `scale_up_at` start one more (serving after the cold start, paid from its start); below `scale_down_at` an
    idle one is switched off. The service reserves GPUs for max_replicas; it pays only for those started."""

    metric: LoadMetricName = Field(
        "outstanding", description="load: outstanding requests per serving replica, or the fraction of the last "
        "interval they spent iterating (0..1)",
    )
    min_replicas: int = Field(1, gt=0, le=100_000, description="never fewer replicas")
    max_replicas: int = Field(gt=0, le=100_000, description="never more replicas")
    interval_s: Duration = Field(30.0, alias="interval", gt=0, description="how often the load is checked")
    scale_up_at: float = Field(8.0, gt=0, le=1e6, description="load above which a replica is added")
    scale_down_at: float = Field(1.0, ge=0, le=1e6, description="load below which an idle replica is removed")
    cold_start_s: NonNegativeDuration = Field(
        120.0, alias="cold_start", description="from start to serving: boot, weights load, CUDA graphs"
    )

    @model_validator(mode="after")
    def _ordered(self) -> AutoscalingSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) must be >= min_replicas ({self.min_replicas})")
        if self.scale_down_at >= self.scale_up_at:
            raise ValueError(f"scale_down_at ({self.scale_down_at}) must be below scale_up_at ({self.scale_up_at})")
        if self.metric == "busy" and self.scale_up_at > 1:
            raise ValueError(f"with metric busy the thresholds are fractions of time: scale_up_at ({self.scale_up_at}) "
                             "must be at most 1")
        return self


class InferenceWorkload(Strict):
    """A model served by replicas to a stream of requests, with continuous batching and a paged KV cache."""

    name: str = Field(pattern=NAME_PATTERN, max_length=100, description="unique name within the scenario")
    kind: Literal["inference"]
    model: ModelRef = Field(description="catalog name, inline mapping, or {base: name, ...}")
    replicas: int = Field(
        gt=0, le=100_000, description="replicas serving from the start (prefill pool when disaggregated)"
    )
    tp: int = Field(1, gt=0, le=1024, description="tensor-parallel GPUs per pipeline stage of a replica")
    pp: int = Field(
        1, gt=0, le=256, description="pipeline stages per replica (the batch runs as up to pp micro-batches in flight)"
    )
    expert_parallel: bool = Field(
        False, description="MoE models: whole experts spread over the tp GPUs, tokens dispatched and combined by "
        "all-to-alls (otherwise every expert is sliced over TP)",
    )
    precision: Precision = Field(Precision.BF16, description="linear-layer weights and GEMMs: bf16, fp16 or fp8")
    weight_bits: Literal[4, 8, 16] | None = Field(
        None, description="stored weight width when narrower than `precision` (4 = weight-only int4, AWQ/GPTQ: "
        "read at half a byte, multiplied at `precision`); default: the precision's width",
    )
    kv_cache_precision: Precision = Field(Precision.BF16, description="KV-cache elements: bf16, fp16 or fp8")
    kv_block_tokens: int = Field(16, gt=0, le=4096, description="tokens per paged KV-cache block (vLLM: 16)")
    kv_memory_fraction: float = Field(
        0.9, gt=0, le=1, description="of the memory left after weights and workspace, given to the KV cache"
    )
    workspace_bytes: Bytes = Field(
        2 * 2**30, alias="workspace", ge=0, description="per GPU for activations, CUDA graphs and allocator slack"
    )
    max_batch: int = Field(256, gt=0, le=1 << 20, description="running sequences per iteration")
    max_num_tokens: int = Field(
        8192, gt=0, le=1 << 24,
        description="tokens per iteration, decodes plus prefill chunk (Sarathi-Serve chunked prefill budget)",
    )
    iteration_overhead_s: NonNegativeDuration = Field(
        0.0, alias="iteration_overhead", le=10.0,
        description="scheduler and launch time per iteration (0 suits a C++ runtime with CUDA graphs such as "
        "TensorRT-LLM; a Python scheduler such as vLLM's costs milliseconds)",
    )
    reserve_output: bool = Field(
        False, description="reserve KV blocks for the whole output at admission, so nothing is preempted "
        "(TensorRT-LLM's guaranteed-no-evict); otherwise blocks are taken as tokens come (vLLM)",
    )
    preemption: Literal["recompute", "swap"] = Field(
        "recompute", description="when KV blocks run out: drop the victim's cache and recompute it, or swap it "
        "to host memory and back",
    )
    swap_bandwidth_bytes_per_s: PositiveBandwidth = Field(
        32e9, alias="swap_bandwidth",
        description="per GPU to host memory for swapping (default 32 GB/s: half of PCIe 5.0 x16's 64 GB/s, an "
        "assumption for pinned copies next to inference traffic)",
    )
    router: RouterName = Field(
        "least_outstanding", description="how a request picks a replica: in turn, fewest requests, the less "
        "loaded of two drawn at random, fewest tokens cached and queued (balances memory, not counts), or a "
        "replica caching its prefix unless it has more than twice the least busy one's requests plus one",
    )
    prefix_caching: PrefixCachingSpec | None = Field(None, description="shared prompt prefixes, cached per replica")
    disaggregation: DisaggregationSpec | None = Field(None, description="separate prefill and decode pools")
    autoscaling: AutoscalingSpec | None = Field(None, description="replicas started and stopped on load")
    on_failure: Literal["retry", "fail"] = Field(
        "retry", description="requests on a replica that fails: restarted on another (prompt and sent tokens "
        "recomputed) or reported failed",
    )
    slo: SloSpec
    pool: str | None = Field(
        None, max_length=100, description="cluster pool its replicas run on (default: the first pool)"
    )
    start_at_s: NonNegativeDuration = Field(0.0, alias="start_at", description="when the first arrival may come")
    tenant: str = Field("default", pattern=NAME_PATTERN, max_length=100, description="who pays for it")
    priority: int = Field(0, ge=-1000, le=1000, description="scheduling priority for its GPUs (higher first)")
    arrivals: Arrivals = Field(description="poisson, gamma, diurnal or trace")
    input_tokens: Length | None = Field(
        None, description="prompt lengths: fixed (or a number), uniform, lognormal, empirical, or trace (default "
        "with trace arrivals)",
    )
    output_tokens: Length | None = Field(
        None, description="generated lengths, as input_tokens",
    )

    @model_validator(mode="after")
    def _lengths_given(self) -> InferenceWorkload:
        replay = isinstance(self.arrivals, TraceArrivals)
        for key in ("input_tokens", "output_tokens"):
            spec = getattr(self, key)
            if spec is None and not replay:
                raise ValueError(f"give {key} (e.g. {key}: 512, or {{kind: lognormal, median: 512, sigma: 1}}); "
                                 "only trace arrivals bring their own lengths")
            if isinstance(spec, TraceLength) and not replay:
                raise ValueError(f"{key}: {{kind: trace}} needs arrivals: {{kind: trace, ...}}")
        if self.autoscaling is not None and not (
                self.autoscaling.min_replicas <= self.replicas <= self.autoscaling.max_replicas):
            raise ValueError(f"replicas ({self.replicas}) must lie within autoscaling's min_replicas..max_replicas "
                             f"({self.autoscaling.min_replicas}..{self.autoscaling.max_replicas})")
        return self

    @property
    def pool_replicas(self) -> int:
        """Replicas the main pool can reach (the autoscaler's maximum, or `replicas`)."""
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas

    @property
    def decode_tp(self) -> int:
        """Tensor parallelism of a decode replica."""
        d = self.disaggregation
        return d.decode_tp or self.tp if d else self.tp

    @property
    def decode_pp(self) -> int:
        """Pipeline stages of a decode replica."""
        d = self.disaggregation
        return d.decode_pp or self.pp if d else self.pp

    @property
    def starting_gpus(self) -> int:
        """GPUs the service needs before it starts: its first `replicas` and the decode pool."""
        d = self.disaggregation
        return self.replicas * self.tp * self.pp + (d.decode_replicas * self.decode_tp * self.decode_pp if d else 0)

    @property
    def gpus(self) -> int:
        """GPUs the service reserves: every replica the autoscaler may start, and the decode pool."""
        d = self.disaggregation
        decoders = d.decode_replicas * self.decode_tp * self.decode_pp if d else 0
        return self.pool_replicas * self.tp * self.pp + decoders
