"""Fit `matmul_efficiency` (fraction of dense BF16 peak that training-sized GEMMs reach) for A100 and H100.

Data: Vidur's measured per-operator times (Agrawal et al., MLSys 2024; github.com/microsoft/vidur
data/profiling @7d47513, MIT), copied to shared/data/vidur-profiles/compute/{a100,h100}/<model>/mlp.csv.
Times are in milliseconds. For each GEMM operator of one transformer layer, sharded over
`num_tensor_parallel_workers` (tp) GPUs:

    attn_pre_proj   fused QKV   K = n_embd                N = (n_head + 2 n_kv_head) * head_dim / tp
    attn_post_proj  output      K = n_head * head_dim / tp  N = n_embd
    mlp_up_proj     gate+up     K = n_embd                N = (2 if gated else 1) * n_expanded_embd / tp
    mlp_down_proj   down        K = n_expanded_embd / tp   N = n_embd

with head_dim = n_embd / n_head. FLOPs = 2 * num_tokens * K * N; achieved = FLOPs / median time; the
fraction is achieved / dense BF16 peak. Only rows with num_tokens >= 2048 (training-sized GEMMs) count.
The fitted value per GPU is the median fraction over all those rows (every model and operator).

Usage: python benchmarks/fit_matmul_efficiency.py [SHARED_DIR]   (default: ../shared from the repo root)
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO_ROOT.parent / "shared"
PROFILES = Path("data") / "vidur-profiles" / "compute"

PEAK_BF16_FLOPS = {"a100": 312e12, "h100": 989e12}  # dense, NVIDIA datasheets
OPS = ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj")
MIN_TOKENS = 2048


def gemm_k_n(op: str, row: dict[str, str]) -> tuple[float, float]:
    """Inner (K) and output (N) size of one GEMM operator on one tensor-parallel rank."""
    embd, heads, kv_heads = int(row["n_embd"]), int(row["n_head"]), int(row["n_kv_head"])
    expanded, tp = int(row["n_expanded_embd"]), int(row["num_tensor_parallel_workers"])
    gated = row["use_gated_mlp"].strip().lower() == "true"
    head_dim = embd // heads
    if op == "attn_pre_proj":
        return embd, (heads + 2 * kv_heads) * head_dim / tp
    if op == "attn_post_proj":
        return heads * head_dim / tp, embd
    if op == "mlp_up_proj":
        return embd, (2 if gated else 1) * expanded / tp
    if op == "mlp_down_proj":
        return expanded / tp, embd
    raise ValueError(f"not a GEMM operator: {op}")


def fractions(csv_path: Path, peak: float) -> dict[str, list[float]]:
    """Fraction of peak for every training-sized row, per operator."""
    out: dict[str, list[float]] = {op: [] for op in OPS}
    with csv_path.open(newline="") as f:
        for row in csv.DictReader(f):
            tokens = int(row["num_tokens"])
            if tokens < MIN_TOKENS:
                continue
            for op in OPS:
                k, n = gemm_k_n(op, row)
                seconds = float(row[f"time_stats.{op}.median"]) * 1e-3
                out[op].append(2.0 * tokens * k * n / seconds / peak)
    return out


def quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile of a non-empty list."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def main(argv: list[str]) -> int:
    shared = Path(argv[1]) if len(argv) > 1 else DEFAULT_SHARED
    root = shared / PROFILES
    if not root.is_dir():
        print(f"error: profile folder {root} not found; pass the shared folder as the first argument",
              file=sys.stderr)
        return 1
    print(f"Vidur GEMM profiles in {root}; rows with num_tokens >= {MIN_TOKENS}; fraction of dense BF16 peak")
    print(f"{'gpu':<5} {'model':<16} {'op':<15} {'rows':>5} {'median':>7} {'p10':>6} {'p90':>6}")
    fitted: dict[str, float] = {}
    for gpu, peak in PEAK_BF16_FLOPS.items():
        everything: list[float] = []
        for csv_path in sorted((root / gpu).glob("*/mlp.csv")):
            for op, values in fractions(csv_path, peak).items():
                if not values:
                    continue
                everything.extend(values)
                print(f"{gpu:<5} {csv_path.parent.name:<16} {op:<15} {len(values):>5} "
                      f"{statistics.median(values):>7.3f} {quantile(values, 0.1):>6.3f} "
                      f"{quantile(values, 0.9):>6.3f}")
        if not everything:
            print(f"error: no training-sized GEMM rows under {root / gpu}", file=sys.stderr)
            return 1
        fitted[gpu] = statistics.median(everything)
        print(f"{gpu:<5} {'all':<16} {'all GEMMs':<15} {len(everything):>5} {fitted[gpu]:>7.3f} "
              f"{quantile(everything, 0.1):>6.3f} {quantile(everything, 0.9):>6.3f}")
    print()
    for gpu, value in fitted.items():
        print(f"fitted matmul_efficiency {gpu}: {value:.2f}")
    mean = statistics.fmean(fitted.values())
    print(f"mean of fitted values (assumed for other accelerators): {mean:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
