"""State transition tables, the one way every state machine of smetslab moves.

A table maps (state, event) to the next state. `TransitionTable.next` looks the pair
up and, when the table has no row for it, raises `IllegalTransitionError` naming the
role (whose machine: "request 90-B3-...:1001", "SMETS2 ESME", "bridge session"), the
state and the event. The tables are data: tests and docs read them as mappings.

    _T = TransitionTable({(Slot.EMPTY, Event.STAGE): Slot.HELD})
    state = _T.next(f"device {device_id}", state, event)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from enum import Enum
from typing import Generic, TypeVar

from .errors import IllegalTransitionError

S = TypeVar("S", bound=Hashable)
E = TypeVar("E", bound=Hashable)


def label(value: object) -> str:
    """How a state or event is named in an error: a string enum by its value, another
    enum by its member name, anything else by `str`."""
    if isinstance(value, Enum) and not isinstance(value, str):
        return value.name
    return str(value)


class TransitionTable(Mapping[tuple[S, E], S], Generic[S, E]):
    """(state, event) -> next state, read-only."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Mapping[tuple[S, E], S]) -> None:
        self._rows = dict(rows)

    def next(self, role: str, state: S, event: E) -> S:
        """The state after `event` in `state`; `IllegalTransitionError` if none."""
        try:
            return self._rows[state, event]
        except KeyError:
            raise IllegalTransitionError(role, label(state), label(event)) from None

    def allows(self, state: S, event: E) -> bool:
        return (state, event) in self._rows

    def __getitem__(self, key: tuple[S, E]) -> S:
        return self._rows[key]

    def __iter__(self) -> Iterator[tuple[S, E]]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class EventGuard(Generic[S, E]):
    """The (state, event) pairs a machine allows where the next state depends on more
    than the pair (the ZigBee translation's jobs: the step after a result depends on the
    job's kind). `check` raises `IllegalTransitionError` as a table does."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: Iterable[tuple[S, E]]) -> None:
        self._pairs = frozenset(pairs)

    def check(self, role: str, state: S, event: E) -> None:
        if (state, event) not in self._pairs:
            raise IllegalTransitionError(role, label(state), label(event))

    def __contains__(self, pair: object) -> bool:
        return pair in self._pairs

    def __iter__(self) -> Iterator[tuple[S, E]]:
        return iter(self._pairs)
