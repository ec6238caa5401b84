"""`CoreDriver`: the core over a store, one event or one batch of events at a time (no
MQTT here; the service runner feeds it from the bus)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

from .core import DspCore
from .events import Action, Event
from .store import Store

log = logging.getLogger(__name__)


class CoreDriver:
    def __init__(self, core: DspCore, store: Store) -> None:
        self.core = core
        self.store = store

    async def handle(self, event: Event) -> list[Action]:
        """Decide on one event and commit its changes; the actions are then safe to send.
        Safe to call from several tasks at once: the store serialises its events."""
        prepared = self.core.prepare(event)
        return await self.store.apply(
            self.core.scope(prepared), partial(self.core.handle, prepared)
        )

    async def handle_all(self, events: Sequence[Event]) -> list[list[Action]]:
        """`handle` for each event in order, committed together (D17). When the batch
        fails, the events are handled again one at a time, so that those before the
        failing one are committed and its error is raised as `handle` would raise it."""
        if len(events) == 1:
            return [await self.handle(events[0])]
        work = []
        for event in events:
            prepared = self.core.prepare(event)
            work.append((self.core.scope(prepared), partial(self.core.handle, prepared)))
        try:
            return await self.store.apply_all(work)
        except Exception as exc:
            log.warning("a batch of %d events failed (%s); one at a time", len(events), exc)
        return [await self.handle(event) for event in events]
