"""Check the kernel roofline on a real GPU (run it on the device machine; it needs PyTorch and CUDA, which the
project does not): the GEMMs of Llama-3.1-405B's layer under Meta's TP8 at 8,192 tokens (forward, input
gradient, weight gradient) timed as short bursts and again back to back for a sustained stretch with the SM
clock read throughout, causal FlashAttention forward and backward at 8K (PyTorch SDPA), and an HBM copy. Each
figure is printed next to what the step model (simulator/models/workload/kernels.py) predicts for the same
work, so the gap between the model and the silicon shows per kernel.

Why: the model's H100 GEMMs run at the matmul efficiency fitted on Vidur's short operator profiles, while Llama
3's published throughput implies a lower sustained rate (docs/training-model.md, "Accuracy"); clocks under the
power cap during hours of back-to-back GEMMs are one candidate cause this measures.

Usage (device machine): python3 benchmarks/device_kernel_check.py [--sustain-s 90] [--out DIR]
Writes DIR/device_kernel_check.json (default $OUT or .) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator import catalog  # noqa: E402
from simulator.models.workload.kernels import gemm, kernel_time_s  # noqa: E402

# Llama-3.1-405B, TP8, 8,192 tokens per micro-batch: (name, m, n, k) of the forward GEMMs on one GPU
H, FFN, HEADS, KV, D, TP, TOKENS = 16384, 53248, 128, 8, 128, 8, 8192
FORWARD = [("qkv", TOKENS, (HEADS + 2 * KV) * D // TP, H), ("attention out", TOKENS, H, HEADS * D // TP),
           ("mlp up", TOKENS, 2 * FFN // TP, H), ("mlp down", TOKENS, H, FFN // TP)]


def shapes() -> list[tuple[str, int, int, int]]:
    """Forward, input-gradient and weight-gradient GEMMs of one layer: (label, m, n, k)."""
    found = []
    for name, m, n, k in FORWARD:
        found += [(f"{name} fwd", m, n, k), (f"{name} dgrad", m, k, n), (f"{name} wgrad", n, k, m)]
    return found


def sm_clock_mhz() -> float | None:
    """The SM clock nvidia-smi reads now, or None without it."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=clocks.sm", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return float(out.split()[0])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def main() -> None:
    """Measure, compare with the model, print and save."""
    import torch  # the device machine's; not a project dependency
    import torch.nn.functional as functional

    parser = argparse.ArgumentParser()
    parser.add_argument("--sustain-s", type=float, default=90.0)
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    args = parser.parse_args()
    acc = catalog.accelerator("h100-sxm")
    peak = acc.peak_bf16_flops
    device = torch.device("cuda")
    results: dict[str, Any] = {"device": torch.cuda.get_device_name(), "rows": [], "sustained": []}

    def timed(fn: Any, repeats: int) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        fn()
        torch.cuda.synchronize()
        start.record()
        for _ in range(repeats):
            fn()
        end.record()
        torch.cuda.synchronize()
        return float(start.elapsed_time(end)) / 1e3 / repeats

    operands = {}
    for label, m, n, k in shapes():
        a = torch.randn(m, k, device=device, dtype=torch.bfloat16)
        b = torch.randn(k, n, device=device, dtype=torch.bfloat16)
        operands[label] = (a, b)
        seconds = timed(lambda a=a, b=b: a @ b, 20)
        model_s = kernel_time_s(gemm(label, m, n, k, peak), acc)
        results["rows"].append({"kernel": label, "measured_s": seconds, "model_s": model_s,
                                "measured_tflops": 2 * m * n * k / seconds / 1e12,
                                "fraction_of_peak": 2 * m * n * k / seconds / peak})

    # the same GEMMs back to back for a sustained stretch, clock and throughput read every few seconds
    deadline = time.perf_counter() + args.sustain_s
    while time.perf_counter() < deadline:
        flops, seconds = 0.0, 0.0
        for label, m, n, k in shapes():
            a, b = operands[label]
            seconds += timed(lambda a=a, b=b: a @ b, 5)
            flops += 2.0 * m * n * k
        results["sustained"].append({"t_s": args.sustain_s - (deadline - time.perf_counter()),
                                     "tflops": flops / seconds / 1e12, "sm_clock_mhz": sm_clock_mhz()})

    q = torch.randn(1, HEADS // TP, TOKENS, D, device=device, dtype=torch.bfloat16, requires_grad=True)
    k_, v = (torch.randn_like(q, requires_grad=True) for _ in range(2))
    forward_s = timed(lambda: functional.scaled_dot_product_attention(q, k_, v, is_causal=True), 20)
    out = functional.scaled_dot_product_attention(q, k_, v, is_causal=True)
    grad = torch.randn_like(out)
    backward_s = timed(lambda: out.backward(grad, retain_graph=True), 10)
    causal_flops = 2.0 * TOKENS * TOKENS * (HEADS // TP) * 2 * D * 0.5
    results["attention"] = {"forward_s": forward_s, "backward_s": backward_s,
                            "forward_fraction": causal_flops / forward_s / peak,
                            "backward_fraction": 2.5 * causal_flops / backward_s / peak}
    buffer = torch.empty(2**30, device=device, dtype=torch.uint8)
    copy = torch.empty_like(buffer)
    copy_s = timed(lambda: copy.copy_(buffer), 20)
    results["hbm_copy_fraction"] = 2 * buffer.numel() / copy_s / acc.hbm_bandwidth_bytes_per_s

    for row in results["rows"]:
        print(f"{row['kernel']:>20}  measured {row['measured_tflops']:6.0f} TFLOP/s ({row['fraction_of_peak']:.2f})"
              f"  model/measured {row['model_s'] / row['measured_s']:.2f}")
    first, last = results["sustained"][0], results["sustained"][-1]
    print(f"sustained: {first['tflops']:.0f} -> {last['tflops']:.0f} TFLOP/s, SM clock {first['sm_clock_mhz']} -> "
          f"{last['sm_clock_mhz']} MHz over {args.sustain_s:.0f} s")
    print(f"attention fwd {results['attention']['forward_fraction']:.2f}, bwd "
          f"{results['attention']['backward_fraction']:.2f} of peak; HBM copy {results['hbm_copy_fraction']:.2f}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "device_kernel_check.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
