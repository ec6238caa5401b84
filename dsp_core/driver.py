"""`CoreDriver`: the core over a store, one event or one batch of events at a time (no
MQTT here; the service runner feeds it from the bus)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from .core import DspCore, Prepared
from .events import Action, Event
from .state import Scope, State
from .store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
# What is done with an event's actions inside its transaction (the service puts them in
# the outbox, D-W2); its result is what the driver returns for the event.
Then = Callable[[list[Action], State], T]


@dataclass(frozen=True, slots=True)
class Failed:
    """An event that could not be handled: nothing of it was committed."""

    event: Event
    reason: str


def describe_error(exc: BaseException) -> str:
    """One line naming what went wrong: the error's type and its text."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:500]}" if text else type(exc).__name__


def _actions(actions: list[Action], state: State) -> list[Action]:
    return actions


class CoreDriver:
    def __init__(self, core: DspCore, store: Store) -> None:
        self.core = core
        self.store = store

    async def handle(self, event: Event) -> list[Action]:
        """Decide on one event and commit its changes; the actions are then safe to send.
        Safe to call from several tasks at once: the store serialises its events."""
        return await self.handle_then(event, _actions)

    async def handle_all(self, events: Sequence[Event]) -> list[list[Action]]:
        """`handle` for each event in order, committed together (D17)."""
        return await self.handle_all_then(events, _actions)

    async def handle_then(self, event: Event, then: Then[T]) -> T:
        """`handle`, with `then(actions, state)` in the same transaction."""
        scope, decide = self._work(event, then)
        return await self.store.apply(scope, decide)

    async def handle_all_then(self, events: Sequence[Event], then: Then[T]) -> list[T]:
        """`handle_then` for each event in order, committed together (D17). When the
        batch fails, the events are handled again one at a time, so that those before the
        failing one are committed and its error is raised as `handle` would raise it."""
        if len(events) == 1:
            return [await self.handle_then(events[0], then)]
        work = [self._work(event, then) for event in events]
        try:
            return await self.store.apply_all(work)
        except Exception as exc:
            log.warning("a batch of %d events failed (%s); one at a time", len(events), exc)
        return [await self.handle_then(event, then) for event in events]

    async def handle_each_then(self, events: Sequence[Event], then: Then[T]) -> list[T | Failed]:
        """`handle_all_then`, except that an event that fails on its own (issue 18: a
        poison message) is given back as `Failed`, nothing of it committed, and the
        events after it are still handled. Never raises `Exception`; a cancellation
        propagates (it is a `BaseException`)."""
        if len(events) > 1:
            try:
                work = [self._work(event, then) for event in events]
                return list(await self.store.apply_all(work))
            except Exception as exc:
                log.warning("a batch of %d events failed (%s); one at a time", len(events), exc)
        results: list[T | Failed] = []
        for event in events:
            try:
                results.append(await self.handle_then(event, then))
            except Exception as exc:
                results.append(Failed(event, describe_error(exc)))
        return results

    def _work(self, event: Event, then: Then[T]) -> tuple[Scope, Callable[[State], T]]:
        prepared = self.core.prepare(event)
        return self.core.scope(prepared), partial(self._decide, prepared, then)

    def _decide(self, prepared: Prepared, then: Then[T], state: State) -> T:
        return then(self.core.handle(prepared, state), state)
