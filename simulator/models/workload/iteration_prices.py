"""The serving engine's questions about one replica's iterations answered in plain arithmetic: the parts that
depend only on token counts come from a cache filled by the full model (serving_time.py), decode attention's
roofline is inlined, and runs of decode-only iterations are summed in closed form (`DecodeLine`). Kept free of
the rest of the model so that it compiles (mypyc, see setup.py): it runs several times per request."""

from __future__ import annotations

import math
from collections.abc import Callable


class DecodeLine:
    """Iteration time of decode-only iterations of a fixed batch as a function of its mean context c:
    t(c) = max(a_compute + b_compute c, a_memory + b_memory c), exactly, because only decode attention depends on
    the context and its roofline time, max(compute, memory), is the larger of two lines. So a run of iterations
    whose context grows one token each is an arithmetic series on each side of the kink."""

    def __init__(self, a_compute: float, b_compute: float, a_memory: float, b_memory: float) -> None:
        self.a_compute, self.b_compute, self.a_memory, self.b_memory = a_compute, b_compute, a_memory, b_memory
        # the flatter line (the smaller slope, then intercept) rules below the kink, the steeper above it
        if (b_compute, a_compute) <= (b_memory, a_memory):
            a_flat, b_flat, a_steep, b_steep = a_compute, b_compute, a_memory, b_memory
        else:
            a_flat, b_flat, a_steep, b_steep = a_memory, b_memory, a_compute, b_compute
        self.kinked = b_steep != b_flat
        self.a_flat, self.b_flat = (a_flat, b_flat) if self.kinked else (max(a_flat, a_steep), b_flat)
        self.a_steep, self.b_steep = (a_steep, b_steep) if self.kinked else (0.0, 0.0)
        self.kink = (a_flat - a_steep) / (b_steep - b_flat) if self.kinked else 0.0

    def _cut(self, context: float, steps: int) -> int:
        """Iterations 0..cut-1 are on the flat line, cut..steps-1 on the steep one."""
        return min(steps, max(0, math.ceil(self.kink - context))) if self.kinked else steps

    def span_s(self, context: float, steps: int) -> float:
        """Seconds of iterations 0..steps-1, iteration i at context `context` + i."""
        cut = self._cut(context, steps)
        total = _series_s(self.a_flat, self.b_flat, context, cut)
        return total + _series_s(self.a_steep, self.b_steep, context + cut, steps - cut) if self.kinked else total

    def steps_within(self, context: float, limit: int, budget_s: float) -> int:
        """Whole iterations from 0 (at most `limit`) that finish within `budget_s`."""
        cut = self._cut(context, limit)
        pieces = [(0, cut, self.a_flat, self.b_flat)]
        if self.kinked:
            pieces.append((cut, limit, self.a_steep, self.b_steep))
        done = 0
        for start, end, a, b in pieces:
            count, first = end - start, context + start
            if _series_s(a, b, first, count) <= budget_s:
                budget_s -= _series_s(a, b, first, count)
                done += count
                continue
            t0 = a + b * first  # the root of b/2 k^2 + (t0 - b/2) k - budget = 0
            half = t0 - b / 2.0
            k = int((-half + math.sqrt(half * half + 2.0 * b * budget_s)) / b) if b > 0 else int(budget_s / t0)
            k = max(0, min(k, count))
            while k > 0 and _series_s(a, b, first, k) > budget_s:
                k -= 1
            while k < count and _series_s(a, b, first, k + 1) <= budget_s:
                k += 1
            return done + k
        return done


def _series_s(a: float, b: float, first_context: float, count: int) -> float:
    """Sum of a + b c over c = first_context, first_context + 1, ... (count terms)."""
    return count * (a + b * (first_context + (count - 1) / 2.0)) if count > 0 else 0.0


class IterationPrices:
    """One replica's iteration times (an `IterationModel`). `fixed_s(decodes, prefill_tokens)`: everything but
    attention and logits for one micro-batch of that many tokens; `logits_s(rows)`: the logits GEMM;
    `line(decodes)`: the decode line's four coefficients; each asked once per distinct argument. `attention`:
    s per FLOP, s per byte and launch overhead of decode attention, of prefill attention (per byte, launch),
    query width, KV width, KV bytes per element."""

    def __init__(self, pp: int, layers: int, attention: tuple[float, float, float, float, float, float, float, float],
                 fixed_s: Callable[[int, int], float], logits_s: Callable[[float], float],
                 line: Callable[[int], tuple[float, float, float, float]]) -> None:
        self.pp, self.layers = pp, layers
        (self.per_flop, self.decode_per_byte, self.decode_launch, self.prefill_per_byte, self.prefill_launch,
         self.q_width, self.kv_width, self.kv_bytes) = attention
        self._fixed_s, self._logits_s, self._line_of = fixed_s, logits_s, line
        self._by_tokens: dict[float, float] = {}
        self._logits: dict[float, float] = {}
        self._lines: dict[int, DecodeLine] = {}

    def iteration_s(self, decodes: int, decode_context: float, prefill_tokens: int, prefill_context: float) -> float:
        """One iteration, seconds: its micro-batch (min(pp, sequences), a prefill chunk counting as one)."""
        prefilling = 1 if prefill_tokens else 0
        split = max(1, min(self.pp, decodes + prefilling))
        tokens = (decodes + prefill_tokens) / split
        fixed = self._by_tokens.get(tokens)
        if fixed is None:
            fixed = self._fixed_s(decodes, prefill_tokens)
            self._by_tokens[tokens] = fixed
        rows = (decodes + prefilling) / split
        logits_s = self._logits.get(rows)
        if logits_s is None:
            logits_s = self._logits_s(rows)
            self._logits[rows] = logits_s
        d, p, q_width, kv_width = decodes / split, prefill_tokens / split, self.q_width, self.kv_width
        flops = 4.0 * d * decode_context * q_width
        layer_s = max(flops * self.per_flop if flops > 0 else 0.0,
                      (d * decode_context * 2.0 * kv_width * self.kv_bytes + 4.0 * d * q_width) * self.decode_per_byte)
        layer_s += self.decode_launch
        if p:
            flops = 2.0 * p * prefill_context * q_width
            layer_s += max(flops * self.per_flop if flops > 0 else 0.0,
                           2.0 * p * (q_width + 2 * kv_width) * 2 * self.prefill_per_byte) + self.prefill_launch
        return fixed + self.layers * layer_s + logits_s

    def line(self, decodes: int) -> DecodeLine:
        found = self._lines.get(decodes)
        if found is None:
            found = DecodeLine(*self._line_of(decodes))
            self._lines[decodes] = found
        return found

    def decode_span_s(self, decodes: int, context: float, steps: int) -> float:
        """Decode-only iterations summed in closed form."""
        return self.line(decodes).span_s(context, steps)

    def decode_steps_within(self, decodes: int, context: float, limit: int, budget_s: float) -> int:
        """Whole decode-only iterations (at most `limit`) within a time budget."""
        return self.line(decodes).steps_within(context, limit, budget_s)
