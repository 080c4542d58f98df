"""Fit the kernel roofline (simulator/models/workload/kernels.py) to measured operator times: per GPU generation,
`matmul_efficiency` and `kernel_overhead` on the GEMMs; `memory_efficiency` on all memory-bound operators pooled
with that overhead (the traffic of no `MemoryKind`); then one efficiency per memory kind (streaming on the
residual add, normalising on RMSNorm, activation on SiLU-and-mul, rotary on RoPE) with one shared
`elementwise_overhead`. Prints the fits and the per-operator errors of the pooled and the per-kind model; the
catalog stores the values.

Data: Vidur's per-operator times (Agrawal et al., MLSys 2024; github.com/microsoft/vidur data/profiling
@7d47513, MIT) in tests/data/vidur-profiles/compute/{a100,h100}/<model>/mlp.csv (milliseconds), one row
per (num_tokens, tensor-parallel degree) for Llama-2 7B and 70B layers on one GPU. GEMMs (K, N per rank):
    attn_pre_proj  K = n_embd, N = (n_head + 2 n_kv_head) head_dim / tp
    attn_post_proj K = n_head head_dim / tp, N = n_embd
    mlp_up_proj    K = n_embd, N = 2 n_expanded_embd / tp (gated)
    mlp_down_proj  K = n_expanded_embd / tp, N = n_embd
Memory-bound operators (bytes moved, bf16; Sarathi's kernels as Vidur profiles them): input/post-attention
RMSNorm 4 T h (normalising), SiLU-and-multiply 6 T f / tp (activation), residual add 6 T h (streaming), RoPE
4 T (n_head + n_kv_head) head_dim / tp (rotary).
Each fit minimises the RMS log error over rows with num_tokens >= 1024 (training-sized), on a grid. Two models of
L2-resident tensors (the first L2-size bytes discounted by a fitted fraction; the producer's output read from L2)
were tried and reduced the per-kind model's median error by under half a point, so none is kept.

Usage: python benchmarks/fit_kernel_model.py [COMPUTE_DIR]   (default: tests/data/vidur-profiles/compute)
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator import catalog  # noqa: E402
from simulator.models.hardware import MemoryKind  # noqa: E402
from simulator.models.workload.kernels import Kernel, elementwise, gemm, kernel_time_s  # noqa: E402

GPUS = {"a100": "a100-80gb-sxm", "h100": "h100-sxm"}
MODELS = ("Llama-2-7b-hf", "Llama-2-70b-hf")
MIN_TOKENS = 1024


def measured(profiles: Path, gpu: str) -> Iterator[tuple[str, int, Kernel, float]]:
    """(operator, tokens, kernel, measured seconds) for every operator of every row."""
    peak = catalog.accelerator(GPUS[gpu]).peak_bf16_flops
    for model in MODELS:
        with (profiles / gpu / model / "mlp.csv").open() as f:
            for row in csv.DictReader(f):
                t, tp = int(row["num_tokens"]), int(row["num_tensor_parallel_workers"])
                h, a, kv = int(row["n_embd"]), int(row["n_head"]), int(row["n_kv_head"])
                ffn, d = int(row["n_expanded_embd"]), int(row["n_embd"]) // int(row["n_head"])
                kernels = {
                    "attn_pre_proj": gemm("qkv", t, (a + 2 * kv) * d / tp, h, peak),
                    "attn_post_proj": gemm("out", t, h, a * d / tp, peak),
                    "mlp_up_proj": gemm("up", t, 2 * ffn / tp, h, peak),
                    "mlp_down_proj": gemm("down", t, h, ffn / tp, peak),
                    "input_layernorm": elementwise("norm", 4 * t * h, MemoryKind.NORMALISING),
                    "post_attention_layernorm": elementwise("norm", 4 * t * h, MemoryKind.NORMALISING),
                    "mlp_act": elementwise("act", 6 * t * ffn / tp, MemoryKind.ACTIVATION),
                    "add": elementwise("add", 6 * t * h, MemoryKind.STREAMING),
                    "attn_rope": elementwise("rope", 4 * t * (a + kv) * d / tp, MemoryKind.ROTARY),
                }
                for op, kernel in kernels.items():
                    yield op, t, kernel, float(row[f"time_stats.{op}.median"]) * 1e-3


def _log_errors(points: list[tuple[str, int, Kernel, float]], bandwidth: float, matmul: float,
                memory: float | np.ndarray, overhead: float) -> np.ndarray:
    """log(predicted / measured) for every point: kernel_time_s, vectorised for the grid search; `memory` is one
    efficiency for all points or one per point."""
    flops = np.array([k.flops for _, _, k, _ in points])
    moved = np.array([k.bytes for _, _, k, _ in points])
    peak = np.array([k.peak_flops for _, _, k, _ in points])
    seconds = np.array([t for *_, t in points])
    predicted = np.maximum(flops / (peak * matmul), moved / (bandwidth * memory)) + overhead
    return np.log(predicted / seconds)


def _fit_kinds(points: list[tuple[str, int, Kernel, float]], bandwidth: float) -> dict[str, float]:
    """Per-kind efficiencies and the shared elementwise overhead minimising the RMS log error: for each overhead
    on the grid the kinds' efficiencies are independent one-dimensional fits."""
    kinds = sorted({p[2].kind for p in points if p[2].kind is not None})
    best: tuple[float, float, dict[MemoryKind, float]] | None = None
    for overhead in np.arange(0.0, 8.5e-6, 0.5e-6):
        total, effs = 0.0, {}
        for kind in kinds:
            subset = [p for p in points if p[2].kind is kind]
            grid = np.arange(0.20, 1.50, 0.01)
            errors = [float(np.sum(_log_errors(subset, bandwidth, 1.0, e, overhead) ** 2)) for e in grid]
            effs[kind] = float(grid[int(np.argmin(errors))])
            total += min(errors)
        if best is None or total < best[0]:
            best = (total, float(overhead), effs)
    assert best is not None
    _, overhead, effs = best
    return {**{f"{kind.value}_efficiency": round(e, 2) for kind, e in effs.items()},
            "elementwise_overhead_s": round(overhead, 7)}


