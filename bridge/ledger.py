"""Commands a bridge has taken from the bus, to acknowledge each one only when it is done
and to recognise one the broker sends again (docs/rig-link.md §6, docs/zigbee-bridge.md
§6). Identical bytes are the same command: the DSP's originator counters make every
command unique, so a message's SHA-256 names it."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from enum import StrEnum

from bus.adapter import BusMessage


class Taken(StrEnum):
    NEW = "new"  # carry it; acknowledge it when `finished`
    IN_FLIGHT = "in_flight"  # the same command is being carried: acknowledged with it
    DONE = "done"  # already carried: acknowledge it now, do nothing else


class CommandLedger:
    """Commands in flight (with every bus message that brought them) and the last
    `remembered` ones finished."""

    __slots__ = ("_finished", "_inflight", "remembered")

    def __init__(self, remembered: int = 4096) -> None:
        self.remembered = remembered
        self._inflight: dict[bytes, list[BusMessage]] = {}
        self._finished: OrderedDict[bytes, None] = OrderedDict()

    @staticmethod
    def digest(message: BusMessage) -> bytes:
        return hashlib.sha256(message.payload).digest()

    def take(self, message: BusMessage) -> tuple[Taken, bytes]:
        digest = self.digest(message)
        if digest in self._inflight:
            self._inflight[digest].append(message)
            return Taken.IN_FLIGHT, digest
        if digest in self._finished:
            return Taken.DONE, digest
        self._inflight[digest] = [message]
        return Taken.NEW, digest

    def finished(self, digest: bytes) -> list[BusMessage]:
        """The messages to acknowledge now that the command `digest` is done."""
        messages = self._inflight.pop(digest, [])
        self._finished[digest] = None
        while len(self._finished) > self.remembered:
            self._finished.popitem(last=False)
        return messages

    @property
    def in_flight(self) -> int:
        return len(self._inflight)
