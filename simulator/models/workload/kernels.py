"""Roofline time of one GPU kernel: the larger of its compute time (at a fitted fraction of the tensor peak)
and its memory time (at a fitted fraction of HBM bandwidth), plus a fixed launch-and-tail overhead.

Three parameters per accelerator generation, fitted once on measured operator times
(benchmarks/fit_kernel_model.py on ../shared/data/vidur-profiles): `matmul_efficiency`,
`memory_efficiency` and `kernel_overhead`. Small GEMMs come out less efficient because the overhead
weighs more, not because of a per-shape constant.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.models.hardware import Accelerator


@dataclass(frozen=True)
class Kernel:
    """Work of one kernel (or `launches` identical ones): FLOPs on the tensor cores and bytes through HBM."""

    name: str
    flops: float
    bytes: float
    peak_flops: float  # tensor peak that applies (precision, 2:4 sparsity); unused when flops == 0
    launches: int = 1

    def scaled(self, factor: float) -> Kernel:
        """The same kernel doing `factor` times the work (a backward pass, a longer sequence)."""
        return Kernel(self.name, self.flops * factor, self.bytes * factor, self.peak_flops, self.launches)


def roofline_s(kernel: Kernel, accelerator: Accelerator) -> tuple[float, float]:
    """(compute, memory) seconds of `kernel` on `accelerator` at the fitted efficiencies."""
    compute = kernel.flops / (kernel.peak_flops * accelerator.matmul_efficiency) if kernel.flops > 0 else 0.0
    return compute, kernel.bytes / (accelerator.hbm_bandwidth_bytes_per_s * accelerator.memory_efficiency)


def kernel_time_s(kernel: Kernel, accelerator: Accelerator) -> float:
    """Seconds for `kernel` on `accelerator`: max(compute, memory) plus launch overhead."""
    return max(roofline_s(kernel, accelerator)) + kernel.launches * accelerator.kernel_overhead_s


def gemm(name: str, m: float, n: float, k: float, peak_flops: float, element_bytes: float = 2.0,
         launches: int = 1) -> Kernel:
    """A matrix multiply (m x k) @ (k x n): 2mnk FLOPs, reads both inputs and writes the output once."""
    return Kernel(name, 2.0 * m * n * k, element_bytes * (m * k + k * n) + 2.0 * m * n, peak_flops, launches)


def elementwise(name: str, bytes_moved: float, launches: int = 1) -> Kernel:
    """A memory-bound operator (norm, activation, residual add, softmax) moving `bytes_moved` bytes."""
    return Kernel(name, 0.0, bytes_moved, 1.0, launches)
