"""A deployment's own events (arrivals, the ends of its replicas' iterations, KV transfers) in time order, run by
one SimPy process that handles every event due before the environment's next one without yielding. SimPy sees
an event only where the deployment meets the rest of the run: when another process's event comes first, or
when a change others can see (every request settled) must happen at its own time."""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Callable, Generator
from typing import Any, Final

import simpy

INF: Final = math.inf  # a constant, not an attribute looked up at each use (compiled)


class Due:
    """A slot's pending action: when, in which order among actions at one time, what and with what."""

    def __init__(self, slot: int, action: Callable[[Any], None]) -> None:
        self.slot = slot
        self.time_s = INF  # inf: nothing pending
        self.order = 0
        self.action = action
        self.arg: Any = None


class Slots:
    """One pending action per slot (a replica's next end), the earliest found in O(log slots) by a tournament
    tree of the slots' `Due` records: no tuple to build or compare per action, and a change that does not
    move a winner stops climbing."""

    def __init__(self) -> None:
        self.due: list[Due] = []
        self._size = 0
        self._tree: list[Due] = []  # winners; the leaves are at [size, 2 size)

    def add(self, action: Callable[[Any], None]) -> int:
        """A new slot for `action`, empty (slots are added as replicas are built, before the run)."""
        self.due.append(Due(len(self.due), action))
        while self._size < len(self.due):
            self._size = max(1, 2 * self._size)
        leaves = self.due + [Due(-1, action) for _ in range(self._size - len(self.due))]
        self._tree = leaves + leaves  # built anew; the first half is overwritten with the winners below
        for node in range(self._size - 1, 0, -1):
            self._tree[node] = _winner(self._tree[2 * node], self._tree[2 * node + 1])
        return len(self.due) - 1

    def set(self, slot: int, time_s: float, order: int, arg: Any) -> None:
        """Slot `slot` runs its action with `arg` at `time_s` (instead of whatever it held)."""
        due = self.due[slot]
        due.time_s, due.order, due.arg = time_s, order, arg
        tree, node = self._tree, (self._size + slot) // 2
        while node:
            won = _winner(tree[2 * node], tree[2 * node + 1])
            if won is tree[node] and won is not due:
                break  # this subtree's winner stands: so does every one above
            tree[node] = won
            node //= 2

    def earliest(self) -> Due | None:
        """The pending action due first (its time is inf when no slot holds one), None without slots."""
        return self._tree[1] if self._size > 1 else self.due[0] if self.due else None


def _winner(a: Due, b: Due) -> Due:
    return a if a.time_s < b.time_s or (a.time_s == b.time_s and a.order <= b.order) else b


