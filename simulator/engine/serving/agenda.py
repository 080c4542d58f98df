"""A deployment's own events (arrivals, the ends of its replicas' iterations, KV transfers) in time order, run by
one SimPy process that handles every event due before the environment's next one without yielding. SimPy sees
an event only where the deployment meets the rest of the run: when another process's event comes first, or
when a change others can see (every request settled) must happen at its own time."""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Callable, Generator
from typing import Any

import simpy


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
        self._count = 0
        self._running = False  # the process is handling actions: no wake-up needed
        self._wake_s = -math.inf  # when the sleeping process wakes (-inf: it is not asleep)
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

    def is_next(self, time_s: float) -> bool:
        """Whether an action at `time_s`, added now, would be the next to run, and run before anything else in
        the simulation: its caller may then run it at once."""
        queue = self._queue
        return (self._running and self._synced is None and (not queue or time_s < queue[0][0])
                and (time_s < self._limit or time_s <= self._env_s))

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

    def _syncing(self) -> bool:
        """A change others see is waiting for SimPy's time (a call, so that no type narrowing of `_synced` above
        it survives the actions that set it: mypyc would trust it)."""
        return self._synced is not None

    def _wake(self) -> None:
        self._wake_s = -math.inf
        if self._idle is not None:
            self._idle.succeed()
        else:
            self._process.interrupt()

    def _run(self) -> Generator[simpy.Event, object, None]:
        env, queue = self.env, self._queue
        while True:
            due = self._synced_s if self._synced is not None else queue[0][0] if queue else math.inf
            if due > env.now and (self._synced is not None or due >= env.peek()):
                self._wake_s = due  # something else in the run comes first: sleep until then
                try:
                    if due == math.inf:
                        self._idle = env.event()
                        yield self._idle
                    else:
                        yield env.timeout(due - env.now)
                except simpy.Interrupt:
                    pass
                self._idle, self._wake_s = None, -math.inf
                continue
            if self._synced is not None:
                action, self._synced = self._synced, None
                self.now = float(env.now)
                action()
                continue
            self._running = True
            now = self._env_s = env.now
            limit = self._limit = env.peek()  # nothing else in the run happens before then
            while queue and not self._syncing() and (queue[0][0] < limit or queue[0][0] <= now):
                time_s, _, act, arg = queue.pop(0)
                self.now = time_s
                act(arg)
            self._running = False
