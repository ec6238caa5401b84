"""Everything in one `State`: no loading, commits only append the journal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import TypeVar

from dsp_core.model import CplEntry, Device, HubStatus, JournalEntry, Registration, User
from dsp_core.state import AddJournal, Scope, State

from .base import Store

T = TypeVar("T")


class MemoryStore(Store):
    def __init__(self, *, keep_journal: bool = True) -> None:
        self.state = State()
        self.entries: list[JournalEntry] = []
        self.keep_journal = keep_journal

    async def apply(self, scope: Scope, decide: Callable[[State], T]) -> T:
        # No await between deciding and committing: one event at a time by construction.
        result = decide(self.state)
        changes = self.state.take_changes()
        if self.keep_journal:
            self.entries.extend(c.entry for c in changes if isinstance(c, AddJournal))
        return result

    async def seed(
        self,
        *,
        devices: Iterable[Device] = (),
        users: Iterable[User] = (),
        registrations: Iterable[Registration] = (),
        cpl: Iterable[CplEntry] = (),
    ) -> None:
        self.state.load(devices=devices, users=users, registrations=registrations, cpl=cpl)

    async def journal(self) -> AsyncIterator[JournalEntry]:
        for entry in list(self.entries):
            yield entry

    async def devices(self) -> list[Device]:
        return [self.state.devices[k] for k in sorted(self.state.devices)]

    async def hub_statuses(self) -> list[HubStatus]:
        return [self.state.hub_statuses[k] for k in sorted(self.state.hub_statuses)]