class Agenda:
    """Timed actions of one deployment. `now` is the deployment's clock: the time of the action running (which
    may be ahead of `env.now` while the agenda runs on its own), or `env.now` when another process calls in
    (`outside`)."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.now: float = float(env.now)
        # (time, order given, action, argument), sorted: a deployment has a few entries per replica, so an insert
        # by bisection and a pop from the front compare fewer tuples than a binary heap's push and pop
        self._queue: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._slots = Slots()  # and the replicas' ends, one each
        self._count = 0
        self._running = False  # the process is handling actions: no wake-up needed
        self._wake_s = -INF  # when the sleeping process wakes (-inf: it is not asleep)
        self._idle: simpy.Event | None = None  # what it waits on with nothing to do
        self._synced: Callable[[], None] | None = None  # to run at `_synced_s` in SimPy's time
        self._synced_s = 0.0
        self._env_s, self._limit = 0.0, 0.0  # while running: SimPy's time, and that of its next event
        self._process = env.process(self._run())

    def at(self, time_s: float, action: Callable[[Any], None], arg: Any = None) -> None:
        """Call `action(arg)` at `time_s` (not before the clock); actions at one time run in the order given."""
        insort(self._queue, (time_s, self._count, action, arg))
        self._count += 1
        if not self._running and time_s < self._wake_s:
            self._wake()

    def slot(self, action: Callable[[Any], None]) -> int:
        """A slot for a recurring action with at most one pending at a time (a replica's next end)."""
        return self._slots.add(action)

    def at_slot(self, slot: int, time_s: float, arg: Any) -> None:
        """Call the slot's action with `arg` at `time_s`, instead of what the slot held (same order as `at`)."""
        self._slots.set(slot, time_s, self._count, arg)
        self._count += 1
        if not self._running and time_s < self._wake_s:
            self._wake()

    def clear_slot(self, slot: int) -> None:
        self._slots.set(slot, INF, 0, None)

    def _next_s(self) -> float:
        """When the next action is due (inf: none)."""
        queue, first = self._queue, self._slots.earliest()
        due = first.time_s if first is not None else INF
        return queue[0][0] if queue and queue[0][0] < due else due

    def is_next(self, time_s: float) -> bool:
        """Whether an action at `time_s`, added now, would be the next to run, and run before anything else in
        the simulation: its caller may then run it at once."""
        return (self._running and self._synced is None and time_s < self._next_s()
                and (time_s < self._limit or time_s <= self._env_s))

    def process(self, generator: Generator[simpy.Event, object, None]) -> simpy.Process:
        """Start a SimPy process from an action running at `env.now` (not ahead of it); the actions after it stop
        where SimPy's next event now is (its first step), as after any change made through `in_step`."""
        assert not self.now > self.env.now, "a process started ahead of SimPy's time"
        process = self.env.process(generator)
        self._stop_at_env()
        return process

    def _stop_at_env(self) -> None:
        """An action scheduled a SimPy event: the actions run on their own stop before it."""
        self._limit = min(self._limit, float(self.env.peek()))

    def outside(self) -> None:
        """Another process calls in at `env.now`: the clock follows it (every earlier action has run)."""
        self.now = float(self.env.now)

    def in_step(self, action: Callable[[], None]) -> None:
        """Run `action` at the clock's time in SimPy's time too: at once when called from another process,
        else once the environment has reached it (nothing else in the run happens in between)."""
        if self._running and self.now > self.env.now:
            self._synced, self._synced_s = action, self.now
        else:
            action()
            self._stop_at_env()

    def _syncing(self) -> bool:
        """A change others see is waiting for SimPy's time (a call, so that no type narrowing of `_synced` above
        it survives the actions that set it: mypyc would trust it)."""
        return self._synced is not None

    def _wake(self) -> None:
        self._wake_s = -INF
        if self._idle is not None:
            self._idle.succeed()
        else:
            self._process.interrupt()

    def _run(self) -> Generator[simpy.Event, object, None]:
        env, queue, slots = self.env, self._queue, self._slots
        while True:
            due = self._synced_s if self._synced is not None else self._next_s()
            if due > env.now and (self._synced is not None or due >= env.peek()):
                self._wake_s = due  # something else in the run comes first: sleep until then
                try:
                    if due == INF:
                        self._idle = env.event()
                        yield self._idle
                    else:
                        yield env.timeout(due - env.now)
                except simpy.Interrupt:
                    pass
                self._idle, self._wake_s = None, -INF
                continue
            if self._synced is not None:
                action, self._synced = self._synced, None
                self.now = float(env.now)
                action()
                continue
            self._running = True
            now = self._env_s = env.now
            self._limit = env.peek()  # nothing else in the run happens before then (lowered by `process`)
            while not self._syncing():
                first = slots.earliest()
                if first is not None and (not queue or first.time_s < queue[0][0] or (
                        first.time_s == queue[0][0] and first.order < queue[0][1])):
                    time_s = first.time_s  # a slot's action is next
                    if not (time_s < self._limit or time_s <= now):
                        break
                    act, arg = first.action, first.arg
                    slots.set(first.slot, INF, 0, None)
                elif queue and (queue[0][0] < self._limit or queue[0][0] <= now):
                    time_s, _, act, arg = queue.pop(0)
                else:
                    break
                self.now = time_s
                act(arg)
            self._running = False
