"""Roofline time of one GPU kernel: the larger of its compute time (at a fitted fraction of the tensor peak)
and its memory time (at a fraction of HBM bandwidth set by its access pattern), plus a fixed launch-and-tail
overhead.

Per accelerator generation, fitted once on measured operator times (benchmarks/fit_kernel_model.py on
../shared/data/vidur-profiles): `matmul_efficiency` and `kernel_overhead` on GEMMs; for memory-bound
kernels one efficiency per `MemoryKind` (streaming, normalising, activation, rotary) and their own
`elementwise_overhead`; `memory_efficiency` for memory traffic of no kind (GEMM operands). Fused (flash)
attention and decode attention run at efficiencies from published kernel measurements (accelerators.yaml
`fused_attention`, docs/serving.md). Small GEMMs come out less efficient
because the overhead weighs more, not because of a per-shape constant. A power cap slows the compute side by
the clock it leaves (docs/fleets.md, "Power caps").
"""

from __future__ import annotations

from typing import NamedTuple

from simulator.models.hardware import Accelerator, MemoryKind

# kinds launched as small fused elementwise kernels, with their own fitted launch overhead
_ELEMENTWISE = frozenset({MemoryKind.STREAMING, MemoryKind.NORMALISING, MemoryKind.ACTIVATION, MemoryKind.ROTARY})


class Kernel(NamedTuple):
    """Work of one kernel (or `launches` identical ones): FLOPs on the tensor cores and bytes through HBM,
    read at the efficiency of its memory access pattern `kind` (None: GEMM-like operand reads). FLOPs run at
    `compute_efficiency` of the peak where the kernel has its own measured one (fused attention), else at the
    GEMM fit. (A named tuple: immutable and about six times cheaper to build than a frozen dataclass, and a
    serving replica's model builds a dozen per token count it meets.)"""

    name: str
    flops: float
    bytes: float
    peak_flops: float  # tensor peak that applies (precision, 2:4 sparsity); unused when flops == 0
    launches: int = 1
    kind: MemoryKind | None = None
    compute_efficiency: float | None = None  # None: the accelerator's matmul_efficiency

    def scaled(self, factor: float, compute_efficiency: float | None = None) -> Kernel:
        """The same kernel doing `factor` times the work (a backward pass, a longer sequence), at
        `compute_efficiency` if given (a backward kernel measured apart from its forward)."""
        return Kernel(self.name, self.flops * factor, self.bytes * factor, self.peak_flops, self.launches,
                      self.kind, compute_efficiency or self.compute_efficiency)


def roofline_s(kernel: Kernel, accelerator: Accelerator) -> tuple[float, float]:
    """(compute, memory) seconds of `kernel` on `accelerator` at the fitted efficiencies. Under a power cap the
    compute side runs at the capped SM clock (`Accelerator.clock_fraction`); HBM is not clocked down."""
    efficiency = kernel.compute_efficiency or accelerator.matmul_efficiency
    compute = kernel.flops / (kernel.peak_flops * efficiency) if kernel.flops > 0 else 0.0
    if accelerator.power_cap_w is not None:
        compute /= accelerator.clock_fraction
    bandwidth = accelerator.hbm_bandwidth_bytes_per_s * accelerator.memory_kind_efficiency(kernel.kind)
    return compute, kernel.bytes / bandwidth


def launch_overhead_s(kind: MemoryKind | None, accelerator: Accelerator) -> float:
    """Fixed seconds per launch: the elementwise overhead for elementwise kinds, else the GEMM one."""
    return accelerator.elementwise_overhead_s if kind in _ELEMENTWISE else accelerator.kernel_overhead_s


def kernel_time_s(kernel: Kernel, accelerator: Accelerator) -> float:
    """Seconds for `kernel` on `accelerator`: max(compute, memory) plus launch overhead."""
    return max(roofline_s(kernel, accelerator)) + kernel.launches * launch_overhead_s(kernel.kind, accelerator)


def gemm(name: str, m: float, n: float, k: float, peak_flops: float, element_bytes: float = 2.0,
         launches: int = 1) -> Kernel:
    """A matrix multiply (m x k) @ (k x n): 2mnk FLOPs, reads both inputs and writes the output once."""
    return Kernel(name, 2.0 * m * n * k, element_bytes * (m * k + k * n) + 2.0 * m * n, peak_flops, launches)


def elementwise(name: str, bytes_moved: float, kind: MemoryKind, launches: int = 1) -> Kernel:
    """A memory-bound operator (norm, activation, residual add, softmax) of access pattern `kind` moving
    `bytes_moved` bytes."""
    return Kernel(name, 0.0, bytes_moved, 1.0, launches, kind)
