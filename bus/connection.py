"""When an MQTT link tries to connect, with which MQTT version, and what it says about
it (sans-IO: the adapter reports what happened, `ConnectPlan` decides; the RNG is given).

- Every attempt after the first waits a back-off delay (exponential, capped, jittered),
  whatever happened: a closed port is not tried thousands of times a second.
- `auto` starts with MQTT 5. A broker that refuses it as an unsupported version, or that
  takes the connection and never answers the CONNECT (amqtt 0.12 stalls on MQTT 5
  properties), is spoken to in 3.1.1 from then on, for as long as it stays up. Once it
  has gone (the connection lost, the port closed), MQTT 5 is tried first again: a broker
  that comes back upgraded gets shared subscriptions.
- One log line per change of state: connected, lost, the first failure of a kind; the
  same failure again is only debug.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from .backoff import Backoff

V5 = "5"
V311 = "3.1.1"
VERSIONS = frozenset({"auto", V5, V311})


class Failure(StrEnum):
    UNREACHABLE = "unreachable"  # no TCP connection (closed port, no route, no name)
    NO_CONNACK = "no CONNACK"  # connected, and the CONNECT was never answered
    PROTOCOL_REFUSED = "protocol refused"  # CONNACK: unsupported protocol version
    REFUSED = "refused"  # CONNACK: another reason (identifier, credentials, ...)
    LOST = "lost"  # an established connection ended


@dataclass(frozen=True, slots=True)
class Attempt:
    version: str  # "5" or "3.1.1"
    delay: float  # seconds to wait before it


@dataclass(frozen=True, slots=True)
class Say:
    """A line for the log: `level` is a `logging` level."""

    level: int
    text: str


class ConnectPlan:
    """The connection attempts of one link to one broker."""

    __slots__ = ("_backoff", "_delays", "_fell_back", "_first", "_last", "_rng", "wanted")

    def __init__(self, wanted: str, backoff: Backoff, rng: random.Random) -> None:
        if wanted not in VERSIONS:
            raise ValueError(f"mqtt_version {wanted!r}: use auto, 5 or 3.1.1")
        self.wanted = wanted
        self._backoff = backoff
        self._rng = rng
        self._delays: Iterator[float] = backoff.delays(rng)
        self._first = True
        self._fell_back = False  # this broker, while it stays up, takes only 3.1.1
        self._last: str | None = None  # the state last logged

    @property
    def version(self) -> str:
        if self.wanted != "auto":
            return self.wanted
        return V311 if self._fell_back else V5

    def next_attempt(self) -> Attempt:
        delay = 0.0 if self._first else next(self._delays)
        self._first = False
        return Attempt(self.version, delay)

    def connected(self, where: str) -> Say:
        self._delays = self._backoff.delays(self._rng)
        return self._say(logging.INFO, "connected", f"connected to {where} (MQTT {self.version})")

    def failed(self, failure: Failure, detail: str, where: str) -> list[Say]:
        said: list[Say] = []
        if failure in (Failure.UNREACHABLE, Failure.LOST):
            self._fell_back = False  # the broker has gone: when it is back, ask again
        elif self._can_fall_back(failure):
            self._fell_back = True
            text = f"{where} does not take MQTT 5 ({detail}); using 3.1.1"
            said.append(Say(logging.INFO, text))
            self._last = "fell back"
            return said
        if failure is Failure.LOST:
            said.append(self._say(logging.WARNING, "lost", f"connection to {where} lost: {detail}"))
        else:
            text = f"no connection to {where} ({failure}): {detail}; trying again"
            said.append(self._say(logging.WARNING, str(failure), text))
        return said

    def _can_fall_back(self, failure: Failure) -> bool:
        return (
            self.wanted == "auto"
            and not self._fell_back
            and failure in (Failure.PROTOCOL_REFUSED, Failure.NO_CONNACK)
        )

    def _say(self, level: int, state: str, text: str) -> Say:
        if state == self._last:
            return Say(logging.DEBUG, text)
        self._last = state
        return Say(level, text)
