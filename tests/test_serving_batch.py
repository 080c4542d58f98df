"""The serving engine's constant-work parts (engine/serving/batch.py, loads.py, agenda.py) against the plain
walks and the SimPy processes they replace."""

from __future__ import annotations

import math

import numpy as np
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine.serving.agenda import Agenda, Slots
from simulator.engine.serving.batch import Batch, Residues
from simulator.engine.serving.loads import DOWN, Pool
from simulator.engine.serving.requests import Seq, ServingOutcome, Times

BLOCK = 16


@given(st.lists(st.integers(-200, 200), max_size=30), st.integers(0, 100), st.integers(1, 40))
def test_residues_sum_the_ceilings_they_stand_for(cs: list[int], step: int, block: int) -> None:
    residues = Residues(block)
    for c in cs:
        residues.add(c, 1)
    alive = [c for c in cs if c + step > 0]
    if len(alive) == len(cs):  # the batch only asks for counts of blocks held
        assert residues.blocks(step) == sum(math.ceil((c + step) / block) for c in cs)


def walked_used(seqs: list[Seq]) -> int:
    """Blocks held once each decode has one more token, by walking the batch (the engine before issue 16)."""
    return sum(s.blocks(BLOCK, 1 if s.decoding else 0) for s in seqs)


class Model:
    """The batch walked in full: what each sequence holds when every field is kept up to date."""

    def __init__(self) -> None:
        self.seqs: list[Seq] = []

    def generated(self, batch: Batch, seq: Seq) -> int:
        return batch.step - seq.offset if seq.entry >= 0 else seq.generated

    def check(self, batch: Batch) -> None:
        assert len(batch) == len(self.seqs)
        decodes = [s for s in self.seqs if s.decoding]
        assert batch.decodes == len(decodes)
        assert batch.cached_tokens() == sum(s.input_tokens + self.generated(batch, s) for s in decodes)
        saved = [(s, s.generated) for s in decodes]
        for s in decodes:
            s.generated = self.generated(batch, s)
        try:
            assert batch.used_blocks() == walked_used(self.seqs)
            if decodes:
                remaining = min(s.output_tokens - s.generated for s in decodes)
                assert batch.steps_to_finish() == remaining
                for steps in range(1, remaining + 1):
                    assert batch.decode_blocks(steps) == sum(
                        -((s.shared - (s.input_tokens + s.generated + steps)) // BLOCK) for s in decodes)
        finally:
            for s, value in saved:
                s.generated = value
        assert [s.index for s in batch.prefilling] == [s.index for s in self.seqs if not s.decoding]


operations = st.lists(st.tuples(st.sampled_from(["enter", "advance", "prefill", "latest"]),
                                st.integers(1, 300), st.integers(1, 60), st.booleans(), st.integers(0, 100)),
                      max_size=40)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_the_batch_keeps_what_walking_it_would_find(ops: list[tuple[str, int, int, bool, int]]) -> None:
    batch, model, index = Batch(BLOCK), Model(), 0
    for op, prompt, output, reserve, shared in ops:
        if op == "enter":
            generated = output // 3 if reserve else 0  # some come back already decoding (swapped, or moved)
            seq = Seq(index, prompt, output, prompt + generated, generated=generated)
            seq.reserved = prompt + output if reserve else 0
            seq.shared = min(shared, seq.prefill_target - 1)
            seq.prefilled = seq.prefill_target if generated else seq.shared
            index += 1
            batch.enter(seq)
            model.seqs.append(seq)
        elif op == "advance" and batch.decodes:
            steps = min(output, batch.steps_to_finish())
            done = batch.advance(steps)
            assert all(s.generated == s.output_tokens for s in done)
            model.seqs = [s for s in model.seqs if s not in done]
        elif op == "prefill" and batch.prefilling:
            seq = batch.prefilling[0]
            seq.prefilled = seq.prefill_target
            batch.prefilled(seq)
            seq.generated += 1
            if seq.generated >= seq.output_tokens:
                batch.drop(seq)
                model.seqs.remove(seq)
            else:
                batch.join(seq)
            batch.settle_prefilling()
        elif op == "latest" and len(batch):
            seq = batch.latest()
            assert seq is model.seqs.pop()
            assert seq.entry == -1
        model.check(batch)
    everyone = batch.everyone()
    assert [s.index for s in everyone] == [s.index for s in model.seqs]
    assert len(batch) == 0 and batch.used_blocks() == 0 and batch.cached_tokens() == 0


class Loaded:
    def __init__(self, number: int, load: int) -> None:
        self.number, self.load = number, load


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(-3, 3), st.booleans()), max_size=300))
def test_a_pool_finds_the_least_loaded_replica_lowest_number_first(moves: list[tuple[int, int, bool]]) -> None:
    replicas = [Loaded(n, 0) for n in range(8)]
    pool = Pool(replicas)
    for number, change, toggle in moves:
        down = (replicas[number].load >= DOWN) != toggle  # sometimes it goes down or comes back up
        replicas[number].load = max(0, replicas[number].load % DOWN + change) + (DOWN if down else 0)
        pool.moved(number, replicas[number].load)
        assert pool.least() is min(replicas, key=lambda r: r.load)
        assert pool.up == [r for r in replicas if r.load < DOWN]
    assert len(pool._heap) <= 2 * 8 + 16 + 1