def _report(label: str, points: list[tuple[str, int, Kernel, float]], rel: np.ndarray) -> None:
    """Median / p90 |error| and bias of `rel`, and its median per operator."""
    print(f"    {label:<34} median |error| {np.median(np.abs(rel)):6.1%}  p90 {np.quantile(np.abs(rel), 0.9):6.1%}  "
          f"bias {np.median(rel):+6.1%}")
    by_op: dict[str, list[float]] = {}
    for p, e in zip(points, rel, strict=True):
        by_op.setdefault(p[0], []).append(abs(float(e)))
    print("      median |error| by operator: "
          + ", ".join(f"{op} {statistics.median(v):.0%}" for op, v in by_op.items()))


def fit(profiles: Path, gpu: str) -> dict[str, float]:
    """Fitted parameters for one GPU generation, and their errors printed."""
    acc = catalog.accelerator(GPUS[gpu])
    bandwidth = acc.hbm_bandwidth_bytes_per_s
    points = [p for p in measured(profiles, gpu) if p[1] >= MIN_TOKENS]
    gemms = [p for p in points if p[2].flops > 0]
    memory = [p for p in points if p[2].flops == 0]
    grid = [(e, t0) for e in np.arange(0.50, 0.95, 0.01) for t0 in np.arange(0.0, 20.5e-6, 0.5e-6)]
    matmul, overhead = min(grid, key=lambda g: float(np.mean(_log_errors(gemms, bandwidth, g[0], 1.0, g[1]) ** 2)))
    pooled = min(np.arange(0.30, 1.0, 0.01),
                 key=lambda e: float(np.mean(_log_errors(memory, bandwidth, 1.0, e, overhead) ** 2)))
    fitted = {"matmul_efficiency": round(float(matmul), 2), "memory_efficiency": round(float(pooled), 2),
              "kernel_overhead_s": round(float(overhead), 7), **_fit_kinds(memory, bandwidth)}
    check = acc.model_copy(update=fitted)
    rel = np.array([kernel_time_s(k, check) / t - 1 for _, _, k, t in points])  # the simulator's own pricing
    gemm_rel = np.exp(_log_errors(gemms, bandwidth, fitted["matmul_efficiency"], 1.0, fitted["kernel_overhead_s"]))
    assert np.allclose(gemm_rel - 1, rel[[p[2].flops > 0 for p in points]])
    print(f"  {gpu}: {len(gemms)} GEMM rows, {len(memory)} memory-bound rows (num_tokens >= {MIN_TOKENS})")
    _report("GEMMs", gemms, rel[[p[2].flops > 0 for p in points]])
    pooled_rel = np.exp(_log_errors(memory, bandwidth, 1.0, fitted["memory_efficiency"], overhead)) - 1
    _report("memory-bound, one efficiency (before)", memory, pooled_rel)
    _report("memory-bound, per kind (after)", memory, rel[[p[2].flops == 0 for p in points]])
    return fitted


def main() -> int:
    profiles = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "vidur-profiles" / "compute"
    if not profiles.is_dir():
        print(f"{profiles} not found: pass a folder of Vidur's compute profiles", file=sys.stderr)
        return 1
    for gpu in GPUS:
        print(f"{gpu}: {fit(profiles, gpu)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
