"""The bus half of a bridge: a physical comms hub's end of `{root}/ch/{ch_id}/...`,
the same for the serial and the ZigBee bridge (DESIGN §1, §3; docs/rig-link.md §6).

`HubEndpoint` takes the hub's messages off the bus and routes them by topic to the
bridge's handlers (`.../down`, and `.../power` or the clock), refusing, with one log
line and an acknowledgement, whatever is not its own; remembers the commands taken
(`CommandLedger`) so that one the broker sends again is carried once and acknowledged
only when done; publishes what the hub sends up; and keeps the hub's status retained on
`.../status`. Its MQTT link carries a last will, so a bridge that dies takes its hub
offline (D-E5). The bridge's other half talks to the hardware.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from bus.adapter import BusMessage, LastWill, LinkConfig, MqttAdapter
from contract.errors import TopicError
from contract.hub_status import HubStatusReport
from contract.ids import check_eui64
from contract.topics import TopicKind, Topics

from .ledger import CommandLedger, Taken

log = logging.getLogger(__name__)

LOST = "the bridge's connection to the broker ended without a goodbye (its last will)"


class StatusView(Protocol):
    """What a bridge knows of its hub: a frozen dataclass with an `at` field."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def at(self) -> datetime: ...

    def report(self) -> HubStatusReport: ...


S = TypeVar("S", bound=StatusView)
Handler = Callable[[BusMessage], None]


def hub_lost_will(topics: Topics, ch_id: str) -> LastWill:
    """Retained on the hub's status topic: the broker marks the hub offline when the
    bridge's connection ends without a DISCONNECT (the process killed, its host gone),
    so the DSP answers a new request E20 at once instead of waiting for E21. A bridge
    that stops cleanly publishes its own last status and the broker drops the will."""
    report = HubStatusReport(ch_id, online=False, reason=LOST, link="lost")
    return LastWill(topics.ch_status(ch_id), report.to_json())


def hub_link(
    url: str,
    topics: Topics,
    ch_id: str,
    client_id: str,
    *,
    subscriptions: tuple[str, ...],
    mqtt_version: str = "auto",
) -> LinkConfig:
    """A bridge's MQTT connection: its subscriptions and its hub's last will."""
    will = hub_lost_will(topics, ch_id)
    return LinkConfig(url, client_id, subscriptions, mqtt_version=mqtt_version, will=will)


class HubEndpoint(Generic[S]):
    """One comms hub's topics, for the bridge that owns it."""

    def __init__(
        self,
        ch_id: str,
        bus: MqttAdapter,
        topics: Topics,
        *,
        status: S,
        routes: Mapping[TopicKind, Handler],
        remembered: int = 4096,
    ) -> None:
        self.ch_id = check_eui64(ch_id, "comms hub ID")
        self.bus = bus
        self.topics = topics
        self.status = status
        self.routes = routes
        self.ledger = CommandLedger(remembered)
        self.counts: Counter[str] = Counter()
        self.changed = asyncio.Event()  # set at each status change

    async def consume(self, stop: asyncio.Event) -> None:
        while (message := await self.bus.next_message(stop)) is not None:
            self.handle(message)

    def handle(self, message: BusMessage) -> None:
        try:
            route = self.topics.parse(message.topic)
        except TopicError as exc:
            self.refuse(message, str(exc))
            return
        handler = self.routes.get(route.kind)
        if handler is None or route.entity not in (None, self.ch_id):
            self.refuse(message, f"the bridge of hub {self.ch_id} does not take it")
            return
        try:
            handler(message)
        except Exception as exc:  # a poison message must not end the bridge (issue 18)
            self.refuse(message, f"could not be handled: {type(exc).__name__}: {exc}")

    def refuse(self, message: BusMessage, reason: str) -> None:
        """A message this hub cannot carry: one log line, acknowledged, counted."""
        self.counts["refused"] += 1
        log.warning("bridge %s: refused a message on %s: %s", self.ch_id, message.topic, reason)
        self.bus.ack(message)

    # ---- commands: taken once, acknowledged when done ---------------------------------

    def take(self, message: BusMessage) -> bytes | None:
        """The command's digest if it is new; None for one the broker sent again (then
        acknowledged here if it was already done)."""
        taken, digest = self.ledger.take(message)
        if taken is not Taken.NEW:
            self.counts["redelivered"] += 1
            if taken is Taken.DONE:
                self.bus.ack(message)
            return None
        self.counts["commands"] += 1
        return digest

    def finished(self, digest: bytes) -> None:
        """Everything the command with `digest` caused is done: acknowledge it."""
        for message in self.ledger.finished(digest):
            self.bus.ack(message)

    def uplink(self, data: bytes) -> None:
        """GBCS from the hub's devices, on `.../up`."""
        self.counts["uplinks"] += 1
        self.bus.publish(self.topics.ch_up(self.ch_id), data)

    # ---- status -----------------------------------------------------------------------

    def set_status(self, **changes: Any) -> None:
        self.status = replace(self.status, at=datetime.now(UTC), **changes)
        self.publish_status()
        self.changed.set()

    def publish_status(self) -> None:
        report = self.status.report().to_json()
        self.bus.publish(self.topics.ch_status(self.ch_id), report, retain=True)