def test_the_agenda_runs_its_actions_in_time_order_and_never_ahead_of_the_run() -> None:
    env = simpy.Environment()
    agenda = Agenda(env)
    seen: list[tuple[str, float, float]] = []

    def note(name: object) -> None:
        seen.append((str(name), agenda.now, float(env.now)))

    for time_s, name in [(3.0, "c"), (1.0, "a"), (3.0, "d"), (2.0, "b")]:
        agenda.at(time_s, note, name)

    def other() -> simpy.events.ProcessGenerator:
        yield env.timeout(2.5)
        agenda.outside()
        note("outside")
        agenda.at(agenda.now, note, "woken")  # the agenda sleeps until 3: this wakes it at 2.5

    env.process(other())
    env.run()
    assert [(name, at) for name, at, _ in seen] == [("a", 1.0), ("b", 2.0), ("outside", 2.5), ("woken", 2.5),
                                                   ("c", 3.0), ("d", 3.0)]
    assert all(env_s <= at for _, at, env_s in seen)  # never late in SimPy's time


def test_alone_the_agenda_runs_without_simpy_events() -> None:
    env = simpy.Environment()
    agenda = Agenda(env)
    seen: list[float] = []
    for time_s in (1.0, 2.0, 3.0):
        agenda.at(time_s, lambda _: seen.append(env.now))
    env.run()
    assert seen == [0.0, 0.0, 0.0]  # nothing else in the run: SimPy's clock never had to move


def test_a_change_others_see_happens_at_its_own_time_in_simpy() -> None:
    env = simpy.Environment()
    agenda = Agenda(env)
    done = env.event()
    agenda.at(5.0, lambda _: agenda.in_step(lambda: done.succeed(env.now)))
    env.run(until=done)
    assert done.value == 5.0 and env.now == 5.0


@given(st.integers(1, 9), st.lists(st.tuples(st.integers(0, 8), st.one_of(st.just(math.inf), st.floats(0.0, 5.0))),
                                   max_size=200))
def test_slots_find_the_earliest_pending_action_first_given_first(count: int, moves: list[tuple[int, float]]) -> None:
    slots = Slots()
    for slot in range(count):
        assert slots.add(lambda _: None) == slot
    for order, (slot, time_s) in enumerate(moves):
        slots.set(slot % count, round(time_s, 1), order, None)  # rounded: ties happen
        first, best = slots.earliest(), min((d.time_s, d.order) for d in slots.due)
        assert first is not None and first.time_s == best[0]
        assert first.order == best[1] or first.time_s == math.inf  # nothing pending: any empty slot will do


def test_decode_steps_stop_where_the_blocks_run_out() -> None:
    batch = Batch(BLOCK)
    for index in range(4):  # 4 decodes at 40 cached tokens: 3 blocks each, a 4th from the 9th token on
        seq = Seq(index, 39, 100, 39, generated=1)
        seq.prefilled = seq.prefill_target
        batch.enter(seq)
    assert batch.steps_to_finish() == 99
    assert batch.decode_steps(batch.used_blocks(), 10_000) == 99  # room enough: up to the first finish
    held = batch.used_blocks()
    assert batch.decode_steps(held, 16) == 24  # 16 blocks hold 4 x 64 tokens: 24 more each, from 40
    assert batch.decode_blocks(8) == 12 and batch.decode_blocks(9) == batch.decode_blocks(24) == 16
    assert batch.decode_blocks(25) > 16


def test_marks_reach_the_outcome_when_the_run_closes() -> None:
    marks = Times(3)
    marks.first_token_s[1], marks.finish_s[1], marks.arrived[1], marks.replica[1] = 0.5, 2.0, 1, 4
    nan = np.full(3, np.nan)
    outcome = ServingOutcome(np.zeros(3), nan.copy(), nan.copy(), np.zeros(3, dtype=bool), np.zeros(3, dtype=bool),
                             np.full(3, -1, dtype=np.int64), 0, 0, np.zeros(1), np.zeros(1), np.ones(1),
                             np.zeros(1), np.zeros(1), 0, 0, 0.0)
    marks.close(outcome)
    assert outcome.first_token_s[1] == 0.5 and outcome.finish_s[1] == 2.0
    assert outcome.arrived.tolist() == [False, True, False] and outcome.replica.tolist() == [-1, 4, -1]
    assert np.isnan(outcome.first_token_s[[0, 2]]).all()


def test_token_counts_given_as_floats_are_served_as_their_whole_parts() -> None:
    from tests.test_serving_engine import serve

    whole = serve([0.0, 0.1], [1000, 30], [10, 5])
    fractional = serve([0.0, 0.1], [1000.7, 30.2], [10.9, 5.5])  # type: ignore[list-item]
    np.testing.assert_array_equal(whole.finish_s, fractional.finish_s)
