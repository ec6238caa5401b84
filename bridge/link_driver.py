"""A rig-link session on asyncio: the one place that gives it the time.

`SessionDriver` feeds the session what a transport reads, writes what the session says
to whatever transport is attached (nothing while none is), ticks it when it is due, and
hands every other action (frames delivered, messages acknowledged, link up and down) to
a handler. The bridge's serial port and the rig simulator's pty both sit on one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from bus.waiting import first_of

from .framing import FrameType
from .session import RigSession, SessionAction, Write

Handler = Callable[[SessionAction], None]
Writer = Callable[[bytes], None]


class SessionDriver:
    __slots__ = ("_handler", "_wake", "_writer", "session")

    def __init__(self, session: RigSession, handler: Handler) -> None:
        self.session = session
        self._handler = handler
        self._writer: Writer | None = None
        self._wake = asyncio.Event()

    @property
    def attached(self) -> bool:
        return self._writer is not None

    def attach(self, writer: Writer) -> None:
        """A transport opened: the session starts syncing on it."""
        self._writer = writer
        self._do(self.session.open(self._now()))

    def detach(self, reason: str) -> None:
        """The transport closed; what is queued waits for the next one."""
        self._writer = None
        self._do(self.session.close(self._now(), reason))

    def restart(self, session: RigSession, reason: str) -> None:
        """Carry on with a new session (a restart: the old one's state is gone)."""
        writer = self._writer
        if writer is not None:
            self.detach(reason)
        self.session = session
        if writer is not None:
            self.attach(writer)
        self._wake.set()

    def data(self, data: bytes) -> None:
        if self._writer is not None:
            self._do(self.session.receive(data, self._now()))

    def send(self, kind: FrameType, payloads: Sequence[bytes], tag: object = None) -> None:
        self._do(self.session.send(kind, payloads, self._now(), tag))

    async def run(self, stop: asyncio.Event) -> None:
        """Tick the session whenever it is due, until `stop`."""
        while not stop.is_set():
            self._wake.clear()
            due = self.session.next_due()
            delay = None if due is None else max(0.0, due - self._now())
            await first_of(asyncio.wait_for(self._wake.wait(), delay), stop.wait())
            due = self.session.next_due()
            if due is not None and due <= self._now():
                self._do(self.session.on_tick(self._now()))

    def _do(self, actions: list[SessionAction]) -> None:
        for action in actions:
            if isinstance(action, Write):
                if self._writer is not None:
                    self._writer(action.data)
            else:
                self._handler(action)
        self._wake.set()

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()
