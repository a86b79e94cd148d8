"""A named registry of construction operators: the one place a method name is looked up.

An unknown name is an error where the spec or run file is read (naming the key and the closest
known name), never a fall-through to some other method.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from cityindex.errors import SpecError

T = TypeVar("T")


class Registry(Generic[T]):
    """Operators of one construction step (transform, treatment, imputation, normalisation,
    aggregation), by name, in registration order."""

    def __init__(self, step: str) -> None:
        self.step = step
        self._ops: dict[str, T] = {}

    def register(self, name: str, op: T) -> T:
        if name in self._ops:
            raise ValueError(f"{self.step} '{name}' is registered twice")
        self._ops[name] = op
        return op

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __iter__(self) -> Iterator[str]:
        return iter(self._ops)

    def names(self) -> tuple[str, ...]:
        return tuple(self._ops)

    def __getitem__(self, name: str) -> T:
        return self._ops[name]

    def get(self, name: object, where: str = "") -> T:
        """The operator called ``name``; an unknown name raises :class:`SpecError` naming
        ``where`` (a file and key) and the closest known name."""
        if isinstance(name, str) and name in self._ops:
            return self._ops[name]
        match = difflib.get_close_matches(str(name), list(self._ops), n=1, cutoff=0.5)
        hint = f" (did you mean '{match[0]}'?)" if match else ""
        raise SpecError(where or self.step, f"unknown {self.step} {name!r}{hint}",
                        f"one of {list(self._ops)}")
