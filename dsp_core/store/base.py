"""The store interface the core's driver uses."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager

from dsp_core.model import CplEntry, Device, JournalEntry, Registration, User
from dsp_core.state import Scope, State


class Store(ABC):
    @abstractmethod
    def transaction(self, scope: Scope) -> AbstractAsyncContextManager[State]:
        """A `State` holding what `scope` names; its changes are committed together
        (an SMI change and the alerts it causes in one transaction) when the block
        ends without an exception."""

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
