"""`CoreDriver`: the core over a store, one event at a time (no MQTT here; the service
runner that feeds it from the bus is a later layer)."""

from __future__ import annotations

import logging
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
