"""The store interface the core's driver uses."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TypeVar

from dsp_core.model import CplEntry, Device, JournalEntry, Registration, User
from dsp_core.state import Scope, State

T = TypeVar("T")


class Store(ABC):
    @abstractmethod
    async def apply(self, scope: Scope, decide: Callable[[State], T]) -> T:
        """One event's transaction: load what `scope` names into a `State`, call
        `decide` on it, commit every change it made together (an SMI change and the
        alerts it causes) and return what `decide` returned. When `decide` raises,
        nothing is committed. Calls are serialised per store."""

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

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
