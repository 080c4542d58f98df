"""A registry of one kind of engine policy (router, admission, autoscaling metric, scheduling policy): classes
filed under the names simulator/scenario/policies.py declares for that kind, so a scenario can name a policy and
the engine find its class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

N = TypeVar("N", bound=str)
T = TypeVar("T")


class Registry(Generic[N, T]):
    """Implementations of one kind of policy by name; a name must be declared (`declared`) and registered once."""

    def __init__(self, kind: str, declared: tuple[N, ...]) -> None:
        self.kind = kind
        self.declared = declared
        self._by_name: dict[str, T] = {}

    def register(self, name: N) -> Callable[[T], T]:
        """Decorator: file the decorated class under `name`."""
        if name not in self.declared:
            raise ValueError(f"{self.kind} {name!r} is not declared in simulator/scenario/policies.py "
                             f"(declared: {', '.join(self.declared)})")
        if name in self._by_name:
            raise ValueError(f"{self.kind} {name!r} is registered twice")

        def add(implementation: T) -> T:
            self._by_name[name] = implementation
            return implementation

        return add

    def __getitem__(self, name: str) -> T:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; allowed: {', '.join(self._by_name)}") from None

    @property
    def names(self) -> tuple[str, ...]:
        """The names registered, in order of registration."""
        return tuple(self._by_name)
