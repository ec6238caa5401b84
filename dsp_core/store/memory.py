"""Everything in one `State`: no loading, commits only append the journal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterable
from datetime import datetime
from typing import TypeVar

from contract.vocabulary import CplEntry, Device, Registration, User
from dsp_core.model import DeadLetter, HubStatus, JournalEntry
from dsp_core.outbox import OUTBOX_PAGE, Outgoing
from dsp_core.state import AddJournal, AddOutgoing, Scope, State

from .base import Store

T = TypeVar("T")


class MemoryStore(Store):
    def __init__(self, *, keep_journal: bool = True) -> None:
        self.state = State()
        self.entries: list[JournalEntry] = []
        self.keep_journal = keep_journal
        self.outbox: dict[str, AddOutgoing] = {}  # by message ID, in commit order
        self.horizons: dict[str, tuple[datetime, float]] = {}  # by worker: horizon, at
        self.letters: list[DeadLetter] = []

    async def apply(self, scope: Scope, decide: Callable[[State], T]) -> T:
        # No await between deciding and committing: one event at a time by construction.
        result = decide(self.state)
        changes = self.state.take_changes()
        if self.keep_journal:
            self.entries.extend(c.entry for c in changes if isinstance(c, AddJournal))
        self.outbox.update((c.message.message_id, c) for c in changes if isinstance(c, AddOutgoing))
        return result

    async def claim_outbox(
        self, worker: str, now: float, stale_before: float, *, own: bool = False
    ) -> list[Outgoing]:
        claimed = [
            row
            for row in self.outbox.values()
            if row.at < stale_before or (own and row.worker == worker)
        ][:OUTBOX_PAGE]
        for row in claimed:
            self.outbox[row.message.message_id] = AddOutgoing(row.message, worker, now)
        return [row.message for row in claimed]

    async def outbox_done(self, message_ids: Collection[str]) -> None:
        for message_id in message_ids:
            self.outbox.pop(message_id, None)

    async def share_horizon(
        self, worker: str, horizon: datetime, now: float, stale_before: float
    ) -> datetime:
        self.horizons[worker] = (horizon, now)
        return min(h for h, at in self.horizons.values() if at >= stale_before)

    async def horizon_of(self, worker: str) -> datetime | None:
        found = self.horizons.get(worker)
        return None if found is None else found[0]

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

    async def add_dead_letter(self, letter: DeadLetter) -> None:
        self.letters.append(letter)

    async def dead_letters(self) -> list[DeadLetter]:
        return list(self.letters)
