"""A replica's running batch with work per iteration that does not grow with it: the decoding sequences share
one step counter (each one's `generated` is the counter less its offset), their finishes come off a heap of
finish steps, and the tokens they cache and the KV blocks the batch holds are running totals. Exactly what
walking the batch would give (tested against it)."""

from __future__ import annotations

from heapq import heappop, heappush
from itertools import count
from typing import Final

from simulator.engine.serving.requests import Seq

NOBODY: Final[list[Seq]] = []  # what `advance` returns when nobody finishes (never written to)
_ENTRIES = count()  # entries in the heaps of finish steps, unique across batches: a request moves between them


class Residues:
    """Σ ceil((c_i + step) / block) over a set of sequences in O(block): each c_i is kept as
    block q_i + r_i, with the quotients summed and the sequences counted per remainder r. The sum at the
    batch's own step is also kept (`at`): a step of one adds the sequences whose remainder comes round."""

    def __init__(self, block: int) -> None:
        self.block = block
        self.count = [0] * block
        self.quotients = 0
        self.size = 0
        self._step, self._total = 0, 0  # `at(_step)`, kept up to date

    def add(self, c: int, sign: int) -> None:
        q, r = divmod(c, self.block)
        self.quotients += sign * q
        self.count[r] += sign
        self.size += sign
        self._total += sign * -(-(c + self._step) // self.block)

    def at(self, step: int) -> int:
        """`blocks(step)` where steps only grow, mostly by one (a prefill iteration)."""
        if step == self._step + 1:
            self._total += self.count[-self._step % self.block]
            self._step = step
        elif step != self._step:
            self._step, self._total = step, self.blocks(step)
        return self._total

    def blocks(self, step: int) -> int:
        n = self.size
        if not n:
            return 0
        a, b = divmod(step, self.block)
        # ceil((r + b) / block) is 0 for r + b = 0, 2 above a block, else 1
        total = self.quotients + n * a + n
        if b == 0:
            return total - self.count[0]
        count = self.count
        for r in range(self.block - b + 1, self.block):
            total += count[r]
        return total


class Batch:
    """The sequences running on one replica, in admission order (the latest admitted is preempted first)."""

    def __init__(self, block_tokens: int) -> None:
        self.block = block_tokens
        self.members: dict[int, Seq] = {}  # by request index, in admission order
        self.prefilling: list[Seq] = []  # in admission order
        self.step = 0  # decode iterations of this batch: a decoding sequence's generated is step - offset
        self.decodes = 0
        self._cached = 0  # Σ (input_tokens - offset) over the decodes: the tokens they cache is this + decodes step
        self._finishes: list[tuple[int, int, Seq]] = []  # (finish step, entry, sequence), stale entries skipped
        self._fixed = 0  # blocks of the prefilling sequences and of the decodes that reserved their whole output
        # decodes taking blocks as they generate, with c = input - shared + 1 - offset
        self._growing = Residues(block_tokens)
        self._reserving = Residues(block_tokens)  # the others, with the same c (the step limit counts both alike)

    def __len__(self) -> int:
        return len(self.members)

    def cached_tokens(self) -> int:
        """Tokens the decodes cache (prompt and output so far)."""
        return self.decodes * self.step + self._cached

    def used_blocks(self) -> int:
        """Blocks the batch holds once each decode has one more token."""
        return self._fixed + self._growing.at(self.step)

    def tokens(self) -> int:
        """Tokens the batch's requests cache now or will once prefilled (prompt and output so far)."""
        return self.cached_tokens() + sum(s.input_tokens + s.generated for s in self.prefilling)

    def enter(self, seq: Seq) -> None:
        self.members[seq.index] = seq
        if seq.decoding:
            self.join(seq)
        else:
            self.prefilling.append(seq)
            self._fixed += self._prefill_blocks(seq)

    def _prefill_blocks(self, seq: Seq) -> int:
        tokens = max(seq.prefill_target, seq.reserved)
        return -((seq.shared - max(tokens, seq.input_tokens + seq.generated)) // self.block)

    def join(self, seq: Seq) -> None:
        """`seq`, in the batch and prefilled, decodes from now on."""
        seq.offset = offset = self.step - seq.generated
        self.decodes += 1
        self._cached += seq.input_tokens - offset
        seq.entry = entry = next(_ENTRIES)
        heappush(self._finishes, (offset + seq.output_tokens, entry, seq))
        self._track(seq, 1)

    def _track(self, seq: Seq, sign: int) -> None:
        c = seq.input_tokens - seq.shared + 1 - seq.offset
        if seq.reserved >= seq.input_tokens + seq.output_tokens:  # blocks for the whole output held throughout
            self._fixed += sign * -((seq.shared - seq.reserved) // self.block)
            self._reserving.add(c, sign)
        elif seq.reserved <= seq.input_tokens + seq.generated + 1:
            self._growing.add(c, sign)
        else:
            raise ValueError("a sequence reserves its whole output or nothing")

    def leave(self, seq: Seq) -> None:
        """Take `seq` out of the batch (its `generated` brought up to date)."""
        del self.members[seq.index]
        if seq.entry >= 0:
            self._undecode(seq)
        else:
            self.prefilling.remove(seq)
            self._fixed -= self._prefill_blocks(seq)

    def _undecode(self, seq: Seq) -> None:
        seq.generated = self.step - seq.offset
        self.decodes -= 1
        self._cached -= seq.input_tokens - seq.offset
        seq.entry = -1
        self._track(seq, -1)

    def latest(self) -> Seq:
        """The sequence admitted last, taken out of the batch."""
        seq = self.members[next(reversed(self.members))]
        self.leave(seq)
        return seq

    def everyone(self) -> list[Seq]:
        """Every sequence, in admission order, taken out of the batch (a failure)."""
        seqs = list(self.members.values())
        for seq in seqs:
            if seq.entry >= 0:
                seq.generated = self.step - seq.offset
                seq.entry = -1
        self.members, self.prefilling, self.decodes, self._cached = {}, [], 0, 0
        self._finishes, self._fixed = [], 0
        self._growing, self._reserving = Residues(self.block), Residues(self.block)
        return seqs

    def steps_to_finish(self) -> int:
        """Decode iterations until the first decode finishes."""
        heap = self._finishes
        while heap[0][2].entry != heap[0][1]:
            heappop(heap)
        return heap[0][0] - self.step

    def decode_steps(self, next_blocks: int, capacity: int) -> int:
        """Decode iterations until the first decode finishes or `capacity` blocks run out (`next_blocks` held
        during the first; a sequence gains at most one block per `block` tokens)."""
        steps = self.steps_to_finish()
        if next_blocks + self.decodes * -(-(steps - 1) // self.block) <= capacity:
            return steps
        low, high = 1, steps
        while low < high:  # the largest step count whose blocks fit
            mid = (low + high + 1) // 2
            if self.decode_blocks(mid) <= capacity:
                low = mid
            else:
                high = mid - 1
        return low

    def decode_blocks(self, steps: int) -> int:
        """Blocks the decodes take after `steps` more tokens each, counted as taken while generating (reserved
        or not)."""
        return self._growing.blocks(self.step + steps - 1) + self._reserving.blocks(self.step + steps - 1)

    def advance(self, steps: int) -> list[Seq]:
        """Every decode generates `steps` tokens: those that reach their output leave the batch (returned; the
        list is the caller's to read, not to keep)."""
        self.step = step = self.step + steps
        heap = self._finishes
        if not heap or heap[0][0] > step:
            return NOBODY
        done: list[Seq] = []
        while heap and heap[0][0] <= step:
            _, entry, seq = heappop(heap)
            if seq.entry == entry:
                del self.members[seq.index]
                self._undecode(seq)
                done.append(seq)
        return done

    def prefilled(self, seq: Seq) -> None:
        """`seq` is prefilled (before it emits its token): its blocks are counted as a decode's from `join`."""
        self._fixed -= self._prefill_blocks(seq)

    def drop(self, seq: Seq) -> None:
        """`seq`, prefilled, leaves the batch (finished, or handed on to a decode replica)."""
        del self.members[seq.index]

    def settle_prefilling(self) -> None:
        """Drop the prefilled sequences from the prefilling list (after `prefilled`)."""
        self.prefilling = [s for s in self.prefilling if s.prefilled < s.prefill_target]
