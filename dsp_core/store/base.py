"""The store interface the core's driver uses."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from contract.vocabulary import CplEntry, Device, Registration, User
from dsp_core.model import DeadLetter, HubStatus, JournalEntry
from dsp_core.outbox import Outgoing
from dsp_core.state import Scope, State

T = TypeVar("T")


class Store(ABC):
    @abstractmethod
    async def apply(self, scope: Scope, decide: Callable[[State], T]) -> T:
        """One event's transaction: load what `scope` names into a `State`, call
        `decide` on it, commit every change it made together (an SMI change and the
        alerts it causes) and return what `decide` returned. When `decide` raises,
        nothing is committed. Calls are serialised per store."""

    async def apply_all(self, work: Sequence[tuple[Scope, Callable[[State], T]]]) -> list[T]:
        """Several events' `apply`, in order, each seeing what the ones before it wrote;
        a store may commit them together (group commit). When any `decide` raises,
        nothing of the batch is committed and the error propagates: the caller then
        applies them one at a time. This default is one `apply` after another."""
        return [await self.apply(scope, decide) for scope, decide in work]

    @abstractmethod
    async def seed(
        self,
        *,
        devices: Iterable[Device] = (),
        users: Iterable[User] = (),
        registrations: Iterable[Registration] = (),
        cpl: Iterable[CplEntry] = (),
    ) -> None:
        """Add or replace records (set-up and seed data, not journalled)."""

    @abstractmethod
    def journal(self) -> AsyncIterator[JournalEntry]:
        """The journal, oldest first."""

    @abstractmethod
    async def devices(self) -> list[Device]:
        """Every SMI record, by device ID."""

    @abstractmethod
    async def hub_statuses(self) -> list[HubStatus]:
        """The status last taken for each comms hub that has one, by hub ID (D-E1)."""

    @abstractmethod
    async def claim_outbox(
        self, worker: str, now: float, stale_before: float, *, own: bool = False
    ) -> list[Outgoing]:
        """Outbox messages (D-W2) whose lease ran out before `stale_before` (their worker
        died or lost the broker), and with `own` those leased to `worker` (a worker
        starting again under its old name): leased to `worker` from `now`, in the order
        they were committed, up to a page of them. Two workers never claim the same row
        at once."""

    @abstractmethod
    async def outbox_done(self, message_ids: Collection[str]) -> None:
        """Forget outbox messages the broker has acknowledged."""

    @abstractmethod
    async def share_horizon(
        self, worker: str, horizon: datetime, now: float, stale_before: float
    ) -> datetime:
        """Record `worker`'s tick horizon (D-W4) as reported at wall time `now`; return
        the earliest horizon of the workers that reported at or after `stale_before`,
        `worker`'s own included."""

    @abstractmethod
    async def horizon_of(self, worker: str) -> datetime | None:
        """The horizon `worker` last reported (in an earlier life), if any."""

    @abstractmethod
    async def add_dead_letter(self, letter: DeadLetter) -> None:
        """Keep a bus message the DSP could not handle (D-P1), in a transaction of its own."""

    @abstractmethod
    async def dead_letters(self) -> list[DeadLetter]:
        """The dead letters, oldest first."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
