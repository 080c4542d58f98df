"""Hostile-input fuzz benchmark (issue 15): writes COUNT hostile scenario files (benchmarks/fuzz_inputs.py:
control characters, deep nesting, alias bombs and loops, oversized files, bad encodings, YAML syntax traps, and
type, unit, enum and range mutations of every shipped scenario), runs `clustersim validate` on each in worker
processes, and prints the exit-code histogram per class, every traceback, and the largest time and memory per
file (memory: the worker's peak resident size above what it held before its first file, an upper bound that
includes the caches earlier files filled). Target: no traceback, no file over 5 s or 500 MB.
Usage: bench_fuzz.py [COUNT] [SEED] [WORKERS] (default 10,000, 0, 2)."""

from __future__ import annotations

import multiprocessing
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.fuzz_inputs import hostile_files  # noqa: E402

LIMIT_S, LIMIT_BYTES = 5.0, 500 * 2**20


def folder(base: Path) -> Path:
    """Where hostile files go: a sub-folder whose `traces` (and its parent's) lead to the shipped traces, so
    that mutated scenarios that read a trace still find it."""
    inner = base / "scenarios"
    inner.mkdir()
    for link in (inner / "traces", base / "traces"):
        link.symlink_to(ROOT / "scenarios" / "traces")
    return inner


BASELINE_KIB: list[int] = []  # the worker's peak resident size before its first file


def check(path: str) -> tuple[int | str, float, int]:
    """`clustersim validate PATH`: (exit code, or the exception of a traceback; seconds; the worker's peak
    resident bytes above its baseline)."""
    from click.testing import CliRunner

    from cli import main

    if not BASELINE_KIB:
        BASELINE_KIB.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["validate", path])
    seconds = time.perf_counter() - started
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - BASELINE_KIB[0]) * 1024
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"{type(result.exception).__name__}: {str(result.exception)[:200]}", seconds, peak
    return result.exit_code, seconds, peak


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as base:
        inner = folder(Path(base))
        kinds: dict[str, str] = {}
        for kind, name, content in hostile_files(count, seed):
            path = inner / f"{name}.yaml"
            path.write_bytes(content)
            kinds[str(path)] = kind
        paths = sorted(kinds)
        with multiprocessing.Pool(workers) as pool:
            results = dict(zip(paths, pool.map(check, paths, chunksize=20), strict=True))
    histogram: dict[str, Counter[str]] = {}
    tracebacks = []
    for path, (code, _, _) in results.items():
        outcome = str(code) if isinstance(code, int) else "traceback"
        histogram.setdefault(kinds[path], Counter())[outcome] += 1
        if not isinstance(code, int):
            tracebacks.append((Path(path).name, code))
    print(f"{count:,} hostile files (seed {seed}), {workers} workers: {time.perf_counter() - started:.0f} s")
    print(f"{'class':<10} {'files':>6} {'exit 0':>7} {'exit 2':>7} {'other':>6} {'traceback':>10}")
    for kind, counts in sorted(histogram.items()):
        other = sum(v for k, v in counts.items() if k not in ("0", "2", "traceback"))
        print(f"{kind:<10} {sum(counts.values()):>6} {counts['0']:>7} {counts['2']:>7} {other:>6} "
              f"{counts['traceback']:>10}")
    print(f"tracebacks: {len(tracebacks)}")
    for name, text in tracebacks[:20]:
        print(f"  {name}: {text}")
    slowest = max(results.items(), key=lambda item: item[1][1])
    largest = max(results.items(), key=lambda item: item[1][2])
    print(f"largest time per file: {slowest[1][1]:.2f} s ({Path(slowest[0]).name})")
    print(f"largest memory per file: {largest[1][2] / 2**20:.1f} MiB ({Path(largest[0]).name})")
    over = [p for p, (_, s, b) in results.items() if s > LIMIT_S or b > LIMIT_BYTES]
    print(f"over {LIMIT_S:g} s or {LIMIT_BYTES // 2**20} MiB: {len(over)}")
    for path in over[:20]:
        _, seconds, peak = results[path]
        print(f"  {Path(path).name}: {seconds:.1f} s, {peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
